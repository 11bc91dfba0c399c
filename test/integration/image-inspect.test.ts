// inspectDisk and `nitride image check` on disks built here without debootstrap: a GPT disk
// whose ext4 root holds a kernel like Debian's generic one (nvme only as a module) and an
// initramfs without nvme.ko is refused with the precise error; the same disk with nvme in its
// initramfs but no virtio_net is refused for that; qcow2 input gives the same report; a blank
// disk has no valid partitions. Real tools build the disks: sfdisk, mkfs.ext4 -d, zstd, qemu-img.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { encodeNewc, type CpioEntry } from '../../src/image/cpio.js';
import { inspectDisk } from '../../src/image/inspect/inspect-disk.js';
import { distEntry } from '../../src/lib/paths.js';

const RELEASE = '6.1.0-99-amd64';
const MOD = `usr/lib/modules/${RELEASE}`;
const work = mkdtempSync(join(tmpdir(), 'nitride-inspect-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

function sh(cmd: string, args: string[], input?: Buffer | string): Buffer {
  const r = spawnSync(cmd, args, { input: input ?? '', maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (is it installed?): ${r.stderr?.toString() ?? String(r.error)}`);
  return r.stdout;
}

function put(root: string, rel: string, data: string | Buffer): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), data);
}

/** An initramfs like initramfs-tools makes: zstd-compressed newc, modules under usr/lib/modules/<release>. */
function initramfs(modules: readonly string[]): Buffer {
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const addDir = (p: string): void => {
    const parts = p.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ type: 'dir', path: d, mode: 0o755 });
      }
    }
  };
  addDir(`${MOD}/kernel`);
  addDir('scripts');
  entries.push({ type: 'file', path: 'init', mode: 0o755, data: Buffer.from('#!/bin/sh\n') });
  for (const m of modules) {
    addDir(dirname(`${MOD}/${m}`));
    entries.push({ type: 'file', path: `${MOD}/${m}`, mode: 0o644, data: Buffer.from(`fake ${m}`) });
  }
  return sh('zstd', ['-q', '-c'], encodeNewc(entries));
}

interface DiskSpec {
  readonly initramfsModules: readonly string[];
  readonly rootModules: readonly string[];
  /** Raw bytes for the initramfs instead of one made from initramfsModules. */
  readonly initramfsBytes?: Buffer;
}

/** A 64 MiB GPT disk: GRUB-like boot code in the MBR, one Linux partition at 1 MiB holding an ext4 root. */
function makeDisk(name: string, spec: DiskSpec): string {
  const tree = join(work, `${name}-tree`);
  put(tree, 'usr/lib/os-release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n');
  put(tree, 'etc/fstab', 'UUID=x / ext4 defaults 0 1\n');
  put(tree, `boot/vmlinuz-${RELEASE}`, Buffer.alloc(4096, 0x90));
  put(tree, `boot/config-${RELEASE}`, 'CONFIG_BLK_DEV_NVME=m\nCONFIG_VIRTIO_NET=m\n');
  put(tree, `boot/initrd.img-${RELEASE}`, spec.initramfsBytes ?? initramfs(spec.initramfsModules));
  // As in Debian's generic kernel: ext4, nvme and virtio_net are modules, not built in.
  put(tree, `${MOD}/modules.builtin`, 'kernel/drivers/base/firmware_loader/firmware_class.ko\nkernel/lib/crc32c.ko\n');
  put(tree, `${MOD}/modules.dep`, spec.rootModules.map((m) => `${m}:\n`).join(''));
  for (const m of spec.rootModules) put(tree, `${MOD}/${m}`, `fake ${m}`);
  const rootImg = join(work, `${name}-root.ext4`);
  const fd0 = openSync(rootImg, 'w');
  ftruncateSync(fd0, 48 * 1024 * 1024);
  closeSync(fd0);
  sh('mkfs.ext4', ['-q', '-F', '-d', tree, rootImg]);
  const disk = join(work, `${name}.raw`);
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, 64 * 1024 * 1024);
  closeSync(fd);
  sh('sfdisk', ['-q', disk], 'label: gpt\nstart=2048, size=98304, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n');
  const w = openSync(disk, 'r+');
  const code = Buffer.from('\xeb\x63\x90GRUB boot code stand-in', 'latin1');
  writeSync(w, code, 0, code.length, 0);
  closeSync(w);
  sh('dd', [`if=${rootImg}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
  return disk;
}

const NVME = ['kernel/drivers/nvme/host/nvme-core.ko', 'kernel/drivers/nvme/host/nvme.ko'];
const VIRTIO_NET = ['kernel/net/core/failover.ko', 'kernel/drivers/net/net_failover.ko', 'kernel/drivers/net/virtio_net.ko'];
const EXT4 = ['kernel/fs/ext4/ext4.ko', 'kernel/fs/jbd2/jbd2.ko', 'kernel/fs/mbcache.ko'];

test('nvme only as a module on the root, not in the initramfs: refused, naming what is missing', async () => {
  const disk = makeDisk('no-nvme', { initramfsModules: EXT4, rootModules: [...EXT4, ...NVME, ...VIRTIO_NET] });
  const r = await inspectDisk(disk);
  assert.equal(r.partitionTable.kind, 'gpt');
  assert.equal(r.os?.prettyName, 'Debian GNU/Linux 12 (bookworm)');
  assert.deepEqual(r.bootModes, ['legacy-bios']);
  assert.equal(r.kernels.length, 1);
  const k = r.kernels[0]!;
  assert.equal(k.release, RELEASE);
  assert.equal(k.nvme, 'rootfs-module');
  assert.equal(k.virtioNet, 'rootfs-module');
  // usr, usr/lib, usr/lib/modules, …/<release>, …/kernel, scripts, init, kernel/fs{,/ext4,/jbd2} and 3 modules
  assert.equal(k.initramfsEntries, 13);
  assert.equal(r.verdict.ok, false);
  assert.deepEqual(
    r.verdict.problems.map((p) => [p.code, p.statusMessage]),
    [['MissingNvmeDriver', `ClientError: Unable to find an initramfs containing the nvme driver for kernel ${RELEASE}.`]],
  );
  const d = r.verdict.problems[0]!.detail;
  assert.match(d, new RegExp(`nvme is not in /usr/lib/modules/${RELEASE}/modules\\.builtin`));
  assert.match(d, new RegExp(`/boot/initrd\\.img-${RELEASE} \\(\\d+ entries\\) has no nvme\\.ko`));
  assert.match(d, new RegExp(`only on the root file system, at /usr/lib/modules/${RELEASE}/kernel/drivers/nvme/host/nvme\\.ko`));

  // The CLI prints the same and exits 1.
  const cli = spawnSync(process.execPath, [distEntry('cli/main.js'), 'image', 'check', disk], { encoding: 'utf8' });
  assert.equal(cli.status, 1, cli.stderr);
  assert.match(cli.stdout, /partition table GPT/);
  assert.match(cli.stdout, /verdict\s+refused/);
  assert.match(cli.stdout, /MissingNvmeDriver: ClientError: Unable to find an initramfs containing the nvme driver/);
});

test('nvme in the initramfs but no virtio_net anywhere: refused for virtio-net only; qcow2 input reads the same', async () => {
  const disk = makeDisk('no-virtio-net', { initramfsModules: [...EXT4, ...NVME], rootModules: [...EXT4, ...NVME] });
  const r = await inspectDisk(disk);
  assert.equal(r.kernels[0]?.nvme, 'initramfs');
  assert.equal(r.kernels[0]?.virtioNet, 'absent');
  assert.deepEqual(
    r.verdict.problems.map((p) => p.code),
    ['MissingVirtioNetDriver'],
  );
  assert.match(r.verdict.problems[0]!.statusMessage, /^ClientError: Unable to find the virtio_net driver for kernel 6\.1\.0-99-amd64\.$/);
  const qcow2 = join(work, 'no-virtio-net.qcow2');
  sh('qemu-img', ['convert', '-O', 'qcow2', disk, qcow2]);
  const q = await inspectDisk(qcow2);
  assert.equal(q.format, 'qcow2');
  assert.equal(q.path, qcow2);
  assert.deepEqual(q.verdict, r.verdict);
  assert.deepEqual(q.partitions, r.partitions);
});

test('nvme and virtio_net both present: accepted', async () => {
  const disk = makeDisk('good', { initramfsModules: [...EXT4, ...NVME], rootModules: [...EXT4, ...NVME, ...VIRTIO_NET] });
  const r = await inspectDisk(disk);
  assert.deepEqual(r.verdict, { ok: true, problems: [] });
  const cli = spawnSync(process.execPath, [distEntry('cli/main.js'), 'image', 'check', disk, '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal((JSON.parse(cli.stdout) as { verdict: { ok: boolean } }).verdict.ok, true);
});

test('a compression bomb as initramfs is refused, not unpacked into memory', async () => {
  const bomb = sh('zstd', ['-q', '-c', '-1'], Buffer.alloc(600 * 1024 * 1024));
  assert.ok(bomb.length < 1024 * 1024);
  const disk = makeDisk('bomb', { initramfsModules: [], rootModules: [...NVME, ...VIRTIO_NET], initramfsBytes: bomb });
  await assert.rejects(inspectDisk(disk), (e: unknown) => (e as { code?: string }).code === 'ImageTooLarge' && /more than 512 MiB/.test((e as Error).message));
});

test('a blank disk has no valid partitions; a missing file is not found', async () => {
  const disk = join(work, 'blank.raw');
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, 8 * 1024 * 1024);
  closeSync(fd);
  const r = await inspectDisk(disk);
  assert.equal(r.partitionTable.kind, 'none');
  assert.deepEqual(
    r.verdict.problems.map((p) => [p.code, p.statusMessage]),
    [['NoValidPartitions', 'ClientError: No valid partitions found.']],
  );
  await assert.rejects(inspectDisk(join(work, 'nope.raw')), (e: unknown) => (e as { code?: string }).code === 'ImageNotFound');
});
