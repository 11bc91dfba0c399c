// The conformance suite every VolumeStore backend runs (one suite per interface, run
// against every implementation). `make` gives a fresh, empty store and a cleanup.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { VolumeStore } from './types.js';

export interface StoreFixture {
  readonly store: VolumeStore;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

async function readAll(store: VolumeStore, id: string): Promise<Buffer> {
  const h = await store.open(id, { readOnly: true });
  try {
    const b = Buffer.alloc(h.size());
    await h.read(b, 0, b.length, 0);
    return b;
  } finally {
    await h.close();
  }
}

export function runVolumeStoreConformance(name: string, make: () => Promise<StoreFixture>): void {
  const withStore = (title: string, body: (s: VolumeStore) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const f = await make();
      try {
        await body(f.store);
      } finally {
        await f.cleanup();
      }
    });
  };

  withStore('create, open, size; unwritten bytes read as zeros', async (s) => {
    await s.create('vol-a', 4 * MiB);
    const h = await s.open('vol-a');
    try {
      assert.equal(h.size(), 4 * MiB);
      const b = Buffer.alloc(8192, 0xff);
      await h.read(b, 0, b.length, 4 * MiB - 8192);
      assert.ok(b.equals(Buffer.alloc(8192)));
    } finally {
      await h.close();
    }
  });

  withStore('bad ids, bad sizes, duplicates and missing volumes are refused with stable codes', async (s) => {
    await assert.rejects(s.create('../x', MiB), { code: 'EBS_BAD_REQUEST' });
    await assert.rejects(s.create('v', 1000), { code: 'EBS_BAD_REQUEST' });
    await assert.rejects(s.create('v', 0), { code: 'EBS_BAD_REQUEST' });
    await s.create('v', MiB);
    await assert.rejects(s.create('v', MiB), { code: 'EBS_VOLUME_EXISTS' });
    await assert.rejects(s.open('nope'), { code: 'EBS_VOLUME_NOT_FOUND' });
    await assert.rejects(s.delete('nope'), { code: 'EBS_VOLUME_NOT_FOUND' });
    await assert.rejects(s.snapshot('nope', 'snap-1'), { code: 'EBS_VOLUME_NOT_FOUND' });
    await assert.rejects(s.createFromSnapshot('v2', 'nope'), { code: 'EBS_SNAPSHOT_NOT_FOUND' });
  });

  withStore('write/read at unaligned positions, out of range refused, read-only refuses writes', async (s) => {
    await s.create('v', MiB);
    const h = await s.open('v');
    const data = randomBytes(10_000);
    await h.write(data, 0, data.length, 12_345);
    const b = Buffer.alloc(10_000);
    await h.read(b, 0, b.length, 12_345);
    assert.ok(b.equals(data));
    await assert.rejects(h.write(data, 0, 10, MiB - 5), { code: 'EBS_OUT_OF_RANGE' });
    await assert.rejects(h.read(b, 0, 10, MiB), { code: 'EBS_OUT_OF_RANGE' });
    await h.flush();
    await h.close();
    const ro = await s.open('v', { readOnly: true });
    assert.equal(ro.readOnly, true);
    await assert.rejects(ro.write(data, 0, 10, 0), { code: 'EBS_READ_ONLY' });
    await ro.close();
  });

  withStore('trim makes a range read as zeros and allocation reports it', async (s) => {
    await s.create('v', 2 * MiB);
    const h = await s.open('v');
    try {
      const data = randomBytes(MiB);
      await h.write(data, 0, data.length, 0);
      await h.trim(64 * 1024, 128 * 1024);
      const b = Buffer.alloc(MiB);
      await h.read(b, 0, b.length, 0);
      assert.ok(b.subarray(64 * 1024, 192 * 1024).equals(Buffer.alloc(128 * 1024)));
      assert.ok(b.subarray(0, 64 * 1024).equals(data.subarray(0, 64 * 1024)));
      assert.ok(b.subarray(192 * 1024).equals(data.subarray(192 * 1024)));
      const ext = await h.allocation(0, 2 * MiB);
      assert.equal(ext[0]?.offset, 0);
      assert.equal(
        ext.reduce((n, e) => n + e.length, 0),
        2 * MiB,
      );
      for (let i = 1; i < ext.length; i++) assert.equal(ext[i]?.offset, (ext[i - 1]?.offset ?? 0) + (ext[i - 1]?.length ?? 0));
      // No extent reported as a hole may hold data.
      for (const e of ext) if (e.hole) assert.ok(e.offset >= MiB || (e.offset >= 64 * 1024 && e.offset + e.length <= 192 * 1024));
    } finally {
      await h.close();
    }
  });

  withStore('resize grows (new space reads as zeros) and never shrinks', async (s) => {
    await s.create('v', MiB);
    const h = await s.open('v');
    await h.resize(3 * MiB);
    assert.equal(h.size(), 3 * MiB);
    await assert.rejects(h.resize(MiB), { code: 'EBS_BAD_REQUEST' });
    await h.close();
    assert.equal((await s.list()).find((v) => v.id === 'v')?.sizeBytes, 3 * MiB);
    assert.ok((await readAll(s, 'v')).equals(Buffer.alloc(3 * MiB)));
  });

  withStore('snapshot is a point-in-time copy; volumes from snapshots; list; delete', async (s) => {
    await s.create('v', MiB);
    const h = await s.open('v');
    const a = randomBytes(MiB);
    await h.write(a, 0, a.length, 0);
    const info = await s.snapshot('v', 'snap-1');
    assert.equal(info.sizeBytes, MiB);
    await assert.rejects(s.snapshot('v', 'snap-1'), { code: 'EBS_SNAPSHOT_EXISTS' });
    const b = randomBytes(MiB);
    await h.write(b, 0, b.length, 0);
    await assert.rejects(s.delete('v'), { code: 'EBS_VOLUME_IN_USE' });
    await h.close();
    await s.createFromSnapshot('w', 'snap-1', 2 * MiB);
    const w = await readAll(s, 'w');
    assert.equal(w.length, 2 * MiB);
    assert.ok(w.subarray(0, MiB).equals(a));
    assert.ok(w.subarray(MiB).equals(Buffer.alloc(MiB)));
    assert.ok((await readAll(s, 'v')).equals(b));
    await assert.rejects(s.createFromSnapshot('x', 'snap-1', MiB / 2), { code: 'EBS_BAD_REQUEST' });
    const sh = await s.openSnapshot('snap-1');
    const sb = Buffer.alloc(MiB);
    await sh.read(sb, 0, MiB, 0);
    assert.ok(sb.equals(a));
    await sh.close();
    assert.deepEqual(
      (await s.list()).map((v) => v.id),
      ['v', 'w'],
    );
    assert.deepEqual(
      (await s.listSnapshots()).map((v) => v.id),
      ['snap-1'],
    );
    await s.deleteSnapshot('snap-1');
    await s.delete('v');
    assert.deepEqual(
      (await s.list()).map((v) => v.id),
      ['w'],
    );
  });

  withStore('a snapshot taken during a stream of writes sees a prefix of them (crash-consistent)', async (s) => {
    await s.create('v', MiB);
    const h = await s.open('v');
    // 256 sequential 4 KiB writes, each sector i gets the byte (i+1); issued concurrently.
    const writes: Promise<void>[] = [];
    let snap: Promise<unknown> | undefined;
    for (let i = 0; i < 256; i++) {
      writes.push(h.write(Buffer.alloc(4096, i + 1), 0, 4096, i * 4096));
      if (i === 100) snap = s.snapshot('v', 'snap-mid');
    }
    await Promise.all(writes);
    await snap;
    await h.close();
    await s.createFromSnapshot('c', 'snap-mid');
    const c = await readAll(s, 'c');
    // Every sector is either fully old (zeros) or fully new; the first 101 writes were issued before the barrier.
    for (let i = 0; i < 256; i++) {
      const sec = c.subarray(i * 4096, (i + 1) * 4096);
      const v = sec[0] ?? 0;
      assert.ok(v === 0 || v === i + 1, `sector ${i}`);
      assert.ok(sec.equals(Buffer.alloc(4096, v)), `sector ${i} is torn`);
    }
  });
}
