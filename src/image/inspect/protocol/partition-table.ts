// Partition tables as bytes: the MBR (sector 0, with DOS extended partitions' EBRs) and the
// UEFI GPT (header at LBA 1, entries after it, each with its CRC32). Pure: bytes in, typed
// tables out; the caller reads the sectors. 512-byte logical sectors.
//
// MBR sector 0: bytes 0..439 boot code, 440..443 disk signature, 446..509 four 16-byte
// entries (status, CHS first, type, CHS last, LBA start u32le, sector count u32le), 510..511
// 0x55 0xAA. An MBR whose only entry has type 0xee is the protective MBR of a GPT disk.
// GPT header (UEFI 2.x §5.3.2): "EFI PART", revision, header size, header CRC32 (computed with
// the field zeroed), my LBA, alternate LBA, first/last usable LBA, disk GUID, entries LBA,
// number of entries, entry size, entries CRC32. Entry: type GUID, unique GUID, first LBA,
// last LBA (inclusive), attributes, name (36 UTF-16LE code units).
import { ImageError } from '../../errors.js';

export const SECTOR_SIZE = 512;
export const MBR_SIGNATURE = 0xaa55;
export const MBR_TYPE_GPT_PROTECTIVE = 0xee;
export const MBR_TYPE_EFI_SYSTEM = 0xef;
export const MBR_TYPE_LINUX = 0x83;
export const MBR_TYPE_LINUX_SWAP = 0x82;
export const MBR_TYPE_LINUX_LVM = 0x8e;
export const MBR_EXTENDED_TYPES: readonly number[] = [0x05, 0x0f, 0x85];
export const GPT_SIGNATURE = 'EFI PART';

export const GPT_TYPE = {
  ESP: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  BIOS_BOOT: '21686148-6449-6E6F-744E-656564454649',
  LINUX_FS: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  LINUX_ROOT_X86_64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  LINUX_SWAP: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  LINUX_LVM: 'E6D6D379-F507-44C2-A23C-238F2A3DF928',
  MS_BASIC_DATA: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
} as const;

export type PartitionRole = 'esp' | 'bios-boot' | 'linux' | 'swap' | 'lvm' | 'extended' | 'other';

export interface MbrEntry {
  /** 1..4 for primary entries. */
  readonly index: number;
  readonly bootable: boolean;
  readonly type: number;
  readonly startLba: number;
  readonly sectors: number;
}

export interface Mbr {
  readonly diskSignature: number;
  /** True when the first 440 bytes are not all zero (some boot code is installed). */
  readonly hasBootCode: boolean;
  /** GRUB's boot.img carries the string "GRUB" in its code. */
  readonly grubBootCode: boolean;
  /** Non-empty primary entries. */
  readonly entries: readonly MbrEntry[];
  readonly protective: boolean;
}

export interface GptHeader {
  readonly revision: number;
  readonly headerSize: number;
  readonly myLba: bigint;
  readonly alternateLba: bigint;
  readonly firstUsableLba: bigint;
  readonly lastUsableLba: bigint;
  readonly diskGuid: string;
  readonly entriesLba: bigint;
  readonly entryCount: number;
  readonly entrySize: number;
  readonly entriesCrc32: number;
}

export interface GptEntry {
  /** 1-based slot number, as Linux numbers the partition. */
  readonly index: number;
  readonly typeGuid: string;
  readonly uniqueGuid: string;
  readonly firstLba: bigint;
  readonly lastLba: bigint;
  readonly attributes: bigint;
  readonly name: string;
}

/** A malformed input; kind 'invalid'. Extends the image component's error base. */
export class PartitionTableError extends ImageError {
  constructor(code: string, message: string, context: Record<string, unknown> = {}) {
    super(code, 'invalid', message, context);
  }
}

// --- CRC32 (IEEE 802.3, reflected, as UEFI uses) -------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = (CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return (c ^ 0xffffffff) >>> 0;
}

// --- GUIDs --------------------------------------------------------------------------------

