// ICMP (RFC 792): the card reads type/code/identifier and answers echo to the gateway. Pure.
import { malformed } from '../errors.js';
import { internetChecksum } from './checksum.js';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;

export interface IcmpHeader {
  readonly type: number;
  readonly code: number;
  /** Identifier of an echo request/reply (0 for other types). */
  readonly id: number;
}

export function parseIcmp(b: Buffer, off: number, end: number): IcmpHeader {
  if (end - off < 8) throw malformed('ICMP message', { length: end - off });
  if (internetChecksum(b, off, end) !== 0) throw malformed('ICMP message', { reason: 'checksum' });
  const type = b[off] as number;
  const echo = type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
  return { type, code: b[off + 1] as number, id: echo ? b.readUInt16BE(off + 4) : 0 };
}

/** An ICMP message: type, code, the 4-byte rest-of-header and data. */
export function buildIcmp(type: number, code: number, rest: Uint8Array, data: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b[0] = type;
  b[1] = code;
  b.set(rest.subarray(0, 4), 4);
  b.set(data, 8);
  b.writeUInt16BE(internetChecksum(b), 2);
  return b;
}
