import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { digestFile, digestFileOnce } from './file-digest.js';

test('digestFile: sha256 and sha384 of one read equal node:crypto over the whole file; a changed file is read again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-digest-'));
  try {
    const p = join(dir, 'f');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7); // more than one buffer's worth
    writeFileSync(p, data);
    const want = { sha256: createHash('sha256').update(data).digest('hex'), sha384: createHash('sha384').update(data).digest('hex') };
    assert.deepEqual(await digestFile(p), want);
    assert.deepEqual(await digestFileOnce(p), want);
    writeFileSync(p, 'other bytes');
    assert.equal((await digestFileOnce(p)).sha256, createHash('sha256').update('other bytes').digest('hex'), 'a write changes the identity, so the file is read again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