/** A GUID as stored on disk (first three fields little-endian) to its canonical upper-case text. */
export function guidToString(b: Uint8Array): string {
  if (b.length !== 16) throw new PartitionTableError('BadGuid', `A GUID is 16 bytes, not ${b.length}.`);
  const h = (i: number): string => b[i]!.toString(16).padStart(2, '0');
  return `${h(3)}${h(2)}${h(1)}${h(0)}-${h(5)}${h(4)}-${h(7)}${h(6)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`.toUpperCase();
}

/** The inverse of guidToString. */
export function guidToBytes(s: string): Uint8Array {
  const hex = s.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new PartitionTableError('BadGuid', `'${s}' is not a GUID.`);
  const raw = Uint8Array.from(hex.match(/../g)!.map((x) => parseInt(x, 16)));
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Uint8Array.from(order.map((i) => raw[i]!));
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

// --- MBR ----------------------------------------------------------------------------------

/** Decodes sector 0. Throws NoMbr when the 0x55AA signature is missing. */
export function decodeMbr(sector0: Uint8Array): Mbr {
  if (sector0.length < SECTOR_SIZE) throw new PartitionTableError('ShortSector', `Sector 0 needs ${SECTOR_SIZE} bytes, got ${sector0.length}.`);
  const v = view(sector0);
  if (v.getUint16(510, true) !== MBR_SIGNATURE) throw new PartitionTableError('NoMbr', 'Sector 0 does not end with the MBR signature 55 AA.');
  const entries: MbrEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const e = decodeMbrEntry(sector0, 446 + i * 16, i + 1);
    if (e) entries.push(e);
  }
  const code = sector0.subarray(0, 440);
  const hasBootCode = code.some((x) => x !== 0);
  const grubBootCode = Buffer.from(code).includes('GRUB');
  const protective = entries.length > 0 && entries.every((e) => e.type === MBR_TYPE_GPT_PROTECTIVE);
  return { diskSignature: v.getUint32(440, true), hasBootCode, grubBootCode, entries, protective };
}

function decodeMbrEntry(sector: Uint8Array, off: number, index: number): MbrEntry | undefined {
  const v = view(sector);
  const status = sector[off]!;
  const type = sector[off + 4]!;
  const startLba = v.getUint32(off + 8, true);
  const sectors = v.getUint32(off + 12, true);
  if (type === 0 || sectors === 0) return undefined;
  if (status !== 0 && status !== 0x80) throw new PartitionTableError('BadMbrEntry', `MBR entry ${index} has the status byte 0x${status.toString(16)}, neither 0x00 nor 0x80.`);
  return { index, bootable: status === 0x80, type, startLba, sectors };
}

/**
 * Decodes an EBR (the first sector of a logical partition's slot in a DOS extended
 * partition): entry 1 is the logical partition relative to this EBR, entry 2 the next EBR
 * relative to the start of the extended partition.
 */
export function decodeEbr(sector: Uint8Array): { logical?: MbrEntry; nextRelative?: number } {
  const v = view(sector);
  if (sector.length < SECTOR_SIZE || v.getUint16(510, true) !== MBR_SIGNATURE) throw new PartitionTableError('BadEbr', 'An extended boot record lacks the 55 AA signature.');
  const logical = decodeMbrEntry(sector, 446, 0);
  const next = decodeMbrEntry(sector, 462, 0);
  return { ...(logical ? { logical } : {}), ...(next ? { nextRelative: next.startLba } : {}) };
}

// --- GPT ----------------------------------------------------------------------------------

