// The guest kernel: Debian's cloud kernel, and the uncompressed ELF inside its bzImage.
// QEMU boots that ELF directly through its PVH entry point (-kernel vmlinux), which skips
// the real-mode setup and the in-guest decompression. The bzImage header says where the
// compressed payload is (boot protocol 2.08+: payload_offset at 0x248, payload_length at
// 0x24c, relative to the protected-mode code that starts after the setup sectors). Debian
// compresses it with LZ4 in the legacy frame format, with the uncompressed size appended
// as 4 little-endian bytes, which the `lz4` tool does not expect, so they are cut off.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError } from './errors.js';

export const LZ4_LEGACY_MAGIC = Buffer.from([0x02, 0x21, 0x4c, 0x18]);
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point PVH boot uses. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const PT_NOTE = 4;

export interface KernelSource {
  /** The kernel release, e.g. 6.1.0-56-cloud-amd64. */
  readonly release: string;
  readonly bzImagePath: string;
  readonly modulesDir: string;
}

/** Orders kernel releases like `sort -V` would for Debian's names (numeric runs compare as numbers). */
export function compareReleases(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    if (i % 2 === 1 && Number.isFinite(nx) && Number.isFinite(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The newest installed Debian cloud kernel (/boot/vmlinuz-*-cloud-amd64 with its modules). */
export function findCloudKernel(bootDir = '/boot', modulesRoot = '/lib/modules'): KernelSource {
  let names: string[] = [];
  try {
    names = readdirSync(bootDir);
  } catch {
    // reported below
  }
  const releases = names
    .filter((n) => /^vmlinuz-.+-cloud-amd64$/.test(n))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((r) => existsSync(join(modulesRoot, r)))
    .sort(compareReleases);
  const release = releases[releases.length - 1];
  if (release === undefined) {
    throw new ImageError(
      'ImageKernelMissing',
      'unavailable',
      `No Debian cloud kernel with modules was found (${bootDir}/vmlinuz-*-cloud-amd64 and ${modulesRoot}/<release>); install linux-image-cloud-amd64.`,
      { bootDir, modulesRoot },
    );
  }
  return { release, bzImagePath: join(bootDir, `vmlinuz-${release}`), modulesDir: join(modulesRoot, release) };
}

export interface BzImagePayload {
  readonly offset: number;
  /** The LZ4 legacy stream without the 4-byte size trailer. */
  readonly stream: Buffer;
  readonly uncompressedSize: number;
}

/** Finds the LZ4-compressed kernel inside a bzImage. Pure. */
export function lz4PayloadOf(bz: Buffer): BzImagePayload {
  const fail = (why: string): never => {
    throw new ImageError('ImageKernelFormat', 'invalid', `The bzImage has no LZ4 payload that can be extracted: ${why}.`, {});
  };
  if (bz.length < 0x250 || bz.toString('latin1', 0x202, 0x206) !== 'HdrS') fail('no HdrS boot header');
  const version = bz.readUInt16LE(0x206);
  let offset = -1;
  let length = 0;
  if (version >= 0x208) {
    const setupSects = bz[0x1f1] || 4;
    const base = (setupSects + 1) * 512;
    offset = base + bz.readUInt32LE(0x248);
    length = bz.readUInt32LE(0x24c);
    if (offset + length > bz.length || !bz.subarray(offset, offset + 4).equals(LZ4_LEGACY_MAGIC)) offset = -1;
  }
  if (offset < 0) {
    // Older header or a different layout: search for the magic and take the rest.
    offset = bz.indexOf(LZ4_LEGACY_MAGIC);
    if (offset < 0) fail('the LZ4 legacy magic 02 21 4c 18 does not occur');
    length = bz.length - offset;
  }
  if (length < 8) fail('the payload is too short');
  const uncompressedSize = bz.readUInt32LE(offset + length - 4);
  return { offset, stream: bz.subarray(offset, offset + length - 4), uncompressedSize };
}

/** True when the buffer is a 64-bit ELF with a Xen PHYS32_ENTRY note (the PVH entry point). Pure. */
export function hasPvhNote(elf: Buffer): boolean {
  if (elf.length < 64 || !elf.subarray(0, 4).equals(ELF_MAGIC) || elf[4] !== 2 || elf[5] !== 1) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length) return false;
    if (elf.readUInt32LE(ph) !== PT_NOTE) continue;
    const off = Number(elf.readBigUInt64LE(ph + 0x08));
    const size = Number(elf.readBigUInt64LE(ph + 0x20));
    let p = off;
    const end = Math.min(off + size, elf.length);
    while (p + 12 <= end) {
      const namesz = elf.readUInt32LE(p);
      const descsz = elf.readUInt32LE(p + 4);
      const type = elf.readUInt32LE(p + 8);
      const name = elf.toString('latin1', p + 12, p + 12 + Math.max(0, namesz - 1));
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      p += 12 + Math.ceil(namesz / 4) * 4 + Math.ceil(descsz / 4) * 4;
    }
  }
  return false;
}

/** Decompresses the PVH vmlinux out of a bzImage with the `lz4` tool and checks it. */
export function extractVmlinux(bz: Buffer): Buffer {
  const payload = lz4PayloadOf(bz);
  const r = spawnSync('lz4', ['-dc'], { input: payload.stream, maxBuffer: payload.uncompressedSize + 1024 * 1024 });
  if (r.error) {
    throw new ImageError('ImageToolMissing', 'unavailable', 'The lz4 tool could not be run; install the lz4 package.', { tool: 'lz4' }, { cause: r.error });
  }
  if (r.status !== 0) {
    throw new ImageError('ImageKernelFormat', 'invalid', `lz4 -dc failed with status ${r.status}: ${r.stderr.toString('utf8').trim()}`, {});
  }
  const out = r.stdout;
  if (out.length !== payload.uncompressedSize) {
    throw new ImageError('ImageKernelFormat', 'invalid', `The decompressed kernel has ${out.length} bytes, the bzImage announced ${payload.uncompressedSize}.`, {});
  }
  if (!hasPvhNote(out)) {
    throw new ImageError('ImageKernelFormat', 'invalid', 'The decompressed kernel is not an ELF with a PVH entry note.', {});
  }
  return out;
}
