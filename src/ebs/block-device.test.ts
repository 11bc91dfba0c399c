import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlockDevice } from './block-device.js';
import { FileVolume } from './volume-store/file-volume.js';
import { createXtsCipher, type XtsImpl } from './xts/xts.js';

const MiB = 1024 * 1024;

async function withDevice(impl: XtsImpl | null, body: (d: BlockDevice, file: string, key: Buffer) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-bdev-'));
  const file = join(dir, 'vol');
  const key = randomBytes(64);
  let d: BlockDevice | undefined;
  try {
    d = new BlockDevice(await FileVolume.open(file, { create: 4 * MiB }), impl ? createXtsCipher(key, impl) : null);
    await body(d, file, key);
  } finally {
    await d?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

for (const impl of ['native', 'node', null] as Array<XtsImpl | null>) {
  const label = impl ?? 'plain';
  test(`${label}: random unaligned writes and reads match a model`, async () => {
    await withDevice(impl, async (d) => {
      const model = Buffer.alloc(4 * MiB);
      let seed = 7;
      const rnd = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      for (let i = 0; i < 60; i++) {
        const len = 1 + rnd(20_000);
        const pos = rnd(4 * MiB - len);
        const data = randomBytes(len);
        data.copy(model, pos);
        await d.write(Buffer.from(data), 0, len, pos, i % 7 === 0);
        if (i % 5 === 0) {
          const z = rnd(30_000);
          const zp = rnd(4 * MiB - z);
          model.fill(0, zp, zp + z);
          if (i % 2) await d.trim(zp, z);
          else await d.writeZeroes(zp, z, { noHole: i % 3 === 0 });
        }
      }
      const out = Buffer.alloc(4 * MiB);
      await d.read(out, 0, out.length, 0);
      assert.ok(out.equals(model));
      const part = Buffer.alloc(5000);
      await d.read(part, 0, 5000, 123_457);
      assert.ok(part.equals(model.subarray(123_457, 128_457)));
    });
  });

  test(`${label}: concurrent unaligned writes into the same sectors are serialized (no lost update)`, async () => {
    await withDevice(impl, async (d) => {
      // 64 writers each own 64 bytes of the same two sectors; all run at once.
      await Promise.all(Array.from({ length: 64 }, (_, i) => d.write(Buffer.alloc(64, i + 1), 0, 64, 4000 + i * 64)));
      const out = Buffer.alloc(64 * 64);
      await d.read(out, 0, out.length, 4000);
      for (let i = 0; i < 64; i++) assert.ok(out.subarray(i * 64, (i + 1) * 64).equals(Buffer.alloc(64, i + 1)), `writer ${i}`);
    });
  });
}

test('encrypted: the backing file holds no plaintext; bounds and read-only give the right codes', async () => {
  await withDevice('native', async (d, file) => {
    const pattern = Buffer.alloc(64 * 1024, 'NITRIDE-PLAINTEXT-');
    await d.write(Buffer.from(pattern), 0, pattern.length, 8192);
    await d.flush();
    const raw = await readFile(file);
    assert.equal(raw.indexOf('NITRIDE-PLAINTEXT-'), -1);
    await assert.rejects(d.write(Buffer.alloc(10), 0, 10, 4 * MiB - 5), { code: 'EBS_NO_SPACE' });
    await assert.rejects(d.read(Buffer.alloc(10), 0, 10, 4 * MiB - 5), { code: 'EBS_OUT_OF_RANGE' });
    await assert.rejects(d.writeZeroes(0, 4096, { noHole: true, fastOnly: true }), { code: 'EBS_NOT_SUPPORTED' });
  });
  const dir = await mkdtemp(join(tmpdir(), 'nitride-bdev-'));
  try {
    const f = join(dir, 'v');
    await (await FileVolume.open(f, { create: MiB })).close();
    const ro = new BlockDevice(await FileVolume.open(f, { readOnly: true }), createXtsCipher(randomBytes(64)));
    await assert.rejects(ro.write(Buffer.alloc(10), 0, 10, 0), { code: 'EBS_READ_ONLY' });
    await assert.rejects(ro.trim(0, 4096), { code: 'EBS_READ_ONLY' });
    await ro.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
