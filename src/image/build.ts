// Builds the guest image nitride-minimal into the image cache, reproducibly, and loads it.
//
// Layout: <cacheDir>/nitride-minimal/<version>/{vmlinux|vmlinuz, initrd.img, manifest.json}.
// The version is a hash of every input (kernel bzImage, module files, busybox binary,
// init scripts, kernel command line, builder format), so a changed input gives a new
// directory and an unchanged one is found again: the cache is shared by every
// NITRIDE_HOME and test run on the machine. A build happens in a temporary directory
// next to the final one, under a lock file, and is renamed into place, so concurrent
// builders never see or leave half an image. The initrd is a newc cpio written here
// with fixed owners and mtimes and sorted entries, so equal inputs give equal bytes.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageCacheDir } from '../lib/paths.js';
import { describeError } from '../lib/errors.js';
import { encodeNewc, type CpioEntry } from './cpio.js';
import { ImageError } from './errors.js';
import { initScript, udhcpcScript } from './init-script.js';
import { extractVmlinux, findCloudKernel, type KernelSource } from './kernel.js';

export const IMAGE_NAME = 'nitride-minimal';
/** Bump when the way the image is assembled changes without any input changing. */
const BUILDER_FORMAT = 1;

/** Kernel modules the init loads, in this order (dependencies first). Built-in ones are skipped. */
export const GUEST_MODULES: readonly string[] = [
  'failover',
  'net_failover',
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'virtio_mmio',
  'virtio_blk',
  'virtio_net',
  'evdev',
  'button',
];

/** Fast-boot flags measured in qemu-notes.md, with the serial console. */
export const GUEST_CMDLINE =
  'console=ttyS0 quiet loglevel=0 panic=-1 i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable no_timer_check noreplace-smp cryptomgr.notests random.trust_cpu=on nokaslr';

const BUSYBOX_PATH = '/bin/busybox';

export type KernelFormat = 'pvh-vmlinux' | 'bzimage';

export interface ImageFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface ImageManifest {
  readonly name: typeof IMAGE_NAME;
  readonly version: string;
  /** The kernel release, e.g. 6.1.0-56-cloud-amd64. */
  readonly kernelVersion: string;
  readonly kernelPackage: { readonly name: string; readonly version: string };
  readonly busyboxVersion: string;
  readonly dir: string;
  readonly kernel: ImageFile & { readonly format: KernelFormat };
  readonly initrd: ImageFile & { readonly compression: 'none' };
  /** Modules packed into the initrd, in load order (built-in ones are absent). */
  readonly modules: readonly string[];
  readonly cmdline: string;
  readonly builtAt: string;
}

export interface EnsureImageOptions {
  readonly cacheDir?: string;
  readonly say?: (line: string) => void;
  /** Rebuild even when a verified image is present. */
  readonly force?: boolean;
  /** Where the kernel and its modules come from (tests); default the newest cloud kernel. */
  readonly kernel?: KernelSource;
  /** Use the bzImage itself, as when the PVH vmlinux cannot be extracted. */
  readonly kernelFormat?: KernelFormat;
}

interface ModuleInput {
  readonly name: string;
  readonly path: string;
  readonly sha256: string;
}

