// NBD transmission phase: request headers in, simple and structured replies out. The
// cookie is opaque and handled as two 32-bit halves so no BigInt is made per request.
import {
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_HEADER_SIZE,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_HEADER_SIZE,
  NBD_STRUCTURED_REPLY_MAGIC,
} from './constants.js';

export interface RequestHeader {
  readonly magicOk: boolean;
  readonly flags: number;
  readonly type: number;
  readonly cookieHi: number;
  readonly cookieLo: number;
  /** Byte offset; above 2^53 it is imprecise but then always past any export's end. */
  readonly offset: number;
  readonly length: number;
}

export function decodeRequestHeader(b: Buffer, at = 0): RequestHeader {
  return {
    magicOk: b.readUInt32BE(at) === NBD_REQUEST_MAGIC,
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    cookieHi: b.readUInt32BE(at + 8),
    cookieLo: b.readUInt32BE(at + 12),
    offset: b.readUInt32BE(at + 16) * 0x100000000 + b.readUInt32BE(at + 20),
    length: b.readUInt32BE(at + 24),
  };
}

/** Builds a request (used by tests and by the fuzzer; servers only decode). */
export function encodeRequest(type: number, flags: number, cookie: bigint, offset: bigint | number, length: number, payload?: Buffer): Buffer {
  const b = Buffer.alloc(28 + (payload?.length ?? 0));
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  b.writeBigUInt64BE(BigInt(offset), 16);
  b.writeUInt32BE(length, 24);
  payload?.copy(b, 28);
  return b;
}

export function writeSimpleReplyHeader(b: Buffer, at: number, error: number, cookieHi: number, cookieLo: number): void {
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, at);
  b.writeUInt32BE(error, at + 4);
  b.writeUInt32BE(cookieHi, at + 8);
  b.writeUInt32BE(cookieLo, at + 12);
}

export function encodeSimpleReply(error: number, cookieHi: number, cookieLo: number): Buffer {
  const b = Buffer.allocUnsafe(NBD_SIMPLE_REPLY_HEADER_SIZE);
  writeSimpleReplyHeader(b, 0, error, cookieHi, cookieLo);
  return b;
}

export function writeStructuredHeader(b: Buffer, at: number, flags: number, type: number, cookieHi: number, cookieLo: number, length: number): void {
  b.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, at);
  b.writeUInt16BE(flags, at + 4);
  b.writeUInt16BE(type, at + 6);
  b.writeUInt32BE(cookieHi, at + 8);
  b.writeUInt32BE(cookieLo, at + 12);
  b.writeUInt32BE(length, at + 16);
}

/** Bytes before the data in a one-chunk NBD_REPLY_TYPE_OFFSET_DATA reply (header + offset). */
export const OFFSET_DATA_PREFIX = NBD_STRUCTURED_REPLY_HEADER_SIZE + 8;

/** Fill the 28-byte prefix of an OFFSET_DATA chunk whose `dataLength` bytes follow it. */
export function writeOffsetDataPrefix(b: Buffer, at: number, cookieHi: number, cookieLo: number, offset: number, dataLength: number, done: boolean): void {
  writeStructuredHeader(b, at, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA, cookieHi, cookieLo, 8 + dataLength);
  b.writeUInt32BE(Math.floor(offset / 0x100000000), at + 20);
  b.writeUInt32BE(offset >>> 0, at + 24);
}

export function encodeStructuredNone(cookieHi: number, cookieLo: number): Buffer {
  const b = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_HEADER_SIZE);
  writeStructuredHeader(b, 0, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookieHi, cookieLo, 0);
  return b;
}

export function encodeStructuredError(cookieHi: number, cookieLo: number, error: number, message: string): Buffer {
  const m = Buffer.from(message.slice(0, 256), 'utf8');
  const b = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_HEADER_SIZE + 6 + m.length);
  writeStructuredHeader(b, 0, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookieHi, cookieLo, 6 + m.length);
  b.writeUInt32BE(error, 20);
  b.writeUInt16BE(m.length, 24);
  m.copy(b, 26);
  return b;
}

export interface BlockStatusExtent {
  readonly length: number;
  readonly flags: number;
}

export function encodeBlockStatus(cookieHi: number, cookieLo: number, contextId: number, extents: readonly BlockStatusExtent[], done: boolean): Buffer {
  const len = 4 + 8 * extents.length;
  const b = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_HEADER_SIZE + len);
  writeStructuredHeader(b, 0, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_BLOCK_STATUS, cookieHi, cookieLo, len);
  b.writeUInt32BE(contextId, 20);
  let at = 24;
  for (const e of extents) {
    b.writeUInt32BE(e.length, at);
    b.writeUInt32BE(e.flags, at + 4);
    at += 8;
  }
  return b;
}

export { NBD_SIMPLE_REPLY_HEADER_SIZE };
