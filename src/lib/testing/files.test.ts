import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { filesHolding, filesUnder, findInFile } from './files.js';

test('filesUnder descends into subdirectories; findInFile finds a needle across a chunk boundary', () => {
  const d = mkdtempSync(join(tmpdir(), 'nitride-files-'));
  try {
    mkdirSync(join(d, 'a', 'b'), { recursive: true });
    writeFileSync(join(d, 'top'), 'x');
    const needle = Buffer.from('secret-needle-0123456789');
    const big = Buffer.alloc(8 * 1024 * 1024 + 100, 0x41);
    needle.copy(big, 8 * 1024 * 1024 - 10); // straddles the first chunk's end
    writeFileSync(join(d, 'a', 'b', 'deep'), big);
    assert.deepEqual(filesUnder(d).map((f) => f.slice(d.length + 1)).sort(), ['a/b/deep', 'top']);
    assert.ok(findInFile(join(d, 'a', 'b', 'deep'), [needle])?.equals(needle));
    assert.equal(findInFile(join(d, 'top'), [needle]), undefined);
    assert.deepEqual(filesHolding(d, [needle]), [join(d, 'a', 'b', 'deep')]);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