interface Inputs {
  readonly kernel: KernelSource;
  readonly kernelSha256: string;
  readonly modules: readonly ModuleInput[];
  readonly busyboxSha256: string;
  readonly init: string;
  readonly udhcpc: string;
  readonly kernelFormat: KernelFormat | 'auto';
  readonly version: string;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// sha256 of a file, remembered while its inode, size and mtime stay the same, so that
// loading the image for every instance start does not rehash 50 MB each time.
const hashMemo = new Map<string, { key: string; sha256: string }>();
function fileSha256(path: string): string {
  const st = statSync(path);
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  const hit = hashMemo.get(path);
  if (hit && hit.key === key) return hit.sha256;
  const digest = sha256(readFileSync(path));
  hashMemo.set(path, { key, sha256: digest });
  return digest;
}

function dpkgVersion(pkg: string): string {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : 'unknown';
}

function builtinModules(modulesDir: string): Set<string> {
  const names = new Set<string>();
  let text = '';
  try {
    text = readFileSync(join(modulesDir, 'modules.builtin'), 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const m = /([^/]+)\.ko$/.exec(line.trim());
    if (m?.[1]) names.add(m[1].replaceAll('-', '_'));
  }
  return names;
}

// modules.dep maps "kernel/x/y.ko[.xz]: dep.ko dep2.ko"; we need name -> path.
function moduleIndex(modulesDir: string): Map<string, string> {
  const index = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(join(modulesDir, 'modules.dep'), 'utf8');
  } catch (e) {
    throw new ImageError('ImageModuleMissing', 'unavailable', `The module index ${join(modulesDir, 'modules.dep')} cannot be read.`, { modulesDir }, { cause: e });
  }
  for (const line of text.split('\n')) {
    const rel = line.split(':')[0]?.trim();
    if (!rel) continue;
    const m = /([^/]+)\.ko(\.xz|\.zst|\.gz)?$/.exec(rel);
    if (m?.[1]) index.set(m[1].replaceAll('-', '_'), join(modulesDir, rel));
  }
  return index;
}

function collectInputs(kernel: KernelSource, kernelFormat: KernelFormat | 'auto'): Inputs {
  if (!existsSync(BUSYBOX_PATH)) {
    throw new ImageError('ImageToolMissing', 'unavailable', `${BUSYBOX_PATH} is missing; install busybox-static.`, { path: BUSYBOX_PATH });
  }
  const builtin = builtinModules(kernel.modulesDir);
  const index = moduleIndex(kernel.modulesDir);
  const modules: ModuleInput[] = [];
  for (const name of GUEST_MODULES) {
    if (builtin.has(name)) continue;
    const path = index.get(name);
    if (path === undefined || !existsSync(path)) {
      throw new ImageError('ImageModuleMissing', 'unavailable', `The kernel ${kernel.release} has no module ${name}, neither built in nor as a file.`, {
        module: name,
        modulesDir: kernel.modulesDir,
      });
    }
    modules.push({ name, path, sha256: fileSha256(path) });
  }
  const kernelSha256 = fileSha256(kernel.bzImagePath);
  const busyboxSha256 = fileSha256(BUSYBOX_PATH);
  const init = initScript();
  const udhcpc = udhcpcScript();
  const h = createHash('sha256');
  const add = (label: string, value: string): void => {
    h.update(`${label}\0${value}\0`);
  };
  add('builder', String(BUILDER_FORMAT));
  add('kernel', kernelSha256);
  add('kernel-format', kernelFormat);
  for (const m of modules) add(`module:${m.name}`, m.sha256);
  add('busybox', busyboxSha256);
  add('init', init);
  add('udhcpc', udhcpc);
  add('cmdline', GUEST_CMDLINE);
  const version = h.digest('hex').slice(0, 16);
  return { kernel, kernelSha256, modules, busyboxSha256, init, udhcpc, kernelFormat, version };
}

function moduleBytes(m: ModuleInput): Buffer {
  if (m.path.endsWith('.ko')) return readFileSync(m.path);
  const tool = m.path.endsWith('.xz') ? 'xz' : m.path.endsWith('.zst') ? 'zstd' : 'gzip';
  const r = spawnSync(tool, ['-dc', m.path], { maxBuffer: 256 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    throw new ImageError('ImageToolMissing', 'unavailable', `The compressed module ${m.path} could not be unpacked with ${tool}.`, { tool, path: m.path }, { cause: r.error });
  }
  return r.stdout;
}

function busyboxApplets(): string[] {
  const r = spawnSync(BUSYBOX_PATH, ['--list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new ImageError('ImageToolMissing', 'unavailable', `${BUSYBOX_PATH} --list failed.`, { path: BUSYBOX_PATH }, { cause: r.error });
  }
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
}

/** The initramfs as a newc cpio (uncompressed: QEMU loads it and the kernel skips decompression). */
function buildInitrd(inputs: Inputs): { bytes: Buffer; modules: string[] } {
  const entries: CpioEntry[] = [];
  const dir = (path: string, mode = 0o755): void => {
    entries.push({ type: 'dir', path, mode });
  };
  for (const d of ['bin', 'dev', 'etc', 'etc/nitride', 'lib', 'lib/modules', 'proc', 'run', 'sys', 'tmp']) dir(d, d === 'tmp' ? 0o1777 : 0o755);
  entries.push({ type: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 });
  entries.push({ type: 'char', path: 'dev/null', mode: 0o666, major: 1, minor: 3 });
  entries.push({ type: 'file', path: 'init', mode: 0o755, data: Buffer.from(inputs.init) });
  entries.push({ type: 'file', path: 'bin/busybox', mode: 0o755, data: readFileSync(BUSYBOX_PATH) });
  for (const a of busyboxApplets()) entries.push({ type: 'symlink', path: `bin/${a}`, target: 'busybox' });
  entries.push({ type: 'symlink', path: 'sbin', target: 'bin' });
  entries.push({ type: 'file', path: 'etc/nitride/udhcpc.script', mode: 0o755, data: Buffer.from(inputs.udhcpc) });
  const names = inputs.modules.map((m) => m.name);
  entries.push({ type: 'file', path: 'etc/nitride/modules', mode: 0o644, data: Buffer.from(names.map((n) => `${n}\n`).join('')) });
  for (const m of inputs.modules) {
    const data = moduleBytes(m);
    entries.push({ type: 'file', path: `lib/modules/${m.name}.ko`, mode: 0o644, data });
  }
  return { bytes: encodeNewc(entries), modules: names };
}

function manifestPathOf(dir: string): string {
  return join(dir, 'manifest.json');
}

function imageRoot(cacheDir: string): string {
  return join(cacheDir, IMAGE_NAME);
}

/**
 * Checks that both files exist and match the manifest's sha256s; throws ImageCorrupt
 * naming the first difference.
 */
export function verifyImageFiles(manifest: ImageManifest): void {
  for (const [part, f] of [
    ['kernel', manifest.kernel],
    ['initrd', manifest.initrd],
  ] as const) {
    let actual: string;
    try {
      actual = fileSha256(f.path);
    } catch (e) {
      throw new ImageError('ImageCorrupt', 'internal', `The image ${manifest.name} ${manifest.version} is corrupt: its ${part} file ${f.path} is missing.`, {
        part,
        path: f.path,
        version: manifest.version,
      }, { cause: e });
    }
    if (actual !== f.sha256) {
      throw new ImageError('ImageCorrupt', 'internal', `The image ${manifest.name} ${manifest.version} is corrupt: the sha256 of its ${part} ${f.path} is ${actual}, the manifest says ${f.sha256}.`, {
        part,
        path: f.path,
        expected: f.sha256,
        actual,
        version: manifest.version,
      });
    }
  }
}

// Reads a manifest and re-roots its paths at the directory it was found in.
function readManifest(dir: string): ImageManifest {
  const path = manifestPathOf(dir);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ImageError('ImageNotFound', 'not-found', `No ${IMAGE_NAME} image is built in ${dir}; run \`nitride image build\` (or \`nitride setup\`).`, { dir }, { cause: e });
    }
    throw new ImageError('ImageCorrupt', 'internal', `The image manifest ${path} cannot be read.`, { path }, { cause: e });
  }
  let m: ImageManifest;
  try {
    m = JSON.parse(raw) as ImageManifest;
  } catch (e) {
    throw new ImageError('ImageCorrupt', 'internal', `The image manifest ${path} is not valid JSON.`, { path }, { cause: e });
  }
  if (
    m === null ||
    typeof m !== 'object' ||
    m.name !== IMAGE_NAME ||
    typeof m.version !== 'string' ||
    typeof m.kernel?.sha256 !== 'string' ||
    typeof m.kernel?.path !== 'string' ||
    typeof m.initrd?.sha256 !== 'string' ||
    typeof m.initrd?.path !== 'string' ||
    typeof m.cmdline !== 'string'
  ) {
    throw new ImageError('ImageCorrupt', 'internal', `The image manifest ${path} lacks required fields.`, { path });
  }
  return {
    ...m,
    dir,
    kernel: { ...m.kernel, path: join(dir, basename(m.kernel.path)) },
    initrd: { ...m.initrd, path: join(dir, basename(m.initrd.path)) },
  };
}

function currentInputs(opts: { kernel?: KernelSource | undefined; kernelFormat?: KernelFormat | undefined }): Inputs {
  return collectInputs(opts.kernel ?? findCloudKernel(), opts.kernelFormat ?? 'auto');
}

/**
 * The verified image built from the current inputs. Throws ImageNotFound when it has not
 * been built (or the inputs changed since), ImageCorrupt when a file is missing or differs.
 */
export function loadImage(cacheDir: string = imageCacheDir(), opts: { kernel?: KernelSource; kernelFormat?: KernelFormat } = {}): ImageManifest {
  const inputs = currentInputs(opts);
  const m = readManifest(join(imageRoot(cacheDir), inputs.version));
  verifyImageFiles(m);
  return m;
}

// --- the lock ---------------------------------------------------------------------------

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs fn holding an O_EXCL lock file (pid inside; a dead holder's lock is taken over). Also used by the Debian builder. */
export async function withLock<T>(lockPath: string, say: (line: string) => void, fn: () => Promise<T> | T, timeoutMs = 10 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(lockPath, 'utf8').trim());
    } catch {
      continue; // released between our open and read
    }
    if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
      // The holder died; take its lock away by renaming (only one waiter wins the rename).
      const stale = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        renameSync(lockPath, stale);
        rmSync(stale, { force: true });
        say(`removed a stale build lock left by process ${holder}`);
      } catch {
        // someone else removed it
      }
      continue;
    }
    if (!told) {
      say(`waiting for another build (process ${Number.isNaN(holder) ? '?' : holder}) to finish`);
      told = true;
    }
    if (Date.now() > deadline) {
      throw new ImageError('ImageLockTimeout', 'unavailable', `The image build lock ${lockPath} stayed held for ${Math.round(timeoutMs / 60_000)} minutes.`, { lockPath, holder, timeoutMs });
    }
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(lockPath);
    } catch {
      // already gone
    }
  }
}

