// The debian-12 image end to end, with plain QEMU (not through Nitride): built into the shared
// image cache (or found there, verified), accepted by the inspector with NVMe and virtio-net
// found, detected as corrupt after one changed byte and rebuilt from the cached debootstrap
// tree by two concurrent builders (one lock) to the same sha256, and booted once under
// TCG from an NVMe drive with SeaBIOS to the kernel's root mount and systemd. cloud-init is
// not waited for (no IMDS here). The disk is opened with snapshot=on, so the cached file is
// never written.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { buildDebianImage, findDebianImage } from '../../src/image/debian/build-debian.js';
import { isNitrideError } from '../../src/lib/errors.js';
import { inspectDisk } from '../../src/image/inspect/inspect-disk.js';

const work = mkdtempSync(join(tmpdir(), 'nitride-debian-vm-'));
after(() => rmSync(work, { recursive: true, force: true }));

function log(line: string): void {
  process.stderr.write(`[debian-image] ${line}\n`);
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '');

test('debian-12: build or find, inspect, corrupt and rebuild to the same hash, boot from NVMe with SeaBIOS', { timeout: 30 * 60_000 }, async () => {
  const t0 = Date.now();
  const first = await buildDebianImage({ say: (l) => log(`build: ${l}`) });
  log(`image ${first.manifest.version} ready after ${((Date.now() - t0) / 1000).toFixed(0)} s: ${first.path}`);
  assert.ok(existsSync(first.path));
  assert.equal(first.manifest.disk.virtualBytes, 2 * 1024 * 1024 * 1024);
  assert.ok(first.manifest.disk.allocatedBytes < 1024 * 1024 * 1024, 'sparse');
  for (const p of ['cloud-init', 'openssh-server', 'linux-image-cloud-amd64', 'python3-cffi-backend', 'grub-efi-amd64-bin', 'grub-pc-bin']) {
    assert.ok(first.manifest.packages[p], `manifest lists ${p}`);
  }

  // Inspection without booting: accepted, NVMe built in, virtio-net a module on the root.
  const r = await inspectDisk(first.path);
  assert.deepEqual(r.verdict, { ok: true, problems: [] });
  assert.equal(r.os?.versionId, '12');
  assert.deepEqual(r.bootModes, ['legacy-bios', 'uefi']);
  assert.equal(r.kernels.length, 1);
  assert.equal(r.kernels[0]?.release, first.manifest.kernel.release);
  assert.equal(r.kernels[0]?.nvme, 'builtin');
  assert.equal(r.kernels[0]?.virtioNet, 'rootfs-module');
  assert.equal(r.partitions.find((p) => p.holds.includes('root'))?.fs.uuid, first.manifest.rootFsUuid);
  log(`inspection took ${r.elapsedMs} ms`);

  // A corrupt cached disk is detected and rebuilt from the cached debootstrap tree, by one of
  // two concurrent builders (the other waits for the lock and finds it built), and the same
  // inputs give the same disk: the sha256 is the one from before.
  const fd = openSync(first.path, 'r+');
  writeSync(fd, Buffer.from('corrupt'), 0, 7, 100 * 1024 * 1024);
  closeSync(fd);
  await assert.rejects(findDebianImage(), (e: unknown) => isNitrideError(e) && e.code === 'ImageCorrupt');
  const t1 = Date.now();
  const linesA: string[] = [];
  const linesB: string[] = [];
  const [a, b] = await Promise.all([
    buildDebianImage({ say: (l) => linesA.push(l) }),
    buildDebianImage({ say: (l) => linesB.push(l) }),
  ]);
  log(`rebuild took ${((Date.now() - t1) / 1000).toFixed(0)} s`);
  for (const l of [...linesA, ...linesB]) log(`rebuild: ${l}`);
  const all = [...linesA, ...linesB].join('\n');
  assert.match(all, /the cached disk is unusable and will be rebuilt: ImageCorrupt/);
  assert.match(all, /present \(built by another process/);
  assert.equal(a.manifest.version, first.manifest.version);
  assert.equal(a.sha256, first.sha256, 'a rebuild from the same debootstrap tree gives a bit-identical disk');
  assert.equal(b.sha256, first.sha256);
  const again = a;

  // One boot under TCG: SeaBIOS (QEMU's default bios-256k.bin; the 128 KiB bios.bin has no NVMe
  // driver) → GRUB from the MBR gap → kernel → root on nvme0n1p2 → systemd.
  const consolePath = join(work, 'console.log');
  const args = [
    '-machine', 'q35', '-accel', 'tcg', '-smp', '2', '-m', '1024',
    '-display', 'none', '-nic', 'none', '-monitor', 'none', '-no-reboot',
    '-serial', `file:${consolePath}`,
    '-drive', `file=${again.path},if=none,id=root,format=raw,snapshot=on`,
    '-device', 'nvme,drive=root,serial=nitride-root',
  ];
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  qemu.stderr.on('data', (b: Buffer) => {
    qemuErr += b.toString();
  });
  let exited: number | null | undefined;
  qemu.on('exit', (code) => {
    exited = code;
  });
  const start = Date.now();
  const milestones: [string, RegExp][] = [
    ['grub', /Loading Linux /],
    ['kernel', /Linux version \S+-cloud-amd64/],
    ['root mounted', /EXT4-fs \(nvme0n1p2\): mounted filesystem/],
    ['systemd', /Welcome to Debian GNU\/Linux 12/],
  ];
  const seen = new Map<string, number>();
  let text = '';
  try {
    const deadline = start + 5 * 60_000;
    while (seen.size < milestones.length) {
      if (exited !== undefined) assert.fail(`QEMU exited (${exited}) before systemd started: ${qemuErr}`);
      if (Date.now() > deadline) assert.fail(`no ${milestones.find(([n]) => !seen.has(n))?.[0]} within 5 minutes`);
      text = existsSync(consolePath) ? stripAnsi(readFileSync(consolePath, 'utf8')) : '';
      for (const [name, re] of milestones) if (!seen.has(name) && re.test(text)) seen.set(name, Date.now() - start);
      await sleep(250);
    }
    assert.doesNotMatch(text, /Gave up waiting for root|ALERT!|Kernel panic/);
    log(`boot milestones from QEMU start: ${milestones.map(([n]) => `${n} ${((seen.get(n) ?? 0) / 1000).toFixed(1)} s`).join(', ')}`);
  } catch (e) {
    process.stderr.write(`--- console ---\n${text.slice(-6000)}\n--- qemu stderr ---\n${qemuErr}\n`);
    throw e;
  } finally {
    if (exited === undefined) {
      qemu.kill('SIGKILL');
      await new Promise((res) => qemu.once('exit', res));
    }
  }
});
