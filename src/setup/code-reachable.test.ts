import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureCodeReachable } from './qemu-user.js';

test('setup: a checkout under a 0700 directory gets the search bit for others, nothing more', () => {
  const top = mkdtempSync(join(tmpdir(), 'nitride-reach-'));
  try {
    const home = join(top, 'home');
    const tree = join(home, 'nitride');
    mkdirSync(tree, { recursive: true, mode: 0o755 });
    chmodSync(home, 0o700);
    const said = ensureCodeReachable([tree]);
    if (process.getuid?.() === 0) {
      assert.match(said, new RegExp(`chmod o\\+x.*${home}`));
      assert.equal(statSync(home).mode & 0o777, 0o701, 'search only: no read, no write for others');
      assert.equal(ensureCodeReachable([tree]), 'the code is searchable by the component users', 'a second run changes nothing');
    } else {
      assert.match(said, /not searchable/);
      assert.equal(statSync(home).mode & 0o777, 0o700);
    }
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
