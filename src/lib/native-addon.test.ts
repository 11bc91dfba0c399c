import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { addonFresh } from './native-addon.js';

test('an addon is fresh only when it exists and is newer than every source beside its binding.gyp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-addon-'));
  try {
    const out = join(dir, 'build', 'Release', 'x.node');
    writeFileSync(join(dir, 'x.c'), 'int x;');
    writeFileSync(join(dir, 'binding.gyp'), '{}');
    writeFileSync(join(dir, 'README'), 'not a source');
    assert.equal(addonFresh(dir, out), false, 'not built');
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(out, 'built');
    const t = Date.now() / 1000;
    for (const f of ['x.c', 'binding.gyp', 'README']) utimesSync(join(dir, f), t - 100, t - 100);
    utimesSync(out, t - 50, t - 50);
    assert.equal(addonFresh(dir, out), true);
    utimesSync(join(dir, 'README'), t, t);
    assert.equal(addonFresh(dir, out), true, 'a non-source file does not count');
    utimesSync(join(dir, 'x.c'), t, t);
    assert.equal(addonFresh(dir, out), false, 'a newer source makes it stale');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
