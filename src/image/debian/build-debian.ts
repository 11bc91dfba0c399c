// `nitride image build debian-12`: a Debian 12 cloud disk image built from Debian's packages,
// without loop devices or mounts, reproducibly, into the image cache.
//
// Two cached stages under <cache>/debian-12/:
//   debs/                 debootstrap's package cache (--cache-dir)
//   base-<key>/tree       the debootstrap tree (minbase, merged-usr, recipe.ts's packages);
//   base-<key>/base.json  its stamp: key, createdEpoch (SOURCE_DATE_EPOCH of every disk made
//                         from it), installed packages. The key hashes suite, mirror and packages.
//   <version>/disk.raw    the disk (MBR: ESP + ext4 root, GRUB for BIOS and UEFI), sparse
//   <version>/manifest.json
// The version hashes the base stamp, every file and script put into the tree, the layout
// and the versions of the host tools that write the disk. A disk build copies the base
// tree, configures the copy in a chroot, clamps every time stamp to createdEpoch, and
// writes the file systems with fixed UUIDs and seeds, so two builds from one base tree
// give the same bytes (the debootstrap tree itself is not reproducible). Builders take
// <cache>/debian-12/.build.lock; results appear by rename, so no one sees half a disk.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync, writeSync, ftruncateSync, utimesSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { imageCacheDir } from '../../lib/paths.js';
import { describeError } from '../../lib/errors.js';
import { withLock } from '../build.js';
import { ImageError } from '../errors.js';
import { parseDpkgStatus, type InstalledPackage } from './dpkg-status.js';
import { chrootScript, grubConfig, grubEarlyConfig, guestFiles } from './guest-files.js';
import {
  DEBIAN_IMAGE_NAME,
  DEBIAN_PACKAGES,
  DEBIAN_SUITE,
  DEFAULT_MIRROR,
  DISABLED_UNITS,
  DISK_BYTES,
  DISK_SIGNATURE,
  ESP_LABEL,
  ESP_SECTORS,
  ESP_START_SECTOR,
  ESP_VOLUME_ID,
  KERNEL_CMDLINE,
  MASKED_UNITS,
  ROOT_FS_HASH_SEED,
  ROOT_FS_LABEL,
  ROOT_FS_UUID,
  ROOT_SECTORS,
  ROOT_START_SECTOR,
  SECTOR,
} from './recipe.js';
import { removeTree, run, toolVersion } from './run.js';

/** Bump when the way the disk is assembled changes without any input changing. */
const DISK_FORMAT = 1;
/** Bump when the way the debootstrap tree is made changes. */
const BASE_FORMAT = 2; // 2: security and point-release updates applied after debootstrap
/** A cold build takes 5–8 minutes; a waiter gives up after this. */
const LOCK_TIMEOUT_MS = 30 * 60_000;

export interface DebianBuildOptions {
  readonly cacheDir?: string;
  readonly say?: (line: string) => void;
  /** Rebuild the disk from the cached debootstrap tree even when a verified disk is present. */
  readonly force?: boolean;
  /** Also redo debootstrap (implies force). */
  readonly forceBase?: boolean;
  /** Debian mirror; default the one in /etc/apt/sources.list(.d), else deb.debian.org. */
  readonly mirror?: string;
}

export interface DebianPartition {
  readonly index: number;
  readonly role: 'esp' | 'root';
  readonly mbrType: number;
  readonly startSector: number;
  readonly sectors: number;
}

export interface DebianImageManifest {
  readonly name: typeof DEBIAN_IMAGE_NAME;
  readonly version: string;
  readonly suite: string;
  readonly mirror: string;
  readonly disk: { readonly path: string; readonly format: 'raw'; readonly sha256: string; readonly virtualBytes: number; readonly allocatedBytes: number };
  readonly partitionTable: { readonly type: 'mbr'; readonly diskSignature: string; readonly partitions: readonly DebianPartition[] };
  readonly rootFsUuid: string;
  readonly bootModes: readonly ('legacy-bios' | 'uefi')[];
  readonly kernel: { readonly release: string; readonly cmdline: string };
  readonly disabledUnits: readonly string[];
  readonly maskedUnits: readonly string[];
  readonly packages: Readonly<Record<string, string>>;
  readonly base: { readonly key: string; readonly createdEpoch: number };
  readonly sourceDateEpoch: number;
  readonly tools: Readonly<Record<string, string>>;
  readonly builtAt: string;
  readonly buildSeconds: number;
}

