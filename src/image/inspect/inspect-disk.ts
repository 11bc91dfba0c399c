// inspectDisk(path): what a disk image holds and whether it can boot on a Nitride host,
// without booting it: partition table (own codec), file systems (probed from their first
// bytes), the root file system and /boot (debugfs, no mount), kernels with modules.builtin
// and modules.dep, the initramfs (own cpio reader after zstd/gzip/xz), the boot loaders
// (GRUB in the MBR, \EFI\BOOT\BOOTX64.EFI on the ESP via mtools). qcow2 and other formats
// qemu-img knows are converted to a temporary raw file first.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageError } from '../errors.js';
import { ExtReader } from './ext-reader.js';
import { probeFs, PROBE_BYTES, type FsProbe } from './protocol/fs-probe.js';
import { splitInitramfs, type CpioListing, type Compression } from './protocol/initramfs.js';
import { decodePartitionTable, SECTOR_SIZE, type Partition, type PartitionTable } from './protocol/partition-table.js';
import { decide, defaultKernel, type DriverSource, type KernelFacts, type Problem } from './verdict.js';

export interface PartitionReport extends Partition {
  readonly fs: FsProbe;
  /** What the inspection found on it. */
  readonly holds: readonly ('root' | 'boot' | 'esp-loader')[];
}

export interface KernelReport extends KernelFacts {
  readonly modulesBuiltin: number;
  readonly modulesAvailable: number;
  readonly initramfsEntries?: number;
  readonly initramfsArchives?: readonly string[];
}

export interface DiskReport {
  readonly path: string;
  readonly format: string;
  readonly virtualBytes: number;
  readonly partitionTable: { readonly kind: PartitionTable['kind']; readonly diskGuid?: string; readonly diskSignature?: string; readonly note?: string };
  readonly partitions: readonly PartitionReport[];
  readonly os?: { readonly prettyName: string; readonly id?: string; readonly versionId?: string; readonly partition: number };
  readonly bootLoaders: { readonly bios: string | undefined; readonly uefi: string | undefined };
  readonly bootModes: readonly ('legacy-bios' | 'uefi')[];
  readonly kernels: readonly KernelReport[];
  readonly defaultKernel?: string;
  readonly verdict: { readonly ok: boolean; readonly problems: readonly Problem[] };
  readonly elapsedMs: number;
}

/**
 * The most a tool may print (a decompressed initramfs): the disk is untrusted input, and a
 * compression bomb must not exhaust memory. Debian's initramfs images are 10–60 MiB unpacked.
 */
export const MAX_TOOL_OUTPUT = 512 * 1024 * 1024;
/** The largest initramfs file read from a disk. */
export const MAX_INITRAMFS_BYTES = 256 * 1024 * 1024;

