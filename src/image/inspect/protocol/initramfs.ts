// Reading an initramfs as the kernel does: a sequence of cpio archives ("newc" 070701 or
// "crc" 070702), each ending with TRAILER!!!, separated by zero padding, and possibly
// followed by a compressed part (Debian: an uncompressed early archive with CPU microcode,
// then the main archive compressed with zstd). Pure: this splits the bytes and lists the
// entries; the caller decompresses a compressed part and calls again on the result.
import { ImageError } from '../../errors.js';

export interface CpioListing {
  readonly name: string;
  readonly mode: number;
  readonly size: number;
  readonly kind: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'other';
}

export type Compression = 'zstd' | 'gzip' | 'xz' | 'lzma' | 'bzip2' | 'lz4' | 'lzo';

export type InitramfsPart =
  | { readonly kind: 'cpio'; readonly offset: number; readonly entries: readonly CpioListing[] }
  | { readonly kind: 'compressed'; readonly offset: number; readonly compression: Compression }
  | { readonly kind: 'unknown'; readonly offset: number; readonly magic: string };

/** A malformed input; kind 'invalid'. Extends the image component's error base. */
export class CpioFormatError extends ImageError {
  constructor(code: string, message: string, context: Record<string, unknown> = {}) {
    super(code, 'invalid', message, context);
  }
}

const HEADER_LEN = 110;
const TRAILER = 'TRAILER!!!';

const MAGICS: readonly { bytes: readonly number[]; compression: Compression }[] = [
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], compression: 'zstd' },
  { bytes: [0x1f, 0x8b], compression: 'gzip' },
  { bytes: [0x1f, 0x9e], compression: 'gzip' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], compression: 'xz' },
  { bytes: [0x5d, 0x00, 0x00], compression: 'lzma' },
  { bytes: [0x42, 0x5a, 0x68], compression: 'bzip2' },
  { bytes: [0x02, 0x21, 0x4c, 0x18], compression: 'lz4' },
  { bytes: [0x89, 0x4c, 0x5a, 0x4f], compression: 'lzo' },
];

export function detectCompression(b: Uint8Array, off = 0): Compression | undefined {
  for (const m of MAGICS) if (m.bytes.every((x, i) => b[off + i] === x)) return m.compression;
  return undefined;
}

function kindOf(mode: number): CpioListing['kind'] {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return 'other';
  }
}

function hexField(b: Uint8Array, off: number, at: number): number {
  const s = Buffer.from(b.subarray(off, off + 8)).toString('latin1');
  if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new CpioFormatError('BadCpioHeader', `The cpio header at byte ${at} has a field '${s}' that is not 8 hex digits.`);
  return parseInt(s, 16);
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Lists one cpio archive starting at `off`; returns its entries and the offset after its trailer (4-aligned). */
export function readCpioArchive(b: Uint8Array, off: number): { entries: CpioListing[]; end: number } {
  const entries: CpioListing[] = [];
  let p = off;
  for (;;) {
    if (p + HEADER_LEN > b.length) throw new CpioFormatError('TruncatedCpio', `The cpio archive at byte ${off} ends at byte ${b.length} without a ${TRAILER} entry.`);
    const magic = Buffer.from(b.subarray(p, p + 6)).toString('latin1');
    if (magic !== '070701' && magic !== '070702') throw new CpioFormatError('BadCpioMagic', `The cpio entry at byte ${p} starts with '${magic}', not 070701 or 070702.`);
    const mode = hexField(b, p + 14, p);
    const size = hexField(b, p + 54, p);
    const nameSize = hexField(b, p + 94, p);
    if (nameSize < 1 || nameSize > 4096) throw new CpioFormatError('BadCpioHeader', `The cpio entry at byte ${p} has a name size of ${nameSize}.`);
    const nameStart = p + HEADER_LEN;
    if (nameStart + nameSize > b.length) throw new CpioFormatError('TruncatedCpio', `The cpio entry at byte ${p} has its name cut off.`);
    const name = Buffer.from(b.subarray(nameStart, nameStart + nameSize - 1)).toString('utf8');
    const dataStart = align4(nameStart + nameSize - off) + off;
    const next = align4(dataStart + size - off) + off;
    if (dataStart + size > b.length) throw new CpioFormatError('TruncatedCpio', `The cpio entry '${name}' at byte ${p} claims ${size} bytes past the end of the archive.`);
    if (name === TRAILER) return { entries, end: Math.min(next, b.length) };
    entries.push({ name: name.replace(/^\.\//, '').replace(/^\//, ''), mode, size, kind: kindOf(mode) });
    p = next;
  }
}

/** Splits an initramfs image into its cpio archives and a trailing compressed or unknown part. */
export function splitInitramfs(b: Uint8Array): InitramfsPart[] {
  const parts: InitramfsPart[] = [];
  let p = 0;
  while (p < b.length) {
    // the kernel skips zero bytes between archives
    while (p < b.length && b[p] === 0) p++;
    if (p >= b.length) break;
    const magic = Buffer.from(b.subarray(p, p + 6)).toString('latin1');
    if (magic === '070701' || magic === '070702') {
      const { entries, end } = readCpioArchive(b, p);
      parts.push({ kind: 'cpio', offset: p, entries });
      p = end;
      continue;
    }
    const compression = detectCompression(b, p);
    if (compression) parts.push({ kind: 'compressed', offset: p, compression });
    else parts.push({ kind: 'unknown', offset: p, magic: Buffer.from(b.subarray(p, p + 8)).toString('hex') });
    break; // a compressed part runs to the end; its own end is for the decompressor to find
  }
  return parts;
}
