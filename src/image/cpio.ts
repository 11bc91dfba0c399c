// A writer for the "newc" cpio format (SVR4 without CRC), the format the Linux kernel
// unpacks as an initramfs. Pure: entries in, bytes out. Reproducible by construction:
// entries are sorted by path, inode numbers are assigned in that order, and every entry
// gets the same mtime and owner, so the same entries always give the same bytes.
//
// Layout of one entry: a 110-byte ASCII header ("070701" and thirteen 8-digit hex
// fields), the NUL-terminated name padded to a multiple of 4 (counting the header), then
// the data padded to a multiple of 4. The archive ends with the entry "TRAILER!!!".
import { ImageError } from './errors.js';

export type CpioEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode: number }
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string }
  | { readonly type: 'char'; readonly path: string; readonly mode: number; readonly major: number; readonly minor: number };

export const CPIO_NEWC_MAGIC = '070701';
export const CPIO_TRAILER = 'TRAILER!!!';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

export interface CpioOptions {
  /** The mtime written into every entry, in seconds since the epoch. Default 0. */
  readonly mtime?: number;
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function validPath(p: string): boolean {
  return p.length > 0 && !p.startsWith('/') && !p.endsWith('/') && !p.split('/').some((s) => s === '' || s === '.' || s === '..');
}

interface Header {
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly size: number;
  readonly rdevmajor: number;
  readonly rdevminor: number;
  readonly name: string;
}

function headerBytes(h: Header): Buffer {
  const name = Buffer.from(`${h.name}\0`, 'utf8');
  const fields = [
    CPIO_NEWC_MAGIC,
    hex8(h.ino),
    hex8(h.mode),
    hex8(0), // uid
    hex8(0), // gid
    hex8(h.nlink),
    hex8(h.mtime),
    hex8(h.size),
    hex8(0), // devmajor
    hex8(0), // devminor
    hex8(h.rdevmajor),
    hex8(h.rdevminor),
    hex8(name.length),
    hex8(0), // check
  ].join('');
  const head = Buffer.from(fields, 'ascii');
  return Buffer.concat([head, name, Buffer.alloc(pad4(head.length + name.length))]);
}

/** Encodes the entries as one newc archive, sorted by path, ending with the trailer. */
export function encodeNewc(entries: readonly CpioEntry[], opts: CpioOptions = {}): Buffer {
  const mtime = opts.mtime ?? 0;
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const seen = new Set<string>();
  for (const e of sorted) {
    if (!validPath(e.path)) throw new ImageError('CpioBadPath', 'invalid', `The cpio entry path '${e.path}' is not a clean relative path.`, { path: e.path });
    if (seen.has(e.path)) throw new ImageError('CpioDuplicate', 'invalid', `The cpio entry '${e.path}' appears twice.`, { path: e.path });
    const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : undefined;
    if (parent !== undefined && !seen.has(parent)) {
      throw new ImageError('CpioMissingParent', 'invalid', `The cpio entry '${e.path}' has no directory entry for '${parent}'.`, { path: e.path });
    }
    seen.add(e.path);
  }
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of sorted) {
    let mode: number;
    let data: Uint8Array = new Uint8Array(0);
    let nlink = 1;
    let rdevmajor = 0;
    let rdevminor = 0;
    switch (e.type) {
      case 'dir':
        mode = S_IFDIR | (e.mode & 0o7777);
        nlink = 2;
        break;
      case 'file':
        mode = S_IFREG | (e.mode & 0o7777);
        data = e.data;
        break;
      case 'symlink':
        mode = S_IFLNK | 0o777;
        data = Buffer.from(e.target, 'utf8');
        break;
      case 'char':
        mode = S_IFCHR | (e.mode & 0o7777);
        rdevmajor = e.major;
        rdevminor = e.minor;
        break;
    }
    parts.push(headerBytes({ ino: ino++, mode, nlink, mtime, size: data.length, rdevmajor, rdevminor, name: e.path }));
    if (data.length > 0) {
      parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      parts.push(Buffer.alloc(pad4(data.length)));
    }
  }
  parts.push(headerBytes({ ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0, rdevmajor: 0, rdevminor: 0, name: CPIO_TRAILER }));
  return Buffer.concat(parts);
}
