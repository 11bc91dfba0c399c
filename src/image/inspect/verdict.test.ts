// The verdict rules and the file-system probe (against a real mkfs.ext4).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { probeFs, PROBE_BYTES } from './protocol/fs-probe.js';
import { decide, defaultKernel, type KernelFacts, type VerdictFacts } from './verdict.js';

const k = (release: string, over: Partial<KernelFacts> = {}): KernelFacts => ({
  release,
  path: `/boot/vmlinuz-${release}`,
  nvme: 'builtin',
  nvmeDetail: 'built in',
  virtioNet: 'rootfs-module',
  virtioNetDetail: 'module',
  ...over,
});
const base: VerdictFacts = { partitionsFound: true, unsupportedFs: [], osFound: true, biosBoot: true, uefiBoot: false, kernels: [k('6.1.0-50-cloud-amd64')] };

test('accepted when nvme and virtio-net are reachable', () => {
  assert.deepEqual(decide(base), []);
  assert.deepEqual(decide({ ...base, kernels: [k('6.1.0-50-amd64', { nvme: 'initramfs' })] }), []);
});

test('each missing piece gives its own code', () => {
  const codes = (f: VerdictFacts): string[] => decide(f).map((p) => p.code);
  assert.deepEqual(codes({ ...base, partitionsFound: false }), ['NoValidPartitions']);
  assert.deepEqual(codes({ ...base, osFound: false }), ['UnknownOS']);
  assert.deepEqual(codes({ ...base, osFound: false, unsupportedFs: [{ partition: 1, type: 'xfs' }] }), ['UnsupportedFileSystem']);
  assert.deepEqual(codes({ ...base, biosBoot: false }), ['NoBootablePartition']);
  assert.deepEqual(codes({ ...base, kernels: [] }), ['UnableToDetermineKernelVersion']);
  assert.deepEqual(codes({ ...base, kernels: [k('2.6.32-754.el6.x86_64')] }), ['UnsupportedKernelVersion']);
  assert.deepEqual(codes({ ...base, kernels: [k('6.1.0-50-amd64', { nvme: 'rootfs-module' })] }), ['MissingNvmeDriver']);
  assert.deepEqual(codes({ ...base, kernels: [k('6.1.0-50-amd64', { nvme: 'absent', virtioNet: 'absent' })] }), ['MissingNvmeDriver', 'MissingVirtioNetDriver']);
  const p = decide({ ...base, kernels: [k('6.1.0-50-amd64', { nvme: 'absent', nvmeDetail: 'no nvme.ko anywhere' })] })[0];
  assert.equal(p?.statusMessage, 'ClientError: Unable to find an initramfs containing the nvme driver for kernel 6.1.0-50-amd64.');
  assert.equal(p?.detail, 'no nvme.ko anywhere');
});

test('the default kernel is the newest release, numerically', () => {
  assert.equal(defaultKernel([k('6.1.0-9-amd64'), k('6.1.0-10-amd64'), k('5.10.0-30-amd64')])?.release, '6.1.0-10-amd64');
});

test('fs probe: ext4 made by mkfs.ext4 with its UUID and label; zeros are unknown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-probe-'));
  try {
    const img = join(dir, 'fs.img');
    const fd = openSync(img, 'w');
    ftruncateSync(fd, 8 * 1024 * 1024);
    closeSync(fd);
    const r = spawnSync('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-U', '0a1b2c3d-1111-4222-8333-444455556666', img]);
    assert.equal(r.status, 0, 'mkfs.ext4 (e2fsprogs) must be installed');
    const head = Buffer.alloc(PROBE_BYTES);
    const fd2 = openSync(img, 'r');
    readSync(fd2, head, 0, head.length, 0);
    closeSync(fd2);
    const p = probeFs(head);
    assert.equal(p.type, 'ext4');
    assert.equal(p.uuid, '0a1b2c3d-1111-4222-8333-444455556666');
    assert.equal(p.label, 'rootfs');
    assert.ok(p.features?.includes('extents'));
    assert.deepEqual(probeFs(Buffer.alloc(PROBE_BYTES)), { type: 'unknown' });
    const xfs = Buffer.alloc(PROBE_BYTES);
    xfs.write('XFSB', 0, 'latin1');
    assert.equal(probeFs(xfs).type, 'xfs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