/** Decodes and checks the GPT header in `sector` (normally LBA 1). Throws on a bad signature or CRC. */
export function decodeGptHeader(sector: Uint8Array): GptHeader {
  if (sector.length < 92) throw new PartitionTableError('ShortSector', 'A GPT header needs 92 bytes.');
  if (Buffer.from(sector.subarray(0, 8)).toString('latin1') !== GPT_SIGNATURE) throw new PartitionTableError('NoGpt', 'LBA 1 does not start with "EFI PART".');
  const v = view(sector);
  const headerSize = v.getUint32(12, true);
  if (headerSize < 92 || headerSize > sector.length) throw new PartitionTableError('BadGptHeader', `The GPT header size ${headerSize} is out of range.`);
  const copy = Uint8Array.from(sector.subarray(0, headerSize));
  copy.fill(0, 16, 20);
  const crc = v.getUint32(16, true);
  if (crc32(copy) !== crc) throw new PartitionTableError('BadGptCrc', `The GPT header CRC32 is 0x${crc.toString(16)}, the header hashes to 0x${crc32(copy).toString(16)}.`);
  const entryCount = v.getUint32(80, true);
  const entrySize = v.getUint32(84, true);
  if (entrySize < 128 || entrySize % 8 !== 0 || entrySize > 4096) throw new PartitionTableError('BadGptHeader', `The GPT entry size ${entrySize} is not valid.`);
  if (entryCount > 1024) throw new PartitionTableError('BadGptHeader', `The GPT claims ${entryCount} entries; at most 1024 are accepted.`);
  return {
    revision: v.getUint32(8, true),
    headerSize,
    myLba: v.getBigUint64(24, true),
    alternateLba: v.getBigUint64(32, true),
    firstUsableLba: v.getBigUint64(40, true),
    lastUsableLba: v.getBigUint64(48, true),
    diskGuid: guidToString(sector.subarray(56, 72)),
    entriesLba: v.getBigUint64(72, true),
    entryCount,
    entrySize,
    entriesCrc32: v.getUint32(88, true),
  };
}

/** Decodes the entry array (entryCount × entrySize bytes) after checking its CRC32; empty slots are left out. */
export function decodeGptEntries(bytes: Uint8Array, header: GptHeader): GptEntry[] {
  const len = header.entryCount * header.entrySize;
  if (bytes.length < len) throw new PartitionTableError('ShortEntries', `The GPT entry array needs ${len} bytes, got ${bytes.length}.`);
  const arr = bytes.subarray(0, len);
  if (crc32(arr) !== header.entriesCrc32) throw new PartitionTableError('BadGptCrc', 'The GPT entry array does not match its CRC32.');
  const out: GptEntry[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const e = arr.subarray(i * header.entrySize, (i + 1) * header.entrySize);
    if (e.subarray(0, 16).every((x) => x === 0)) continue;
    const v = view(e);
    const firstLba = v.getBigUint64(32, true);
    const lastLba = v.getBigUint64(40, true);
    if (lastLba < firstLba) throw new PartitionTableError('BadGptEntry', `GPT entry ${i + 1} ends (LBA ${lastLba}) before it starts (LBA ${firstLba}).`);
    let name = Buffer.from(e.subarray(56, 128)).toString('utf16le');
    const nul = name.indexOf('\0');
    if (nul >= 0) name = name.slice(0, nul);
    out.push({ index: i + 1, typeGuid: guidToString(e.subarray(0, 16)), uniqueGuid: guidToString(e.subarray(16, 32)), firstLba, lastLba, attributes: v.getBigUint64(48, true), name });
  }
  return out;
}

export function mbrRole(type: number): PartitionRole {
  if (type === MBR_TYPE_EFI_SYSTEM) return 'esp';
  if (type === MBR_TYPE_LINUX) return 'linux';
  if (type === MBR_TYPE_LINUX_SWAP) return 'swap';
  if (type === MBR_TYPE_LINUX_LVM) return 'lvm';
  if (MBR_EXTENDED_TYPES.includes(type)) return 'extended';
  return 'other';
}

export function gptRole(typeGuid: string): PartitionRole {
  switch (typeGuid.toUpperCase()) {
    case GPT_TYPE.ESP:
      return 'esp';
    case GPT_TYPE.BIOS_BOOT:
      return 'bios-boot';
    case GPT_TYPE.LINUX_FS:
    case GPT_TYPE.LINUX_ROOT_X86_64:
    case GPT_TYPE.MS_BASIC_DATA: // many Linux installers used it for ext4 before 0FC63DAF
      return 'linux';
    case GPT_TYPE.LINUX_SWAP:
      return 'swap';
    case GPT_TYPE.LINUX_LVM:
      return 'lvm';
    default:
      return 'other';
  }
}

// --- one view over both -------------------------------------------------------------------

