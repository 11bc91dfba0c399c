// The initramfs reader on archives written by hand, by Nitride's own newc writer and by
// GNU cpio, including an uncompressed early archive followed by a zstd-compressed one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeNewc } from '../../cpio.js';
import { CpioFormatError, detectCompression, readCpioArchive, splitInitramfs } from './initramfs.js';

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** One newc entry, written out field by field. */
function entry(name: string, mode: number, data: string): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const head = `070701${hex8(1)}${hex8(mode)}${hex8(0)}${hex8(0)}${hex8(1)}${hex8(0)}${hex8(data.length)}${hex8(0)}${hex8(0)}${hex8(0)}${hex8(0)}${hex8(nameBytes.length)}${hex8(0)}`;
  const h = Buffer.concat([Buffer.from(head, 'latin1'), nameBytes]);
  const pad1 = Buffer.alloc((4 - (h.length % 4)) % 4);
  const d = Buffer.from(data);
  const pad2 = Buffer.alloc((4 - (d.length % 4)) % 4);
  return Buffer.concat([h, pad1, d, pad2]);
}

test('a hand-written newc archive lists its entries with kinds and sizes', () => {
  const a = Buffer.concat([entry('.', 0o040755, ''), entry('kernel', 0o040755, ''), entry('kernel/x86/microcode/GenuineIntel.bin', 0o100644, 'abcde'), entry('TRAILER!!!', 0, '')]);
  const { entries, end } = readCpioArchive(a, 0);
  assert.equal(end, a.length);
  assert.deepEqual(
    entries.map((e) => [e.name, e.kind, e.size]),
    [
      ['.', 'dir', 0],
      ['kernel', 'dir', 0],
      ['kernel/x86/microcode/GenuineIntel.bin', 'file', 5],
    ],
  );
});

test('early cpio + zero padding + zstd main archive: split, then the main one lists after zstd -d', () => {
  const early = Buffer.concat([entry('kernel', 0o040755, ''), entry('TRAILER!!!', 0, '')]);
  const main = encodeNewc([
    { type: 'dir', path: 'usr', mode: 0o755 },
    { type: 'dir', path: 'usr/lib', mode: 0o755 },
    { type: 'file', path: 'usr/lib/nvme.ko', mode: 0o644, data: Buffer.from('not really a module') },
    { type: 'symlink', path: 'lib', target: 'usr/lib' },
  ]);
  const z = spawnSync('zstd', ['-q', '-c'], { input: main });
  assert.equal(z.status, 0, 'zstd must be installed');
  const image = Buffer.concat([early, Buffer.alloc(512), z.stdout]);
  const parts = splitInitramfs(image);
  assert.equal(parts.length, 2);
  assert.equal(parts[0]?.kind, 'cpio');
  assert.deepEqual(parts[1], { kind: 'compressed', offset: early.length + 512, compression: 'zstd' });
  const inner = spawnSync('zstd', ['-dc'], { input: image.subarray(parts[1]!.offset) }).stdout;
  const listed = splitInitramfs(inner);
  assert.equal(listed[0]?.kind, 'cpio');
  assert.deepEqual(listed[0]?.kind === 'cpio' ? listed[0].entries.map((e) => [e.name, e.kind]) : [], [
    ['lib', 'symlink'],
    ['usr', 'dir'],
    ['usr/lib', 'dir'],
    ['usr/lib/nvme.ko', 'file'],
  ]);
});

test('compression magics are recognised', () => {
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8])), 'gzip');
  assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])), 'xz');
  assert.equal(detectCompression(Buffer.from('BZh9')), 'bzip2');
  assert.equal(detectCompression(Buffer.from('hello')), undefined);
});

test('truncated and corrupt archives give clean errors; random bytes never crash', () => {
  const a = Buffer.concat([entry('a', 0o100644, 'hello world'), entry('TRAILER!!!', 0, '')]);
  assert.throws(() => readCpioArchive(a.subarray(0, 120), 0), (e: unknown) => e instanceof CpioFormatError && e.code === 'TruncatedCpio');
  const bad = Buffer.from(a);
  bad.write('zz', 20, 'latin1');
  assert.throws(() => readCpioArchive(bad, 0), (e: unknown) => e instanceof CpioFormatError && e.code === 'BadCpioHeader');
  assert.throws(() => readCpioArchive(Buffer.from('070707 old binary'.padEnd(120)), 0), (e: unknown) => e instanceof CpioFormatError && e.code === 'BadCpioMagic');
  let seed = 7;
  for (let i = 0; i < 500; i++) {
    const b = Buffer.from(a);
    for (let j = 0; j < 6; j++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      b[seed % b.length] = seed & 0xff;
    }
    try {
      splitInitramfs(b);
    } catch (e) {
      assert.ok(e instanceof CpioFormatError, String(e));
    }
  }
});

test('an archive GNU cpio writes (newc and crc formats) lists the same names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-cpio-'));
  try {
    mkdirSync(join(dir, 'lib', 'modules'), { recursive: true });
    writeFileSync(join(dir, 'lib', 'modules', 'virtio_net.ko'), 'x'.repeat(1001));
    writeFileSync(join(dir, 'init'), '#!/bin/sh\n');
    for (const fmt of ['newc', 'crc']) {
      const r = spawnSync('sh', ['-c', `cd '${dir}' && find . | LC_ALL=C sort | cpio -o -H ${fmt} --quiet`], { maxBuffer: 1 << 20 });
      assert.equal(r.status, 0, `GNU cpio must be installed: ${r.stderr.toString()}`);
      const parts = splitInitramfs(r.stdout);
      assert.equal(parts.length, 1);
      const names = parts[0]?.kind === 'cpio' ? parts[0].entries.map((e) => e.name) : [];
      assert.deepEqual(names, ['.', 'init', 'lib', 'lib/modules', 'lib/modules/virtio_net.ko']);
      assert.equal(parts[0]?.kind === 'cpio' ? parts[0].entries.find((e) => e.name.endsWith('.ko'))?.size : 0, 1001);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