export interface DebianImage {
  readonly path: string;
  readonly sha256: string;
  readonly manifest: DebianImageManifest;
}

interface BaseStamp {
  readonly key: string;
  readonly createdEpoch: number;
  readonly packages: readonly InstalledPackage[];
  readonly kernelRelease: string;
}

const REQUIRED_TOOLS: readonly { cmd: string; pkg: string }[] = [
  { cmd: 'debootstrap', pkg: 'debootstrap' },
  { cmd: 'mkfs.ext4', pkg: 'e2fsprogs' },
  { cmd: 'debugfs', pkg: 'e2fsprogs' },
  { cmd: 'dumpe2fs', pkg: 'e2fsprogs' },
  { cmd: 'mkfs.fat', pkg: 'dosfstools' },
  { cmd: 'mcopy', pkg: 'mtools' },
  { cmd: 'mmd', pkg: 'mtools' },
  { cmd: 'sfdisk', pkg: 'fdisk' },
  { cmd: 'dd', pkg: 'coreutils' },
  { cmd: 'chroot', pkg: 'coreutils' },
];

/** The Debian packages the host needs to build the image (for `nitride setup --with debian-12`). */
export const DEBIAN_BUILD_HOST_PACKAGES: readonly { name: string; why: string }[] = [
  { name: 'debootstrap', why: 'builds the debian-12 image tree from Debian packages' },
  { name: 'dosfstools', why: 'mkfs.fat for the debian-12 image EFI system partition' },
  { name: 'mtools', why: 'writes GRUB into the EFI system partition without mounting it' },
  { name: 'fdisk', why: 'sfdisk writes the debian-12 image partition table' },
  { name: 'ovmf', why: 'UEFI firmware for guests whose image has BootMode uefi' },
];

function which(cmd: string): boolean {
  const path = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const dirs = new Set([...path.split(':'), '/usr/sbin', '/sbin']);
  return [...dirs].some((d) => d !== '' && existsSync(join(d, cmd)));
}

function checkTools(): void {
  const missing = REQUIRED_TOOLS.filter((t) => !which(t.cmd));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => t.pkg))];
    throw new ImageError('ImageToolMissing', 'unavailable', `Building ${DEBIAN_IMAGE_NAME} needs ${missing.map((t) => t.cmd).join(', ')}; install ${pkgs.join(' ')} (or run nitride setup --with debian-12).`, {
      missing: missing.map((t) => t.cmd),
      packages: pkgs,
    });
  }
  if (process.getuid?.() !== 0) {
    throw new ImageError('ImageNeedsRoot', 'unavailable', `Building ${DEBIAN_IMAGE_NAME} runs debootstrap and chroot, which need root.`, {});
  }
}

/** The Debian mirror the host's apt uses for the main suite (deb822 .sources or one-line .list), else deb.debian.org. */
export function hostMirror(): string {
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  try {
    for (const n of readdirSync('/etc/apt/sources.list.d').sort()) if (n.endsWith('.list') || n.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', n));
  } catch {
    // no directory
  }
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/gm)) {
      if (m[2] === DEBIAN_SUITE && m[1] && !m[1].includes('security')) return m[1].replace(/\/$/, '');
    }
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && !uri.includes('security') && suites.includes(DEBIAN_SUITE)) return uri.replace(/\/$/, '');
    }
  }
  return DEFAULT_MIRROR;
}

