import { mkdtemp, rm, stat } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runVolumeStoreConformance } from './conformance.js';
import { defaultEbsRoot, FileVolumeStore } from './file-store.js';

runVolumeStoreConformance('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-ebs-store-'));
  return { store: new FileVolumeStore(join(dir, 'ebs')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

test('file store: volumes live under NITRIDE_HOME/ebs/volumes as sparse 0600 files', async () => {
  const home = await mkdtemp(join(tmpdir(), 'nitride-ebs-home-'));
  try {
    const s = new FileVolumeStore(defaultEbsRoot({ NITRIDE_HOME: home }));
    await s.create('vol-1', 1024 ** 3);
    const p = s.pathOf('vol-1');
    assert.equal(p, join(home, 'ebs', 'volumes', 'vol-1.vol'));
    const st = await stat(p);
    assert.equal(st.size, 1024 ** 3);
    assert.ok(st.blocks * 512 < 1024 * 1024, 'a new volume allocates no data');
    assert.equal(st.mode & 0o777, 0o600);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
