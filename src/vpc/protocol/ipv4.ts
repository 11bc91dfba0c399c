// IPv4 headers (RFC 791) with the header checksum. Options are carried, not interpreted.
// Fragments are reported so the card can refuse to look for ports in them. Pure.
import { malformed } from '../errors.js';
import { internetChecksum } from './checksum.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export interface Ipv4Header {
  readonly headerLen: number;
  readonly totalLen: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly src: number;
  readonly dst: number;
  /** True for any fragment but a whole datagram (MF set or offset non-zero). */
  readonly fragment: boolean;
  /** True when this is a non-first fragment (no transport header in it). */
  readonly laterFragment: boolean;
}

/** Parses the IPv4 header at `off` of `b` and verifies its checksum and lengths. */
export function parseIpv4(b: Buffer, off = 0): Ipv4Header {
  const avail = b.length - off;
  if (avail < 20) throw malformed('IPv4 header', { length: avail });
  const vihl = b[off] as number;
  if (vihl >> 4 !== 4) throw malformed('IPv4 header', { version: vihl >> 4 });
  const headerLen = (vihl & 15) * 4;
  if (headerLen < 20 || headerLen > avail) throw malformed('IPv4 header', { headerLen });
  const totalLen = b.readUInt16BE(off + 2);
  if (totalLen < headerLen || totalLen > avail) throw malformed('IPv4 header', { totalLen, available: avail });
  if (internetChecksum(b, off, off + headerLen) !== 0) throw malformed('IPv4 header', { reason: 'checksum' });
  const flagsFrag = b.readUInt16BE(off + 6);
  const fragOffset = flagsFrag & 0x1fff;
  return {
    headerLen,
    totalLen,
    ttl: b[off + 8] as number,
    protocol: b[off + 9] as number,
    src: b.readUInt32BE(off + 12),
    dst: b.readUInt32BE(off + 16),
    fragment: (flagsFrag & 0x2000) !== 0 || fragOffset !== 0,
    laterFragment: fragOffset !== 0,
  };
}

export interface Ipv4Build {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  readonly ttl?: number;
  readonly id?: number;
  readonly dontFragment?: boolean;
}

export function buildIpv4(h: Ipv4Build, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(20 + payload.length);
  b[0] = 0x45;
  b[1] = 0;
  b.writeUInt16BE(20 + payload.length, 2);
  b.writeUInt16BE((h.id ?? 0) & 0xffff, 4);
  b.writeUInt16BE(h.dontFragment === false ? 0 : 0x4000, 6);
  b[8] = h.ttl ?? 64;
  b[9] = h.protocol;
  b.writeUInt16BE(0, 10);
  b.writeUInt32BE(h.src >>> 0, 12);
  b.writeUInt32BE(h.dst >>> 0, 16);
  b.writeUInt16BE(internetChecksum(b, 0, 20), 10);
  b.set(payload, 20);
  return b;
}

/**
 * Decrements the TTL of the header at `off` in place and patches the checksum
 * incrementally (RFC 1624). Returns the new TTL.
 */
export function decrementTtl(b: Buffer, off: number): number {
  const ttl = (b[off + 8] as number) - 1;
  b[off + 8] = ttl;
  // The TTL is the high byte of word 4: its value fell by 0x0100, so the checksum rises by it.
  let sum = b.readUInt16BE(off + 10) + 0x0100;
  sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(sum & 0xffff, off + 10);
  return ttl;
}
