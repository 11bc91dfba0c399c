// The NBD fixed-newstyle handshake as pure encode/decode functions: the server greeting,
// client flags, option requests, option replies and the payloads of INFO/GO, LIST and the
// meta-context options. Nothing here touches a socket.
import {
  IHAVEOPT,
  MAX_STRING_LENGTH,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBDMAGIC,
  NBD_REP_MAGIC,
} from './constants.js';

export const GREETING_SIZE = 18;
export const CLIENT_FLAGS_SIZE = 4;
export const OPTION_HEADER_SIZE = 16;

export function encodeServerGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(GREETING_SIZE);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export function decodeClientFlags(b: Buffer): number {
  return b.readUInt32BE(0);
}

export interface OptionHeader {
  readonly magicOk: boolean;
  readonly option: number;
  readonly length: number;
}

export function decodeOptionHeader(b: Buffer): OptionHeader {
  return { magicOk: b.readBigUInt64BE(0) === IHAVEOPT, option: b.readUInt32BE(8), length: b.readUInt32BE(12) };
}

export function encodeOptionReply(option: number, replyType: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(20 + payload.length);
  b.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(replyType >>> 0, 12);
  b.writeUInt32BE(payload.length, 16);
  payload.copy(b, 20);
  return b;
}

/** An error reply with a human-readable message (the spec allows UTF-8 text as payload). */
export function encodeOptionError(option: number, replyType: number, message: string): Buffer {
  return encodeOptionReply(option, replyType, Buffer.from(message.slice(0, 256), 'utf8'));
}

/** Reply to NBD_OPT_EXPORT_NAME: size, transmission flags and (unless NO_ZEROES) 124 zero bytes. */
export function encodeExportNameReply(size: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(size), 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

function readString(b: Buffer, off: number, len: number): Decoded<string> {
  if (len > MAX_STRING_LENGTH) return { ok: false, reason: 'string longer than 4096 bytes' };
  if (off + len > b.length) return { ok: false, reason: 'string runs past the option data' };
  const s = b.subarray(off, off + len);
  if (s.includes(0)) return { ok: false, reason: 'string contains NUL' };
  const text = s.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(s)) return { ok: false, reason: 'string is not valid UTF-8' };
  return { ok: true, value: text };
}

export interface InfoRequest {
  readonly name: string;
  readonly infos: readonly number[];
}

/** Data of NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, count × u16 info type. */
export function decodeInfoRequest(b: Buffer): Decoded<InfoRequest> {
  if (b.length < 6) return { ok: false, reason: 'INFO/GO data shorter than 6 bytes' };
  const nameLen = b.readUInt32BE(0);
  const name = readString(b, 4, nameLen);
  if (!name.ok) return name;
  const at = 4 + nameLen;
  if (at + 2 > b.length) return { ok: false, reason: 'INFO/GO data has no request count' };
  const n = b.readUInt16BE(at);
  if (at + 2 + 2 * n !== b.length) return { ok: false, reason: 'INFO/GO request count does not match the data length' };
  const infos: number[] = [];
  for (let i = 0; i < n; i++) infos.push(b.readUInt16BE(at + 2 + 2 * i));
  return { ok: true, value: { name: name.value, infos } };
}

export interface MetaContextRequest {
  readonly name: string;
  readonly queries: readonly string[];
}

/** Data of NBD_OPT_{LIST,SET}_META_CONTEXT: u32 name length, name, u32 count, count × (u32 len, query). */
export function decodeMetaContextRequest(b: Buffer): Decoded<MetaContextRequest> {
  if (b.length < 8) return { ok: false, reason: 'meta context data shorter than 8 bytes' };
  const nameLen = b.readUInt32BE(0);
  const name = readString(b, 4, nameLen);
  if (!name.ok) return name;
  let at = 4 + nameLen;
  if (at + 4 > b.length) return { ok: false, reason: 'meta context data has no query count' };
  const n = b.readUInt32BE(at);
  at += 4;
  const queries: string[] = [];
  for (let i = 0; i < n; i++) {
    if (at + 4 > b.length) return { ok: false, reason: 'meta context query count exceeds the data' };
    const len = b.readUInt32BE(at);
    const q = readString(b, at + 4, len);
    if (!q.ok) return q;
    queries.push(q.value);
    at += 4 + len;
  }
  if (at !== b.length) return { ok: false, reason: 'trailing bytes after the meta context queries' };
  return { ok: true, value: { name: name.value, queries } };
}

export function encodeInfoExport(size: number, transmissionFlags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(NBD_INFO_EXPORT, 0);
  b.writeBigUInt64BE(BigInt(size), 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}

export function encodeInfoName(name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(2 + n.length);
  b.writeUInt16BE(NBD_INFO_NAME, 0);
  n.copy(b, 2);
  return b;
}

export function encodeInfoDescription(description: string): Buffer {
  const d = Buffer.from(description, 'utf8');
  const b = Buffer.alloc(2 + d.length);
  b.writeUInt16BE(NBD_INFO_DESCRIPTION, 0);
  d.copy(b, 2);
  return b;
}

export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(minimum, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(maximum, 10);
  return b;
}

/** Payload of an NBD_REP_SERVER reply to NBD_OPT_LIST. */
export function encodeServerEntry(name: string, description?: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const d = Buffer.from(description ?? '', 'utf8');
  const b = Buffer.alloc(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

/** Payload of an NBD_REP_META_CONTEXT reply. */
export function encodeMetaContext(id: number, name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(4 + n.length);
  b.writeUInt32BE(id, 0);
  n.copy(b, 4);
  return b;
}
