// TCP segments (RFC 9293): header, MSS option, pseudo-header checksum. Pure.
import { malformed } from '../errors.js';
import { finish, pseudoHeaderSum, sumWords } from './checksum.js';
import { IPPROTO_TCP } from './ipv4.js';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export interface TcpSegment {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly mss: number | undefined;
  readonly payload: Buffer; // a view into the frame
}

/** Only the ports, for the security-group check of a first fragment or a forwarded segment. */
export function tcpPorts(b: Buffer, off: number, end: number): { srcPort: number; dstPort: number; flags: number } {
  if (end - off < 20) throw malformed('TCP header', { length: end - off });
  return { srcPort: b.readUInt16BE(off), dstPort: b.readUInt16BE(off + 2), flags: (b[off + 13] as number) & 0x3f };
}

/** Parses and checksums the segment in [off, end). */
export function parseTcp(b: Buffer, off: number, end: number, src: number, dst: number): TcpSegment {
  const len = end - off;
  if (len < 20) throw malformed('TCP header', { length: len });
  const dataOff = ((b[off + 12] as number) >> 4) * 4;
  if (dataOff < 20 || dataOff > len) throw malformed('TCP header', { dataOff });
  if (finish(sumWords(b, off, end, pseudoHeaderSum(src, dst, IPPROTO_TCP, len))) !== 0) throw malformed('TCP header', { reason: 'checksum' });
  let mss: number | undefined;
  for (let i = off + 20; i < off + dataOff; ) {
    const kind = b[i] as number;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= off + dataOff) throw malformed('TCP option', { kind });
    const olen = b[i + 1] as number;
    if (olen < 2 || i + olen > off + dataOff) throw malformed('TCP option', { kind, olen });
    if (kind === 2 && olen === 4) mss = b.readUInt16BE(i + 2);
    i += olen;
  }
  return {
    srcPort: b.readUInt16BE(off),
    dstPort: b.readUInt16BE(off + 2),
    seq: b.readUInt32BE(off + 4),
    ack: b.readUInt32BE(off + 8),
    flags: (b[off + 13] as number) & 0x3f,
    window: b.readUInt16BE(off + 14),
    mss,
    payload: b.subarray(off + dataOff, end),
  };
}

export interface TcpBuild {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly mss?: number;
}

export function buildTcp(src: number, dst: number, s: TcpBuild, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const hl = s.mss !== undefined ? 24 : 20;
  const b = Buffer.alloc(hl + payload.length);
  b.writeUInt16BE(s.srcPort, 0);
  b.writeUInt16BE(s.dstPort, 2);
  b.writeUInt32BE(s.seq >>> 0, 4);
  b.writeUInt32BE(s.ack >>> 0, 8);
  b[12] = (hl / 4) << 4;
  b[13] = s.flags;
  b.writeUInt16BE(s.window, 14);
  if (s.mss !== undefined) {
    b[20] = 2;
    b[21] = 4;
    b.writeUInt16BE(s.mss, 22);
  }
  b.set(payload, hl);
  b.writeUInt16BE(finish(sumWords(b, 0, b.length, pseudoHeaderSum(src, dst, IPPROTO_TCP, b.length))), 16);
  return b;
}

/** Sequence-number arithmetic modulo 2^32. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}