function sha256Text(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p}\0`);
  return h.digest('hex');
}

export function fileSha256Stream(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function imageRoot(cacheDir: string): string {
  return join(cacheDir, DEBIAN_IMAGE_NAME);
}

function baseKey(mirror: string): string {
  return sha256Text([`base-format:${BASE_FORMAT}`, DEBIAN_SUITE, mirror, 'minbase', 'merged-usr', ...[...DEBIAN_PACKAGES].sort()]).slice(0, 16);
}

function readBaseStamp(dir: string, key: string): BaseStamp | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, 'base.json'), 'utf8')) as BaseStamp;
    if (s.key !== key || !Number.isInteger(s.createdEpoch) || typeof s.kernelRelease !== 'string' || !Array.isArray(s.packages)) return undefined;
    if (!existsSync(join(dir, 'tree', 'boot', `vmlinuz-${s.kernelRelease}`))) return undefined;
    return s;
  } catch {
    return undefined;
  }
}

function kernelReleaseOf(tree: string): string {
  const ks = readdirSync(join(tree, 'boot')).filter((n) => n.startsWith('vmlinuz-'));
  if (ks.length !== 1 || !ks[0]) throw new ImageError('ImageKernelMissing', 'internal', `The debootstrap tree should hold exactly one kernel in /boot; it holds ${ks.length}.`, { tree, kernels: ks });
  return ks[0].slice('vmlinuz-'.length);
}

// debootstrap prints one "I: Retrieving/Validating/Unpacking/Configuring pkg" line per package;
// say the phase when it changes and a count every 40 packages.
function debootstrapProgress(say: (l: string) => void): (line: string) => void {
  let phase = '';
  let n = 0;
  return (line) => {
    const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing) (\S+)/.exec(line);
    if (m) {
      if (m[1] !== phase) {
        phase = m[1] ?? '';
        n = 0;
        say(`debootstrap: ${phase.toLowerCase()} …`);
      }
      n += 1;
      if (n % 40 === 0) say(`debootstrap: ${phase.toLowerCase()} ${n} packages (now ${m[2]})`);
      return;
    }
    if (/^(I|W|E): /.test(line)) say(`debootstrap: ${line.slice(3)}`);
  };
}

async function ensureBase(root: string, mirror: string, force: boolean, say: (l: string) => void): Promise<{ dir: string; stamp: BaseStamp }> {
  const key = baseKey(mirror);
  const dir = join(root, `base-${key}`);
  const existing = force ? undefined : readBaseStamp(dir, key);
  if (existing) {
    say(`debootstrap tree present (base ${key}, ${existing.packages.length} packages, kernel ${existing.kernelRelease})`);
    return { dir, stamp: existing };
  }
  const debs = join(root, 'debs');
  mkdirSync(debs, { recursive: true });
  const tmp = join(root, `.tmp-base-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  const t0 = Date.now();
  say(`debootstrap ${DEBIAN_SUITE} (minbase, merged-usr, ${DEBIAN_PACKAGES.length} packages) from ${mirror}; cold: 3–8 min`);
  try {
    await run(
      'debootstrap',
      ['--variant=minbase', '--merged-usr', `--cache-dir=${debs}`, `--include=${DEBIAN_PACKAGES.join(',')}`, DEBIAN_SUITE, join(tmp, 'tree'), mirror],
      { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', HOME: '/root' }, onLine: debootstrapProgress(say) },
    );
    const tree = join(tmp, 'tree');
    await applyUpdates(tree, mirror, say);
    const packages = parseDpkgStatus(readFileSync(join(tree, 'var', 'lib', 'dpkg', 'status'), 'utf8'));
    const names = new Set(packages.map((p) => p.name));
    const missing = DEBIAN_PACKAGES.filter((p) => !names.has(p));
    if (missing.length > 0) throw new ImageError('ImageBuildFailed', 'internal', `debootstrap finished but these packages are not installed and configured: ${missing.join(' ')}.`, { missing });
    const stamp: BaseStamp = { key, createdEpoch: Math.floor(Date.now() / 1000), packages, kernelRelease: kernelReleaseOf(tree) };
    writeFileSync(join(tmp, 'base.json'), `${JSON.stringify(stamp, null, 1)}\n`);
    for (const n of readdirSync(root)) if (n.startsWith('base-')) removeTree(join(root, n));
    renameSync(tmp, dir);
    say(`debootstrap tree ready in ${((Date.now() - t0) / 1000).toFixed(0)} s (${packages.length} packages, kernel ${stamp.kernelRelease})`);
    return { dir, stamp };
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
}

/** The security archive beside a Debian mirror (…/debian → …/debian-security). */
export function securityMirror(mirror: string): string {
  return /\/debian$/.test(mirror) ? `${mirror}-security` : 'http://deb.debian.org/debian-security';
}

// debootstrap installs the suite as released; a cloud image carries its security and
// point-release updates. dist-upgrade brings a newer kernel ABI package through the cloud
// kernel metapackage, so the older kernel is purged to leave exactly one in /boot.
async function applyUpdates(tree: string, mirror: string, say: (l: string) => void): Promise<void> {
  writeFileSync(
    join(tree, 'etc', 'apt', 'sources.list'),
    `deb ${mirror} ${DEBIAN_SUITE} main\ndeb ${mirror} ${DEBIAN_SUITE}-updates main\ndeb ${securityMirror(mirror)} ${DEBIAN_SUITE}-security main\n`,
  );
  say(`apt: applying ${DEBIAN_SUITE}-security and ${DEBIAN_SUITE}-updates`);
  const script = `set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
apt-get -q update
apt-get -q -y -o Dpkg::Options::=--force-confold dist-upgrade
newest=$(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V | tail -n 1)
for k in $(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||'); do
  if [ "$k" != "$newest" ]; then echo "apt: purging the older kernel $k"; apt-get -q -y purge "linux-image-$k"; fi
done
apt-get -q -y autoremove --purge
apt-get clean
`;
  let n = 0;
  await run('chroot', [tree, '/bin/sh', '-c', script], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LC_ALL: 'C' },
    onLine: (l) => {
      if (/^(Inst|Get:)/.test(l)) n += 1;
      if (/^apt: |upgraded, .* newly installed|^Setting up linux-image-\d/.test(l)) say(l.startsWith('apt: ') ? l : `apt: ${l.trim()}`);
    },
  });
  say(`apt: updates applied (${n} downloads)`);
}

