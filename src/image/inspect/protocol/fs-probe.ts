// Which file system a partition holds, from its first 68 KiB, as blkid would tell. Pure.
// ext2/3/4: superblock at byte 1024, magic 0xEF53 at +56 (s_magic), feature words at +92
// (compat), +96 (incompat), +100 (ro_compat), UUID at +104, volume name at +120 (16 bytes).

export type FsType = 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs' | 'vfat' | 'swap' | 'lvm2' | 'luks' | 'unknown';

export interface FsProbe {
  readonly type: FsType;
  readonly uuid?: string;
  readonly label?: string;
  /** ext: incompatible features GRUB 2.06 and older kernels may not read. */
  readonly features?: readonly string[];
}

/** The bytes a probe needs from the start of the partition. */
export const PROBE_BYTES = 68 * 1024;

const EXT_MAGIC = 0xef53;
const EXT_COMPAT_HAS_JOURNAL = 0x4;
const EXT_INCOMPAT: readonly [number, string][] = [
  [0x2, 'filetype'],
  [0x4, 'needs_recovery'],
  [0x40, 'extents'],
  [0x80, '64bit'],
  [0x200, 'flex_bg'],
  [0x2000, 'metadata_csum_seed'],
  [0x8000, 'inline_data'],
  [0x10000, 'encrypt'],
  [0x20000, 'casefold'],
];

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function extUuid(b: Uint8Array): string {
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function cstr(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return Buffer.from(nul >= 0 ? b.subarray(0, nul) : b).toString('utf8');
}

export function probeFs(head: Uint8Array): FsProbe {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const ascii = (off: number, len: number): string => (head.length >= off + len ? Buffer.from(head.subarray(off, off + len)).toString('latin1') : '');
  if (head.length >= 1024 + 136 && v.getUint16(1024 + 56, true) === EXT_MAGIC) {
    const sb = 1024;
    const compat = v.getUint32(sb + 92, true);
    const incompat = v.getUint32(sb + 96, true);
    const type: FsType = incompat & 0x40 || incompat & 0x80 || incompat & 0x200 ? 'ext4' : compat & EXT_COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
    const features = EXT_INCOMPAT.filter(([bit]) => incompat & bit).map(([, n]) => n);
    const label = cstr(head.subarray(sb + 120, sb + 136));
    return { type, uuid: extUuid(head.subarray(sb + 104, sb + 120)), ...(label ? { label } : {}), features };
  }
  if (ascii(0, 4) === 'XFSB') return { type: 'xfs' };
  if (ascii(65536 + 64, 8) === '_BHRfS_M') return { type: 'btrfs' };
  if (ascii(0, 6) === 'LUKS\xba\xbe') return { type: 'luks' };
  if (ascii(512, 8) === 'LABELONE' && ascii(512 + 24, 8) === 'LVM2 001') return { type: 'lvm2' };
  if (ascii(4096 - 10, 10) === 'SWAPSPACE2') return { type: 'swap' };
  if (head.length >= 512 && v.getUint16(510, true) === 0xaa55 && (ascii(54, 3) === 'FAT' || ascii(82, 3) === 'FAT')) {
    const label = ascii(54, 3) === 'FAT' ? ascii(43, 11).trim() : ascii(71, 11).trim();
    return { type: 'vfat', ...(label && label !== 'NO NAME' ? { label } : {}) };
  }
  return { type: 'unknown' };
}