// --- the build --------------------------------------------------------------------------

function present(dir: string): { ok: true; manifest: ImageManifest } | { ok: false; why: string; missing: boolean } {
  try {
    const m = readManifest(dir);
    verifyImageFiles(m);
    return { ok: true, manifest: m };
  } catch (e) {
    const missing = e instanceof ImageError && e.code === 'ImageNotFound' && !existsSync(dir);
    return { ok: false, why: describeError(e), missing };
  }
}

function buildInto(tmp: string, finalDir: string, inputs: Inputs, say: (line: string) => void): ImageManifest {
  const bz = readFileSync(inputs.kernel.bzImagePath);
  let format: KernelFormat = inputs.kernelFormat === 'bzimage' ? 'bzimage' : 'pvh-vmlinux';
  let kernelBytes: Buffer = bz;
  if (format === 'pvh-vmlinux') {
    try {
      kernelBytes = extractVmlinux(bz);
      say(`kernel: extracted the PVH vmlinux from ${inputs.kernel.bzImagePath} (${(kernelBytes.length / 1048576).toFixed(1)} MiB)`);
    } catch (e) {
      if (inputs.kernelFormat === 'pvh-vmlinux') throw e;
      format = 'bzimage';
      kernelBytes = bz;
      say(`kernel: PVH extraction failed (${describeError(e)}); using the bzImage`);
    }
  } else {
    say(`kernel: using the bzImage ${inputs.kernel.bzImagePath}`);
  }
  const kernelName = format === 'pvh-vmlinux' ? 'vmlinux' : 'vmlinuz';
  writeFileSync(join(tmp, kernelName), kernelBytes, { mode: 0o644 });

  const initrd = buildInitrd(inputs);
  writeFileSync(join(tmp, 'initrd.img'), initrd.bytes, { mode: 0o644 });
  say(`initrd: busybox, ${initrd.modules.length} modules (${initrd.modules.join(' ')}), ${(initrd.bytes.length / 1048576).toFixed(1)} MiB`);

  const manifest: ImageManifest = {
    name: IMAGE_NAME,
    version: inputs.version,
    kernelVersion: inputs.kernel.release,
    kernelPackage: { name: `linux-image-${inputs.kernel.release}`, version: dpkgVersion(`linux-image-${inputs.kernel.release}`) },
    busyboxVersion: dpkgVersion('busybox-static'),
    dir: finalDir,
    kernel: { path: join(finalDir, kernelName), sha256: sha256(kernelBytes), size: kernelBytes.length, format },
    initrd: { path: join(finalDir, 'initrd.img'), sha256: sha256(initrd.bytes), size: initrd.bytes.length, compression: 'none' },
    modules: initrd.modules,
    cmdline: GUEST_CMDLINE,
    builtAt: new Date().toISOString(),
  };
  writeFileSync(manifestPathOf(tmp), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  return manifest;
}

/** How many other versions stay in the cache beside the current one (another checkout may use them). */
const KEEP_OTHER_VERSIONS = 2;

// Called under the lock: removes all but the most recently built other versions.
function pruneOldVersions(root: string, current: string, say: (line: string) => void): void {
  const others = readdirSync(root)
    .filter((n) => !n.startsWith('.') && n !== current)
    .map((n) => {
      let t = 0;
      try {
        t = statSync(join(root, n)).mtimeMs;
      } catch {
        // vanished
      }
      return { n, t };
    })
    .sort((a, b) => b.t - a.t);
  for (const { n } of others.slice(KEEP_OTHER_VERSIONS)) {
    const trash = join(root, `.old-${n}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      renameSync(join(root, n), trash);
      rmSync(trash, { recursive: true, force: true });
      say(`removed the old version ${n} from the cache`);
    } catch {
      // another process removed it
    }
  }
}

/**
 * Makes sure the image for the current inputs is in the cache and verified, building it
 * when it is missing or corrupt (or when `force`). Says what it does through `say`.
 */
export async function ensureImage(opts: EnsureImageOptions = {}): Promise<ImageManifest> {
  const say = opts.say ?? (() => undefined);
  const cacheDir = opts.cacheDir ?? imageCacheDir();
  const inputs = currentInputs(opts);
  const root = imageRoot(cacheDir);
  const finalDir = join(root, inputs.version);

  if (!opts.force) {
    const p = present(finalDir);
    if (p.ok) {
      say(`present (${IMAGE_NAME} ${inputs.version}, kernel ${p.manifest.kernelVersion}, ${p.manifest.kernel.format})`);
      return p.manifest;
    }
    if (!p.missing) say(`the cached image is unusable and will be rebuilt: ${p.why}`);
  }

  mkdirSync(root, { recursive: true, mode: 0o755 });
  return withLock(join(root, '.build.lock'), say, () => {
    // Another process may have built it while we waited for the lock.
    if (!opts.force) {
      const p = present(finalDir);
      if (p.ok) {
        say(`present (built by another process: ${IMAGE_NAME} ${inputs.version})`);
        return p.manifest;
      }
    }
    // Leftovers of builders that died (we hold the lock, so no builder is running).
    for (const n of readdirSync(root)) {
      if (n.startsWith('.tmp-') || n.startsWith('.old-')) rmSync(join(root, n), { recursive: true, force: true });
    }
    const started = Date.now();
    say(`building ${IMAGE_NAME} ${inputs.version} from kernel ${inputs.kernel.release} and busybox into ${finalDir}`);
    const tmp = join(root, `.tmp-${inputs.version}-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(tmp, { mode: 0o755 });
    try {
      const manifest = buildInto(tmp, finalDir, inputs, say);
      if (existsSync(finalDir)) {
        const trash = join(root, `.old-${inputs.version}-${process.pid}-${randomBytes(4).toString('hex')}`);
        renameSync(finalDir, trash);
        rmSync(trash, { recursive: true, force: true });
      }
      renameSync(tmp, finalDir);
      pruneOldVersions(root, inputs.version, say);
      say(`built ${IMAGE_NAME} ${inputs.version} in ${((Date.now() - started) / 1000).toFixed(1)} s (kernel ${manifest.kernel.format}, initrd sha256 ${manifest.initrd.sha256.slice(0, 16)}…)`);
      verifyImageFiles(manifest);
      return manifest;
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (e instanceof ImageError) throw e;
      throw new ImageError('ImageBuildFailed', 'internal', `Building ${IMAGE_NAME} ${inputs.version} failed.`, { dir: finalDir }, { cause: e });
    }
  });
}

/** Image versions present in the cache (directory names), for `nitride image show`. */
export function cachedVersions(cacheDir: string = imageCacheDir()): string[] {
  try {
    return readdirSync(imageRoot(cacheDir)).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}