function runTool(cmd: string, args: readonly string[], input?: Uint8Array): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', MTOOLS_SKIP_CHECK: '1' } });
    const out: Buffer[] = [];
    let outBytes = 0;
    let tooBig = false;
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > MAX_TOOL_OUTPUT) {
        if (!tooBig) child.kill('SIGKILL');
        tooBig = true;
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // a decompressor may stop reading at the end of its frame
    child.on('error', (e) => reject(new ImageError('ImageToolMissing', 'unavailable', `The tool ${cmd} is needed to inspect disk images.`, { tool: cmd }, { cause: e })));
    child.on('close', (code) => {
      if (tooBig) reject(new ImageError('ImageTooLarge', 'invalid', `${cmd} produced more than ${MAX_TOOL_OUTPUT >> 20} MiB; the input is refused.`, { tool: cmd, limit: MAX_TOOL_OUTPUT }));
      else resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? b : b.subarray(0, got);
}

async function imageFormat(path: string): Promise<string> {
  const r = await runTool('qemu-img', ['info', '--output=json', path]);
  if (r.code !== 0) throw new ImageError('ImageUnreadable', 'invalid', `qemu-img cannot read ${path} as a disk image.`, { path, stderr: r.stderr.trim() });
  try {
    return String((JSON.parse(r.stdout.toString('utf8')) as { format?: string }).format ?? 'raw');
  } catch (e) {
    throw new ImageError('ImageUnreadable', 'internal', `qemu-img info printed no JSON for ${path}.`, { path }, { cause: e });
  }
}

const DECOMPRESSORS: Partial<Record<Compression, [string, string[]]>> = {
  zstd: ['zstd', ['-dcq']],
  gzip: ['gzip', ['-dc']],
  xz: ['xz', ['-dc']],
  lzma: ['xz', ['--format=lzma', '-dc']],
  bzip2: ['bzip2', ['-dc']],
  lz4: ['lz4', ['-dc']],
};

/** Every entry of an initramfs (all its cpio archives, compressed parts decompressed), and a description of each archive. */
export async function listInitramfs(bytes: Uint8Array): Promise<{ entries: CpioListing[]; archives: string[] }> {
  const entries: CpioListing[] = [];
  const archives: string[] = [];
  let data: Uint8Array = bytes;
  let label = '';
  for (let depth = 0; depth < 4; depth++) {
    const parts = splitInitramfs(data);
    let next: Uint8Array | undefined;
    for (const part of parts) {
      if (part.kind === 'cpio') {
        entries.push(...part.entries);
        archives.push(`${label}cpio at byte ${part.offset}: ${part.entries.length} entries`);
      } else if (part.kind === 'compressed') {
        const tool = DECOMPRESSORS[part.compression];
        if (!tool) throw new ImageError('InitramfsUnreadable', 'invalid', `The initramfs part at byte ${part.offset} is ${part.compression}-compressed, which is not supported.`, { compression: part.compression });
        const r = await runTool(tool[0], tool[1], data.subarray(part.offset));
        if (r.stdout.length === 0) throw new ImageError('InitramfsUnreadable', 'invalid', `${tool[0]} could not decompress the initramfs part at byte ${part.offset}.`, { stderr: r.stderr.trim() });
        label = `${part.compression} at byte ${part.offset} → `;
        next = r.stdout;
      } else {
        archives.push(`${label}unknown data at byte ${part.offset} (${part.magic})`);
      }
    }
    if (!next) break;
    data = next;
  }
  return { entries, archives };
}

function moduleNameOf(path: string): string | undefined {
  const m = /([^/]+)\.ko(\.(xz|zst|gz))?$/.exec(path.trim());
  return m?.[1]?.replaceAll('-', '_');
}

async function inspectKernel(root: ExtReader, boot: ExtReader, bootPrefix: string, release: string, fileName: string, bootSizes: ReadonlyMap<string, number>): Promise<KernelReport> {
  const bootEntries = [...bootSizes.keys()];
  let modulesDir: string | undefined;
  for (const d of [`/usr/lib/modules/${release}`, `/lib/modules/${release}`]) {
    if ((await root.ls(d)) !== undefined) {
      modulesDir = d;
      break;
    }
  }
  const builtinText = modulesDir ? ((await root.cat(`${modulesDir}/modules.builtin`))?.toString('utf8') ?? '') : '';
  const depText = modulesDir ? ((await root.cat(`${modulesDir}/modules.dep`))?.toString('utf8') ?? '') : '';
  const builtin = new Set(builtinText.split('\n').map(moduleNameOf).filter((x): x is string => x !== undefined));
  const modulePaths = new Map<string, string>();
  for (const line of depText.split('\n')) {
    const rel = line.split(':')[0] ?? '';
    const n = moduleNameOf(rel);
    if (n) modulePaths.set(n, rel);
  }
  const moduleFilePresent = async (name: string): Promise<string | undefined> => {
    const rel = modulePaths.get(name);
    if (!rel || !modulesDir) return undefined;
    const full = `${modulesDir}/${rel}`;
    const dir = full.slice(0, full.lastIndexOf('/'));
    const base = full.slice(full.lastIndexOf('/') + 1);
    const ents = await root.ls(dir);
    return ents?.some((e) => e.name === base) ? full : undefined;
  };

  const initrdName = [`initrd.img-${release}`, `initramfs-${release}.img`, `initrd-${release}.img`, `initramfs-${release}`, `initrd-${release}`].find((n) => bootEntries.includes(n));
  let initramfs: string | undefined;
  let initEntries: CpioListing[] | undefined;
  let archives: string[] | undefined;
  if (initrdName) {
    initramfs = `${bootPrefix}/${initrdName}`;
    const size = bootSizes.get(initrdName) ?? 0;
    if (size > MAX_INITRAMFS_BYTES) {
      throw new ImageError('ImageTooLarge', 'invalid', `The initramfs ${initramfs} is ${size} bytes; more than ${MAX_INITRAMFS_BYTES >> 20} MiB is refused.`, { initramfs, size });
    }
    const bytes = await boot.dump(`${bootPrefix === '/boot' ? '/boot' : ''}/${initrdName}`);
    if (bytes) {
      const l = await listInitramfs(bytes);
      initEntries = l.entries;
      archives = l.archives;
    }
  }
  const inInitramfs = (name: string): string | undefined => initEntries?.find((e) => e.kind === 'file' && moduleNameOf(e.name) === name && e.name.includes(`/${release}/`))?.name;

  // NVMe: the PCIe driver is nvme, its core nvme_core (built together or both as modules).
  let nvme: DriverSource;
  let nvmeDetail: string;
  if (builtin.has('nvme') && (builtin.has('nvme_core') || !modulePaths.has('nvme_core'))) {
    nvme = 'builtin';
    nvmeDetail = `nvme is built into ${release} (modules.builtin).`;
  } else if (inInitramfs('nvme') && (builtin.has('nvme_core') || inInitramfs('nvme_core'))) {
    nvme = 'initramfs';
    nvmeDetail = `nvme is a module in ${initramfs} (${inInitramfs('nvme')}).`;
  } else {
    const onRoot = await moduleFilePresent('nvme');
    const missingCore = inInitramfs('nvme') && !inInitramfs('nvme_core') && !builtin.has('nvme_core');
    nvme = onRoot ? 'rootfs-module' : 'absent';
    const where = !modulesDir
      ? `there is no module directory /lib/modules/${release}`
      : !builtinText
        ? `${modulesDir}/modules.builtin is missing`
        : `nvme is not in ${modulesDir}/modules.builtin`;
    const init = !initramfs
      ? `there is no initramfs for ${release} in /boot`
      : missingCore
        ? `${initramfs} has nvme.ko but not nvme-core.ko`
        : `${initramfs} (${initEntries?.length ?? 0} entries) has no nvme.ko`;
    nvmeDetail = `The root on NVMe cannot be mounted: ${where}, and ${init}${onRoot ? ` (the module exists only on the root file system, at ${onRoot}, which is what it is needed to mount)` : ''}.`;
  }

  let virtioNet: DriverSource;
  let virtioNetDetail: string;
  if (builtin.has('virtio_net')) {
    virtioNet = 'builtin';
    virtioNetDetail = `virtio_net is built into ${release}.`;
  } else {
    const onRoot = await moduleFilePresent('virtio_net');
    const init = inInitramfs('virtio_net');
    if (onRoot) {
      virtioNet = 'rootfs-module';
      virtioNetDetail = `virtio_net is a module: ${onRoot}.`;
    } else if (init) {
      virtioNet = 'initramfs';
      virtioNetDetail = `virtio_net is a module in ${initramfs}.`;
    } else {
      virtioNet = 'absent';
      virtioNetDetail = !modulesDir
        ? `There is no module directory /lib/modules/${release}, and virtio_net is not in the initramfs.`
        : `virtio_net is neither in ${modulesDir}/modules.builtin nor a module file listed in ${modulesDir}/modules.dep and present on the root file system.`;
    }
  }
  return {
    release,
    path: `${bootPrefix}/${fileName}`,
    ...(modulesDir ? { modulesDir } : {}),
    ...(initramfs ? { initramfs } : {}),
    nvme,
    nvmeDetail,
    virtioNet,
    virtioNetDetail,
    modulesBuiltin: builtin.size,
    modulesAvailable: modulePaths.size,
    ...(initEntries ? { initramfsEntries: initEntries.length } : {}),
    ...(archives ? { initramfsArchives: archives } : {}),
  };
}

function parseOsRelease(text: string): { prettyName: string; id?: string; versionId?: string } {
  const get = (k: string): string | undefined => {
    const m = new RegExp(`^${k}=(.*)$`, 'm').exec(text);
    return m?.[1]?.replace(/^"(.*)"$/, '$1');
  };
  const id = get('ID');
  const versionId = get('VERSION_ID');
  return { prettyName: get('PRETTY_NAME') ?? get('NAME') ?? 'Linux', ...(id ? { id } : {}), ...(versionId ? { versionId } : {}) };
}

async function espLoader(image: string, offset: number): Promise<string | undefined> {
  const r = await runTool('mdir', ['-b', '-i', `${image}@@${offset}`, '::/EFI/BOOT']);
  if (r.code !== 0) return undefined;
  const hit = r.stdout
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /\/BOOTX64\.EFI$/i.test(l));
  return hit ? '\\EFI\\BOOT\\BOOTX64.EFI' : undefined;
}

/** Inspects a raw or qcow2 (or any qemu-img format) disk image without booting it. */
export async function inspectDisk(path: string): Promise<DiskReport> {
  const t0 = Date.now();
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ImageError('ImageNotFound', 'not-found', `The disk image ${path} does not exist.`, { path }, { cause: e });
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new ImageError('ImageUnreadable', 'invalid', `${path} is not a file.`, { path });
  const format = await imageFormat(path);
  if (format !== 'raw') {
    const dir = mkdtempSync(join(tmpdir(), 'nitride-inspect-'));
    try {
      const raw = join(dir, 'disk.raw');
      const r = await runTool('qemu-img', ['convert', '-O', 'raw', path, raw]);
      if (r.code !== 0) throw new ImageError('ImageUnreadable', 'invalid', `qemu-img cannot convert the ${format} image ${path} to raw.`, { path, format, stderr: r.stderr.trim() });
      const report = await inspectRaw(raw, t0);
      return { ...report, path, format, elapsedMs: Date.now() - t0 };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return inspectRaw(path, t0);
}

async function inspectRaw(path: string, t0: number): Promise<DiskReport> {
  const size = statSync(path).size;
  const diskSectors = Math.floor(size / SECTOR_SIZE);
  const fd = openSync(path, 'r');
  let table: PartitionTable;
  const probes = new Map<number, FsProbe>();
  try {
    const head = readAt(fd, 0, 34 * SECTOR_SIZE);
    try {
      table = decodePartitionTable(head, (lba) => readAt(fd, lba * SECTOR_SIZE, SECTOR_SIZE), diskSectors);
    } catch (e) {
      table = { kind: 'none', reason: `The partition table is damaged: ${(e as Error).message}` };
    }
    if (table.kind !== 'none') {
      for (const p of table.partitions) if (p.role !== 'extended') probes.set(p.index, probeFs(readAt(fd, p.startSector * SECTOR_SIZE, PROBE_BYTES)));
    } else {
      probes.set(0, probeFs(readAt(fd, 0, PROBE_BYTES)));
    }
  } finally {
    closeSync(fd);
  }
  const parts: Partition[] =
    table.kind !== 'none'
      ? table.partitions.filter((p) => p.role !== 'extended')
      : probes.get(0)?.type !== 'unknown'
        ? [{ index: 0, role: 'linux', type: 'whole disk', startSector: 0, sectors: diskSectors, bootable: false }]
        : [];

  const holds = new Map<number, ('root' | 'boot' | 'esp-loader')[]>();
  const mark = (i: number, what: 'root' | 'boot' | 'esp-loader'): void => {
    holds.set(i, [...(holds.get(i) ?? []), what]);
  };
  const readers = new Map<number, ExtReader>();
  for (const p of parts) {
    if (/^ext[234]$/.test(probes.get(p.index)?.type ?? '')) readers.set(p.index, new ExtReader(path, p.startSector * SECTOR_SIZE));
  }
  // The root: the first ext file system with an os-release.
  let os: DiskReport['os'];
  let rootIdx: number | undefined;
  for (const [i, r] of readers) {
    const text = (await r.cat('/usr/lib/os-release')) ?? (await r.cat('/etc/os-release'));
    if (text && text.length > 0) {
      os = { ...parseOsRelease(text.toString('utf8')), partition: i };
      rootIdx = i;
      mark(i, 'root');
      break;
    }
  }
  // /boot: on the root, or a separate ext partition with vmlinuz-* at its top.
  const kernels: KernelReport[] = [];
  if (rootIdx !== undefined) {
    const root = readers.get(rootIdx)!;
    let boot = root;
    let bootPrefix = '/boot';
    let bootEnts = (await root.ls('/boot')) ?? [];
    let bootList = bootEnts.map((e) => e.name);
    if (!bootList.some((n) => n.startsWith('vmlinuz-'))) {
      for (const [i, r] of readers) {
        if (i === rootIdx) continue;
        const ents = (await r.ls('/')) ?? [];
        const l = ents.map((e) => e.name);
        if (l.some((n) => n.startsWith('vmlinuz-'))) {
          boot = r;
          bootPrefix = `(partition ${i})`;
          bootEnts = ents;
          bootList = l;
          mark(i, 'boot');
          break;
        }
      }
    } else mark(rootIdx, 'boot');
    const kernelFiles = bootList.filter((x) => /^vmlinu[xz]-/.test(x)).sort();
    if (kernelFiles.length > 32) throw new ImageError('ImageTooLarge', 'invalid', `/boot holds ${kernelFiles.length} kernels; more than 32 are refused.`, { kernels: kernelFiles.length });
    for (const n of kernelFiles) {
      const release = n.replace(/^vmlinu[xz]-/, '');
      kernels.push(await inspectKernel(root, boot, bootPrefix, release, n, new Map(bootEnts.map((e) => [e.name, e.size]))));
    }
  }
  // Boot loaders.
  let bios: string | undefined;
  if (table.kind !== 'none' && table.mbr.hasBootCode) bios = table.mbr.grubBootCode ? 'GRUB boot code in the MBR' : 'boot code in the MBR';
  let uefi: string | undefined;
  for (const p of parts) {
    if (p.role === 'esp' || (probes.get(p.index)?.type === 'vfat' && p.role !== 'other')) {
      const l = await espLoader(path, p.startSector * SECTOR_SIZE);
      if (l) {
        uefi = `${l} on partition ${p.index}`;
        mark(p.index, 'esp-loader');
        break;
      }
    }
  }
  const unsupportedFs = parts
    .map((p) => ({ partition: p.index, type: probes.get(p.index)?.type ?? 'unknown' }))
    .filter((u) => ['xfs', 'btrfs', 'lvm2', 'luks'].includes(u.type));
  const problems = decide({
    partitionsFound: parts.length > 0,
    unsupportedFs,
    osFound: os !== undefined,
    biosBoot: bios !== undefined,
    uefiBoot: uefi !== undefined,
    kernels,
  });
  const dk = defaultKernel(kernels);
  return {
    path,
    format: 'raw',
    virtualBytes: size,
    partitionTable: {
      kind: table.kind,
      ...(table.kind === 'gpt' ? { diskGuid: table.header.diskGuid } : {}),
      ...(table.kind === 'mbr' ? { diskSignature: `0x${table.mbr.diskSignature.toString(16).padStart(8, '0')}` } : {}),
      ...(table.kind === 'none' ? { note: table.reason } : {}),
    },
    partitions: parts.map((p) => ({ ...p, fs: probes.get(p.index) ?? { type: 'unknown' }, holds: holds.get(p.index) ?? [] })),
    ...(os ? { os } : {}),
    bootLoaders: { bios, uefi },
    bootModes: [...(bios ? (['legacy-bios'] as const) : []), ...(uefi ? (['uefi'] as const) : [])],
    kernels,
    ...(dk ? { defaultKernel: dk.release } : {}),
    verdict: { ok: problems.length === 0, problems },
    elapsedMs: Date.now() - t0,
  };
}