function hostTools(): Record<string, string> {
  return {
    mke2fs: toolVersion('mke2fs', ['-V']),
    'mkfs.fat': toolVersion('mkfs.fat', ['--help']).replace(/^mkfs\.fat\s*/, ''),
    mtools: toolVersion('mtools', ['--version']),
    sfdisk: toolVersion('sfdisk', ['--version']),
  };
}

function diskVersion(stamp: BaseStamp, tools: Record<string, string>): string {
  const files = guestFiles();
  return sha256Text([
    `disk-format:${DISK_FORMAT}`,
    stamp.key,
    String(stamp.createdEpoch),
    stamp.kernelRelease,
    JSON.stringify(files),
    chrootScript(stamp.kernelRelease),
    grubConfig(stamp.kernelRelease),
    grubEarlyConfig(),
    JSON.stringify({ DISK_BYTES, ESP_START_SECTOR, ESP_SECTORS, ROOT_START_SECTOR, ROOT_SECTORS, DISK_SIGNATURE, ROOT_FS_UUID, ROOT_FS_HASH_SEED, ROOT_FS_LABEL, ESP_VOLUME_ID, ESP_LABEL }),
    JSON.stringify(tools),
  ]).slice(0, 16);
}

function readManifest(dir: string): DebianImageManifest {
  const path = join(dir, 'manifest.json');
  let m: DebianImageManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as DebianImageManifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ImageError('ImageNotFound', 'not-found', `No ${DEBIAN_IMAGE_NAME} disk is built in ${dir}; run \`nitride image build debian-12\`.`, { dir }, { cause: e });
    }
    throw new ImageError('ImageCorrupt', 'internal', `The manifest ${path} cannot be read as JSON.`, { path }, { cause: e });
  }
  if (m?.name !== DEBIAN_IMAGE_NAME || typeof m.disk?.sha256 !== 'string' || typeof m.version !== 'string') {
    throw new ImageError('ImageCorrupt', 'internal', `The manifest ${path} lacks required fields.`, { path });
  }
  return { ...m, disk: { ...m.disk, path: join(dir, 'disk.raw') } };
}

/** Checks the disk against its manifest's sha256 (reads the whole disk, about 5 s). Throws ImageCorrupt. */
export async function verifyDebianImage(m: DebianImageManifest): Promise<void> {
  let actual: string;
  try {
    actual = await fileSha256Stream(m.disk.path);
  } catch (e) {
    throw new ImageError('ImageCorrupt', 'internal', `The ${DEBIAN_IMAGE_NAME} image ${m.version} is corrupt: its disk ${m.disk.path} cannot be read.`, { path: m.disk.path }, { cause: e });
  }
  if (actual !== m.disk.sha256) {
    throw new ImageError('ImageCorrupt', 'internal', `The ${DEBIAN_IMAGE_NAME} image ${m.version} is corrupt: the sha256 of ${m.disk.path} is ${actual}, the manifest says ${m.disk.sha256}.`, {
      path: m.disk.path,
      expected: m.disk.sha256,
      actual,
    });
  }
}

/**
 * The verified disk for the current inputs, or undefined when it (or its debootstrap tree)
 * is not built. Throws ImageCorrupt when it is present but differs from its manifest.
 */