export interface Partition {
  readonly index: number;
  readonly role: PartitionRole;
  /** "0x83" for MBR, the type GUID for GPT. */
  readonly type: string;
  readonly startSector: number;
  readonly sectors: number;
  readonly bootable: boolean;
  readonly name?: string;
}

export type PartitionTable =
  | { readonly kind: 'gpt'; readonly header: GptHeader; readonly mbr: Mbr; readonly partitions: readonly Partition[] }
  | { readonly kind: 'mbr'; readonly mbr: Mbr; readonly partitions: readonly Partition[] }
  | { readonly kind: 'none'; readonly reason: string };

/**
 * Decodes the table from the first sectors of a disk. `head` holds at least LBA 0..1 and,
 * for GPT, the entry array (34 sectors cover the usual 128 × 128-byte array); `readSector`
 * gives any other sector (EBR chains). Logical partitions are numbered from 5 as Linux does.
 */
export function decodePartitionTable(head: Uint8Array, readSector: (lba: number) => Uint8Array, diskSectors: number): PartitionTable {
  let mbr: Mbr;
  try {
    mbr = decodeMbr(head.subarray(0, SECTOR_SIZE));
  } catch (e) {
    return { kind: 'none', reason: (e as Error).message };
  }
  if (mbr.protective && head.length >= 2 * SECTOR_SIZE) {
    const header = decodeGptHeader(head.subarray(SECTOR_SIZE, 2 * SECTOR_SIZE));
    const start = Number(header.entriesLba) * SECTOR_SIZE;
    const len = header.entryCount * header.entrySize;
    let arr: Uint8Array;
    if (start + len <= head.length) arr = head.subarray(start, start + len);
    else {
      const parts: Uint8Array[] = [];
      for (let s = 0; s < Math.ceil(len / SECTOR_SIZE); s++) parts.push(readSector(Number(header.entriesLba) + s));
      arr = Buffer.concat(parts);
    }
    const partitions = decodeGptEntries(arr, header).map((e) => ({
      index: e.index,
      role: gptRole(e.typeGuid),
      type: e.typeGuid,
      startSector: Number(e.firstLba),
      sectors: Number(e.lastLba - e.firstLba + 1n),
      bootable: (e.attributes & 4n) !== 0n,
      name: e.name,
    }));
    checkBounds(partitions, diskSectors);
    return { kind: 'gpt', header, mbr, partitions };
  }
  const partitions: Partition[] = [];
  for (const e of mbr.entries) {
    partitions.push({ index: e.index, role: mbrRole(e.type), type: `0x${e.type.toString(16).padStart(2, '0')}`, startSector: e.startLba, sectors: e.sectors, bootable: e.bootable });
    if (MBR_EXTENDED_TYPES.includes(e.type)) {
      let ebrLba = e.startLba;
      let n = 5;
      const seen = new Set<number>();
      while (n < 5 + 128) {
        if (seen.has(ebrLba)) throw new PartitionTableError('EbrLoop', `The extended partition's EBR chain loops at LBA ${ebrLba}.`);
        seen.add(ebrLba);
        const ebr = decodeEbr(readSector(ebrLba));
        if (ebr.logical) {
          partitions.push({ index: n++, role: mbrRole(ebr.logical.type), type: `0x${ebr.logical.type.toString(16).padStart(2, '0')}`, startSector: ebrLba + ebr.logical.startLba, sectors: ebr.logical.sectors, bootable: ebr.logical.bootable });
        }
        if (ebr.nextRelative === undefined) break;
        ebrLba = e.startLba + ebr.nextRelative;
      }
    }
  }
  checkBounds(partitions, diskSectors);
  return { kind: 'mbr', mbr, partitions };
}

function checkBounds(partitions: readonly Partition[], diskSectors: number): void {
  for (const p of partitions) {
    if (p.role === 'extended') continue;
    if (p.startSector < 1 || p.startSector + p.sectors > diskSectors) {
      throw new PartitionTableError('PartitionOutOfBounds', `Partition ${p.index} (sectors ${p.startSector}..${p.startSector + p.sectors - 1}) lies outside the ${diskSectors}-sector disk.`);
    }
  }
}
