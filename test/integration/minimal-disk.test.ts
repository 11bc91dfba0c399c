// The bootable nitride-minimal disk (src/image/minimal-disk.ts), inspected without booting:
// equal inputs give equal bytes; the MBR holds GRUB's boot code and two partitions (ext4 root,
// bootable; FAT ESP); the root holds the kernel, the initrd with /rootdisk-init appended and the
// serial-console grub.cfg; the ESP holds the removable-media UEFI loader. Real tools read it
// back: sfdisk, debugfs, mdir, cpio.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { imageCacheDir } from '../../src/lib/paths.js';
import { ensureImage } from '../../src/image/build.js';
import { ensureMinimalDisk, MARKER_OFFSET, MINIMAL_DISK_BYTES } from '../../src/image/minimal-disk.js';

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('minimal disk: reproducible, MBR with GRUB, ext4 root and ESP, readable without mounting', { timeout: 300_000 }, async () => {
  await ensureImage({ cacheDir: imageCacheDir() });
  const dirs = [mkdtempSync(join(tmpdir(), 'nitride-disk-a-')), mkdtempSync(join(tmpdir(), 'nitride-disk-b-'))];
  try {
    const disks = [];
    for (const d of dirs) {
      cpSync(join(imageCacheDir(), 'nitride-minimal'), join(d, 'nitride-minimal'), { recursive: true });
      disks.push(await ensureMinimalDisk({ cacheDir: d }));
    }
    const [a, b] = disks as [(typeof disks)[number], (typeof disks)[number]];
    assert.equal(a.sha256, b.sha256, 'two builds from the same inputs are bit-identical');
    assert.equal(a.sizeBytes, MINIMAL_DISK_BYTES);
    assert.equal(a.markerOffset, MARKER_OFFSET);

    const mbr = readFileSync(a.path).subarray(0, 512);
    assert.equal(mbr.readUInt16LE(510), 0xaa55);
    assert.ok(mbr.subarray(0, 440).equals(readFileSync('/usr/lib/grub/i386-pc/boot.img').subarray(0, 440)), "GRUB's boot.img is in the MBR");
    const pt = JSON.parse(run('sfdisk', ['--json', a.path])) as { partitiontable: { label: string; partitions: { start: number; size: number; type: string; bootable?: boolean }[] } };
    assert.equal(pt.partitiontable.label, 'dos');
    const [root, esp] = pt.partitiontable.partitions;
    assert.deepEqual([root?.start, root?.type, root?.bootable], [2048, '83', true]);
    assert.equal(esp?.type, 'ef');
    assert.ok(((esp!.start + esp!.size) * 512) <= MARKER_OFFSET, 'the marker area is outside every partition');

    const rootfs = `${a.path}?offset=${root!.start * 512}`;
    const ls = run('debugfs', ['-R', 'ls -p /boot', rootfs]);
    for (const f of ['vmlinuz', 'initrd.img', 'grub']) assert.ok(ls.includes(`/${f}/`), ls);
    const cfg = run('debugfs', ['-R', 'cat /boot/grub/grub.cfg', rootfs]);
    assert.match(cfg, /serial --unit=0/);
    assert.match(cfg, /linux \/boot\/vmlinuz rdinit=\/rootdisk-init console=ttyS0/);
    const work = mkdtempSync(join(tmpdir(), 'nitride-disk-x-'));
    try {
      run('debugfs', ['-R', `dump /boot/initrd.img ${join(work, 'initrd')}`, rootfs]);
      // nitride-minimal's archive, then a second newc archive with /rootdisk-init
      const initrd = readFileSync(join(work, 'initrd'));
      const minimal = readFileSync((await ensureImage({ cacheDir: imageCacheDir() })).initrd.path);
      assert.ok(initrd.subarray(0, minimal.length).equals(minimal), "the initrd starts with nitride-minimal's");
      const extra = initrd.subarray(minimal.length).toString('latin1');
      assert.ok(extra.startsWith('070701') && extra.includes('rootdisk-init\0') && extra.includes('exec /init'), extra.slice(0, 200));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    const efi = run('mdir', ['-i', `${a.path}@@${esp!.start * 512}`, '-b', '::/EFI/BOOT']);
    assert.match(efi, /BOOTX64\.EFI/i);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