export async function findDebianImage(opts: { cacheDir?: string; mirror?: string } = {}): Promise<DebianImage | undefined> {
  const root = imageRoot(opts.cacheDir ?? imageCacheDir());
  const key = baseKey(opts.mirror ?? hostMirror());
  const stamp = readBaseStamp(join(root, `base-${key}`), key);
  if (!stamp) return undefined;
  const dir = join(root, diskVersion(stamp, hostTools()));
  if (!existsSync(join(dir, 'manifest.json'))) return undefined;
  const m = readManifest(dir);
  await verifyDebianImage(m);
  return { path: m.disk.path, sha256: m.disk.sha256, manifest: m };
}

// --- the disk ----------------------------------------------------------------------------

function writeGuestFiles(tree: string, kernelRelease: string): void {
  const put = (rel: string, text: string, mode: number): void => {
    const p = join(tree, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text, { mode });
    chmodSync(p, mode);
  };
  for (const f of guestFiles()) put(f.path, f.text, f.mode);
  put('boot/grub/grub.cfg', grubConfig(kernelRelease), 0o644);
  put('var/tmp/nitride/early.cfg', grubEarlyConfig(), 0o644);
}

/** Inodes in use, from dumpe2fs's per-group "Free inodes: a-b, c" ranges. */
export function usedInodes(dumpe2fsText: string): number[] {
  const count = Number(/^Inode count:\s+(\d+)/m.exec(dumpe2fsText)?.[1]);
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(dumpe2fsText)?.[1]);
  if (!Number.isInteger(count) || !Number.isInteger(perGroup) || perGroup <= 0) throw new ImageError('ImageBuildFailed', 'internal', 'dumpe2fs printed no inode counts.', {});
  const free = new Uint8Array(count + 1);
  for (const m of dumpe2fsText.matchAll(/^\s+Free inodes:\s*(.*)$/gm)) {
    for (const part of (m[1] ?? '').split(',')) {
      const r = /(\d+)(?:-(\d+))?/.exec(part.trim());
      if (!r) continue;
      const a = Number(r[1]);
      const b = r[2] === undefined ? a : Number(r[2]);
      for (let i = a; i <= b && i <= count; i++) free[i] = 1;
    }
  }
  const out: number[] = [];
  for (let i = 1; i <= count; i++) if (!free[i] && (i === 2 || i >= 11)) out.push(i);
  return out;
}

async function makeRootFs(tree: string, out: string, epoch: number, say: (l: string) => void): Promise<void> {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', E2FSPROGS_FAKE_TIME: String(epoch), LC_ALL: 'C' };
  const fd = openSync(out, 'w');
  ftruncateSync(fd, ROOT_SECTORS * SECTOR);
  closeSync(fd);
  await run(
    'mkfs.ext4',
    ['-q', '-F', '-b', '4096', '-L', ROOT_FS_LABEL, '-U', ROOT_FS_UUID, '-E', `hash_seed=${ROOT_FS_HASH_SEED},root_owner=0:0`, '-O', '^metadata_csum_seed,^orphan_file', '-d', tree, out],
    { env },
  );
  // mke2fs -d copies each source file's ctime and atime, which a fresh copy of the tree
  // does not share with the last one: set them (and their nanoseconds) to the epoch.
  const dump = await run('dumpe2fs', [out], { env });
  const inodes = usedInodes(dump);
  const cmds = inodes.map((i) => `sif <${i}> ctime @${epoch}\nsif <${i}> atime @${epoch}\nsif <${i}> ctime_extra 0\nsif <${i}> atime_extra 0\n`).join('');
  const cmdFile = `${out}.debugfs`;
  writeFileSync(cmdFile, cmds);
  await run('debugfs', ['-w', '-f', cmdFile, out], { env });
  say(`root file system: ext4 ${ROOT_FS_UUID}, ${inodes.length} inodes, times set to ${epoch}`);
}

async function makeEsp(work: string, efiBinary: string, epoch: number): Promise<string> {
  const esp = join(work, 'esp.img');
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SOURCE_DATE_EPOCH: String(epoch), LC_ALL: 'C', MTOOLS_SKIP_CHECK: '1' };
  utimesSync(efiBinary, epoch, epoch);
  await run('mkfs.fat', ['--invariant', '-i', ESP_VOLUME_ID, '-n', ESP_LABEL, '-F', '16', '-C', esp, String((ESP_SECTORS * SECTOR) / 1024)], { env });
  await run('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT'], { env });
  await run('mcopy', ['-m', '-i', esp, efiBinary, '::/EFI/BOOT/BOOTX64.EFI'], { env });
  return esp;
}

