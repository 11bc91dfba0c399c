import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runStoreConformance } from './conformance.js';
import { openStore, prefixEnd, SqliteStore } from './sqlite-store.js';

runStoreConformance('sqlite', {
  open: openStore,
  childModule: fileURLToPath(new URL('./sqlite-store.js', import.meta.url)),
});

describe('SqliteStore', () => {
  it('computes the byte range that covers a prefix', () => {
    assert.deepEqual(prefixEnd(Buffer.from('a/b')), Buffer.from('a/c'));
    assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
    assert.equal(prefixEnd(Buffer.from([0xff, 0xff])), undefined);
    assert.equal(prefixEnd(Buffer.alloc(0)), undefined);
  });

  it('runs in WAL mode and creates its directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nitride-sqlite-'));
    try {
      const s = await SqliteStore.open(join(dir, 'region', 'state.db'));
      await s.put('a', 1);
      assert.ok(statSync(join(dir, 'region', 'state.db-wal')).isFile());
      await s.close();
      await assert.rejects(s.get('a'), /closed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
