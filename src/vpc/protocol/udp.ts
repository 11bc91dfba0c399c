// UDP (RFC 768) with the pseudo-header checksum. Pure.
import { malformed } from '../errors.js';
import { finish, pseudoHeaderSum, sumWords } from './checksum.js';
import { IPPROTO_UDP } from './ipv4.js';

export interface UdpHeader {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number;
}

/** Parses the UDP header in [off, end); verifies the checksum when it is non-zero. */
export function parseUdp(b: Buffer, off: number, end: number, src: number, dst: number): UdpHeader {
  if (end - off < 8) throw malformed('UDP header', { length: end - off });
  const length = b.readUInt16BE(off + 4);
  if (length < 8 || length > end - off) throw malformed('UDP header', { length });
  const ck = b.readUInt16BE(off + 6);
  if (ck !== 0 && finish(sumWords(b, off, off + length, pseudoHeaderSum(src, dst, IPPROTO_UDP, length))) !== 0) {
    throw malformed('UDP header', { reason: 'checksum' });
  }
  return { srcPort: b.readUInt16BE(off), dstPort: b.readUInt16BE(off + 2), length };
}

export function buildUdp(src: number, dst: number, srcPort: number, dstPort: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b.writeUInt16BE(srcPort, 0);
  b.writeUInt16BE(dstPort, 2);
  b.writeUInt16BE(b.length, 4);
  b.writeUInt16BE(0, 6);
  b.set(payload, 8);
  const ck = finish(sumWords(b, 0, b.length, pseudoHeaderSum(src, dst, IPPROTO_UDP, b.length)));
  b.writeUInt16BE(ck === 0 ? 0xffff : ck, 6);
  return b;
}