function sfdiskScript(): string {
  return [
    'label: dos',
    `label-id: 0x${DISK_SIGNATURE.toString(16)}`,
    'unit: sectors',
    '',
    `start=${ESP_START_SECTOR}, size=${ESP_SECTORS}, type=ef`,
    `start=${ROOT_START_SECTOR}, size=${ROOT_SECTORS}, type=83, bootable`,
    '',
  ].join('\n');
}

async function assembleDisk(disk: string, bootImg: Buffer, coreImg: Buffer, esp: string, rootFs: string): Promise<void> {
  if (coreImg.length > (ESP_START_SECTOR - 1) * SECTOR) {
    throw new ImageError('ImageBuildFailed', 'internal', `GRUB's core.img (${coreImg.length} bytes) does not fit before the first partition.`, { size: coreImg.length });
  }
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, DISK_BYTES);
  closeSync(fd);
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', disk], { input: sfdiskScript(), env });
  const w = openSync(disk, 'r+');
  try {
    writeSync(w, bootImg, 0, 440, 0); // boot code only: bytes 440.. are the signature and the table
    writeSync(w, coreImg, 0, coreImg.length, SECTOR);
  } finally {
    closeSync(w);
  }
  await run('dd', [`if=${esp}`, `of=${disk}`, 'bs=512', `seek=${ESP_START_SECTOR}`, 'conv=sparse,notrunc', 'status=none'], { env });
  await run('dd', [`if=${rootFs}`, `of=${disk}`, 'bs=1M', `seek=${(ROOT_START_SECTOR * SECTOR) / (1024 * 1024)}`, 'conv=sparse,notrunc', 'status=none'], { env });
}

