import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { LZ4_LEGACY_MAGIC, compareReleases, extractVmlinux, findCloudKernel, hasPvhNote, lz4PayloadOf } from './kernel.js';

test('compareReleases orders Debian kernel releases numerically', () => {
  const r = ['6.1.0-9-cloud-amd64', '6.1.0-56-cloud-amd64', '6.1.0-10-cloud-amd64', '5.10.0-30-cloud-amd64'].sort(compareReleases);
  assert.deepEqual(r, ['5.10.0-30-cloud-amd64', '6.1.0-9-cloud-amd64', '6.1.0-10-cloud-amd64', '6.1.0-56-cloud-amd64']);
});

test('the installed cloud kernel yields a PVH vmlinux of the announced size', () => {
  const k = findCloudKernel(); // fails loudly when linux-image-cloud-amd64 is missing
  const bz = readFileSync(k.bzImagePath);
  const p = lz4PayloadOf(bz);
  assert.ok(p.stream.subarray(0, 4).equals(LZ4_LEGACY_MAGIC));
  assert.ok(p.uncompressedSize > bz.length);
  const elf = extractVmlinux(bz);
  assert.equal(elf.length, p.uncompressedSize);
  assert.ok(hasPvhNote(elf));
  assert.equal(hasPvhNote(bz), false, 'a bzImage is not an ELF');
});

test('hasPvhNote rejects short or foreign input', () => {
  assert.equal(hasPvhNote(Buffer.alloc(0)), false);
  assert.equal(hasPvhNote(Buffer.alloc(4096)), false);
  const elfNoPhdrs = Buffer.alloc(64);
  elfNoPhdrs.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
  assert.equal(hasPvhNote(elfNoPhdrs), false);
});

test('lz4PayloadOf refuses a buffer without a boot header', () => {
  assert.throws(() => lz4PayloadOf(Buffer.alloc(1024)), { code: 'ImageKernelFormat' });
});

test('findCloudKernel names the package to install when nothing is there', () => {
  assert.throws(() => findCloudKernel('/nonexistent-boot'), { code: 'ImageKernelMissing', message: /linux-image-cloud-amd64/ });
});
