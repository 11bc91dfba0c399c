// The Debian recipe's pure parts: the dpkg status reader, the used-inode list from dumpe2fs
// (checked against a real mkfs.ext4), the files and scripts written into the tree, the layout.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostMirror, usedInodes } from './build-debian.js';
import { parseDpkgStatus } from './dpkg-status.js';
import { chrootScript, grubConfig, grubEarlyConfig, guestFiles } from './guest-files.js';
import { DEBIAN_PACKAGES, DISK_BYTES, ESP_SECTORS, ESP_START_SECTOR, KERNEL_CMDLINE, ROOT_FS_UUID, ROOT_SECTORS, ROOT_START_SECTOR, SECTOR } from './recipe.js';

test('dpkg status: installed packages only, sorted', () => {
  const text = [
    'Package: zstd\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.5.4+dfsg2-5\nDescription: x\n more',
    'Package: cloud-init\nStatus: install ok unpacked\nVersion: 22.4.2-1',
    'Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2',
    '',
  ].join('\n\n');
  assert.deepEqual(parseDpkgStatus(text), [
    { name: 'bash', version: '5.2.15-2+b2', arch: 'amd64' },
    { name: 'zstd', version: '1.5.4+dfsg2-5', arch: 'amd64' },
  ]);
});

test('usedInodes matches what mkfs.ext4 -d allocated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-inodes-'));
  try {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'a', 'b'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(tree, 'a', `f${i}`), `x${i}`);
    const img = join(dir, 'fs.img');
    const fd = openSync(img, 'w');
    ftruncateSync(fd, 16 * 1024 * 1024);
    closeSync(fd);
    const mk = spawnSync('mkfs.ext4', ['-q', '-F', '-d', tree, img]);
    assert.equal(mk.status, 0, 'mkfs.ext4 (e2fsprogs) must be installed');
    const dump = spawnSync('dumpe2fs', [img], { encoding: 'utf8' }).stdout;
    const used = usedInodes(dump);
    // root (2), lost+found (11), then a, a/b and 20 files from 12 on
    assert.deepEqual(used, [2, 11, ...Array.from({ length: 22 }, (_, i) => 12 + i)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the layout fits the disk, ESP then root last, 1 MiB aligned', () => {
  assert.equal(ESP_START_SECTOR, 2048);
  assert.equal(ROOT_START_SECTOR, ESP_START_SECTOR + ESP_SECTORS);
  assert.equal(ROOT_START_SECTOR % 2048, 0);
  assert.equal((ROOT_START_SECTOR + ROOT_SECTORS) * SECTOR, DISK_BYTES);
});

test('files, GRUB configs and the chroot script say what the notes require', () => {
  const files = new Map(guestFiles().map((f) => [f.path, f.text]));
  assert.match(files.get('etc/fstab') ?? '', new RegExp(`^UUID=${ROOT_FS_UUID} / ext4 `, 'm'));
  assert.match(files.get('etc/cloud/cloud.cfg.d/01_nitride.cfg') ?? '', /^locale: C\.UTF-8$/m);
  assert.match(files.get('etc/initramfs-tools/conf.d/nitride.conf') ?? '', /COMPRESS=zstd/);
  // no name server of the build host in the image (a guest waited ~40 s on it in init-local)
  assert.doesNotMatch(files.get('etc/resolv.conf') ?? 'missing', /nameserver/);
  // the lean first boot: no RSA host key, no grub-dpkg
  const lean = files.get('etc/cloud/cloud.cfg.d/02_nitride_lean.cfg') ?? '';
  assert.match(lean, /^ssh_genkeytypes: \[ed25519, ecdsa\]$/m);
  assert.match(lean, /^grub_dpkg:\n {2}enabled: false$/m);
  const cfg = grubConfig('6.1.0-1-cloud-amd64');
  assert.match(cfg, /^serial --unit=0 --speed=115200$/m);
  assert.match(cfg, /^set timeout=0$/m);
  assert.ok(cfg.includes(`linux /boot/vmlinuz-6.1.0-1-cloud-amd64 ${KERNEL_CMDLINE}`));
  assert.match(KERNEL_CMDLINE, /console=ttyS0/);
  assert.match(grubEarlyConfig(), new RegExp(`search --no-floppy --fs-uuid --set=root ${ROOT_FS_UUID}`));
  assert.doesNotMatch(grubEarlyConfig(), /configfile/, 'normal mode must read grub.cfg, or the serial terminal and timeout are ignored');
  const script = chrootScript('6.1.0-1-cloud-amd64');
  assert.match(script, /update-initramfs -c -k 6\.1\.0-1-cloud-amd64/);
  assert.match(script, /grub-mkimage -O i386-pc /);
  assert.match(script, /grub-mkimage -O x86_64-efi /);
  assert.match(script, /rm -f \/etc\/ssh\/ssh_host_\*/);
  assert.match(script, /: > \/etc\/machine-id/);
  assert.ok(DEBIAN_PACKAGES.includes('python3-cffi-backend'));
  assert.match(hostMirror(), /^https?:\/\//);
});