async function buildDisk(root: string, base: { dir: string; stamp: BaseStamp }, version: string, mirror: string, tools: Record<string, string>, say: (l: string) => void): Promise<DebianImage> {
  const t0 = Date.now();
  const finalDir = join(root, version);
  const tmp = join(root, `.tmp-${version}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const tree = join(tmp, 'tree');
  const epoch = base.stamp.createdEpoch;
  const release = base.stamp.kernelRelease;
  mkdirSync(tmp);
  try {
    say(`copying the debootstrap tree`);
    await run('cp', ['-a', '--reflink=auto', join(base.dir, 'tree'), tree]);
    writeGuestFiles(tree, release);
    say(`configuring in a chroot (initramfs, GRUB images, units, cleaning)`);
    await run('chroot', [tree, '/bin/sh', '-c', chrootScript(release)], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SOURCE_DATE_EPOCH: String(epoch), HOME: '/root', LC_ALL: 'C.UTF-8' },
      onLine: (l) => {
        if (l.startsWith('step: ')) say(`chroot: ${l.slice(6)}`);
      },
    });
    const grubOut = join(tree, 'var', 'tmp', 'nitride');
    const bootImg = readFileSync(join(grubOut, 'boot.img'));
    const coreImg = readFileSync(join(grubOut, 'core.img'));
    const efi = join(tmp, 'BOOTX64.EFI');
    renameSync(join(grubOut, 'BOOTX64.EFI'), efi);
    removeTree(grubOut);
    say(`clamping time stamps to ${epoch} (SOURCE_DATE_EPOCH)`);
    await run('find', [tree, '-newermt', `@${epoch}`, '-exec', 'touch', '--no-dereference', `--date=@${epoch}`, '{}', '+']);
    say(`writing the root file system (mkfs.ext4 -d)`);
    const rootFs = join(tmp, 'root.ext4');
    await makeRootFs(tree, rootFs, epoch, say);
    const esp = await makeEsp(tmp, efi, epoch);
    say(`assembling the disk (MBR: ESP ${(ESP_SECTORS * SECTOR) >> 20} MiB, root ${(ROOT_SECTORS * SECTOR) >> 20} MiB; GRUB i386-pc in sectors 1–${Math.ceil(coreImg.length / SECTOR)})`);
    const disk = join(tmp, 'disk.raw');
    await assembleDisk(disk, bootImg, coreImg, esp, rootFs);
    removeTree(tree);
    for (const f of ['root.ext4', 'root.ext4.debugfs', 'esp.img', 'BOOTX64.EFI']) removeTree(join(tmp, f));
    const sha256 = await fileSha256Stream(disk);
    const st = statSync(disk);
    const manifest: DebianImageManifest = {
      name: DEBIAN_IMAGE_NAME,
      version,
      suite: DEBIAN_SUITE,
      mirror,
      disk: { path: join(finalDir, 'disk.raw'), format: 'raw', sha256, virtualBytes: st.size, allocatedBytes: st.blocks * 512 },
      partitionTable: {
        type: 'mbr',
        diskSignature: `0x${DISK_SIGNATURE.toString(16)}`,
        partitions: [
          { index: 1, role: 'esp', mbrType: 0xef, startSector: ESP_START_SECTOR, sectors: ESP_SECTORS },
          { index: 2, role: 'root', mbrType: 0x83, startSector: ROOT_START_SECTOR, sectors: ROOT_SECTORS },
        ],
      },
      rootFsUuid: ROOT_FS_UUID,
      bootModes: ['legacy-bios', 'uefi'],
      kernel: { release, cmdline: KERNEL_CMDLINE },
      disabledUnits: DISABLED_UNITS,
      maskedUnits: MASKED_UNITS,
      packages: Object.fromEntries(base.stamp.packages.map((p) => [p.name, p.version])),
      base: { key: base.stamp.key, createdEpoch: epoch },
      sourceDateEpoch: epoch,
      tools,
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((Date.now() - t0) / 100) / 10,
    };
    writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (existsSync(finalDir)) removeTree(finalDir);
    renameSync(tmp, finalDir);
    say(`disk ready: ${manifest.disk.path} (${(manifest.disk.allocatedBytes / 1048576).toFixed(0)} MiB allocated of ${DISK_BYTES / 1048576} MiB, sha256 ${sha256})`);
    return { path: manifest.disk.path, sha256, manifest };
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
}

/**
 * Builds (or finds, verified) the Debian 12 cloud disk for the current inputs.
 * The disk is a raw, sparse 2 GiB file that boots with SeaBIOS (GRUB i386-pc in the MBR gap)
 * and with OVMF (\EFI\BOOT\BOOTX64.EFI on the ESP), from NVMe or virtio-blk. Needs root.
 */
export async function buildDebianImage(opts: DebianBuildOptions = {}): Promise<DebianImage> {
  const say = opts.say ?? (() => undefined);
  const cacheDir = opts.cacheDir ?? imageCacheDir();
  const mirror = opts.mirror ?? hostMirror();
  const force = opts.force === true || opts.forceBase === true;
  if (!force) {
    try {
      const found = await findDebianImage({ cacheDir, mirror });
      if (found) {
        say(`present (${DEBIAN_IMAGE_NAME} ${found.manifest.version}, kernel ${found.manifest.kernel.release}, sha256 ${found.sha256})`);
        return found;
      }
    } catch (e) {
      say(`the cached disk is unusable and will be rebuilt: ${describeError(e)}`);
    }
  }
  checkTools();
  const root = imageRoot(cacheDir);
  mkdirSync(root, { recursive: true });
  return withLock(
    join(root, '.build.lock'),
    say,
    async () => {
      for (const n of readdirSync(root)) if (n.startsWith('.tmp-')) removeTree(join(root, n));
      const t0 = Date.now();
      const base = await ensureBase(root, mirror, opts.forceBase === true, say);
      const tools = hostTools();
      const version = diskVersion(base.stamp, tools);
      if (!force && existsSync(join(root, version, 'manifest.json'))) {
        try {
          const m = readManifest(join(root, version));
          await verifyDebianImage(m);
          say(`present (built by another process: ${version})`);
          return { path: m.disk.path, sha256: m.disk.sha256, manifest: m };
        } catch (e) {
          say(`the cached disk is unusable and will be rebuilt: ${describeError(e)}`);
        }
      }
      say(`building ${DEBIAN_IMAGE_NAME} ${version} (kernel ${base.stamp.kernelRelease}, SOURCE_DATE_EPOCH ${base.stamp.createdEpoch})`);
      const img = await buildDisk(root, base, version, mirror, tools, say);
      for (const n of readdirSync(root)) {
        if (n !== version && /^[0-9a-f]{16}$/.test(n)) removeTree(join(root, n));
      }
      say(`built ${DEBIAN_IMAGE_NAME} ${version} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      return img;
    },
    LOCK_TIMEOUT_MS,
  );
}
