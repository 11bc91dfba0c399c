// One-to-one NAT of the VPC edge, in place on an IPv4 datagram: the public address replaces the
// private one (outbound, source) or the private the public (inbound, destination). Checksums
// are patched incrementally (RFC 1624): the IPv4 header's, and the TCP/UDP checksum whose
// pseudo-header holds the address (a UDP checksum of 0, "none", stays 0). Ports and ICMP echo
// identifiers do not change (one address maps to one address, so no flow can collide). A
// non-first fragment carries no transport header: only its IP header changes. An ICMP error
// quotes the datagram it is about, whose addresses are the other way round: its quoted header
// is translated too (the quoted destination outbound, the quoted source inbound), with the
// quoted IP checksum and the quoted TCP/UDP checksum when the quote reaches it, and the ICMP
// checksum, which covers the quote, is then recomputed. Pure: no state.
import { internetChecksum } from '../protocol/checksum.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../protocol/ipv4.js';

/** ICMP types that quote the datagram they are about (RFC 792, 1122). */
const ICMP_ERRORS: ReadonlySet<number> = new Set([3, 4, 5, 11, 12]);

export function isIcmpError(type: number): boolean {
  return ICMP_ERRORS.has(type);
}

/** The one's-complement checksum `csum` after a 32-bit field changed from `from` to `to` (RFC 1624, eqn. 3). */
export function adjustChecksum32(csum: number, from: number, to: number): number {
  let s = (~csum & 0xffff) + (~(from >>> 16) & 0xffff) + (~from & 0xffff) + (to >>> 16) + (to & 0xffff);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function patch16(b: Buffer, off: number, from: number, to: number): void {
  b.writeUInt16BE(adjustChecksum32(b.readUInt16BE(off), from, to), off);
}

/** Offset of the TCP/UDP checksum in the transport header, or -1. */
function l4ChecksumAt(proto: number): number {
  return proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : -1;
}

/**
 * Replaces the address at `addrOff` (the source at ip0 + 12 or the destination at ip0 + 16 of
 * the IPv4 header at ip0) with `to`, patching the header checksum and, when `l4` is the start of
 * a transport header present up to `end`, its checksum.
 */
function rewriteAddress(b: Buffer, ip0: number, addrOff: number, to: number, l4: number, end: number, proto: number): void {
  const from = b.readUInt32BE(addrOff);
  if (from === to) return;
  b.writeUInt32BE(to >>> 0, addrOff);
  patch16(b, ip0 + 10, from, to);
  const at = l4ChecksumAt(proto);
  if (l4 < 0 || at < 0 || l4 + at + 2 > end) return;
  const cs = b.readUInt16BE(l4 + at);
  if (proto === IPPROTO_UDP && cs === 0) return; // no checksum
  let next = adjustChecksum32(cs, from, to);
  if (proto === IPPROTO_UDP && next === 0) next = 0xffff;
  b.writeUInt16BE(next, l4 + at);
}

export type Side = 'src' | 'dst';

export type NatOutcome = 'ok' | 'malformed';

/**
 * Translates the IPv4 datagram at ip0 (header already parsed and bounds-checked by the caller,
 * total length `totalLen`): the address on `side` becomes `to`. For an ICMP error (not a
 * fragment), the quoted datagram's opposite address — which holds the same old address — is
 * translated too. Returns 'malformed' (having changed nothing) when an ICMP error's quote is
 * too short to hold an IPv4 header.
 */
export function translate(b: Buffer, ip0: number, totalLen: number, side: Side, to: number): NatOutcome {
  const ihl = ((b[ip0] as number) & 15) * 4;
  const end = ip0 + totalLen;
  const proto = b[ip0 + 9] as number;
  const frag = b.readUInt16BE(ip0 + 6);
  const later = (frag & 0x1fff) !== 0;
  const whole = !later && (frag & 0x2000) === 0;
  const l4 = ip0 + ihl;
  if (proto === IPPROTO_ICMP && whole && end - l4 >= 8 && isIcmpError(b[l4] as number)) {
    const q = l4 + 8; // the quoted datagram
    if (end - q < 20 || (b[q] as number) >> 4 !== 4) return 'malformed';
    const qihl = ((b[q] as number) & 15) * 4;
    if (qihl < 20 || q + qihl > end) return 'malformed';
    const qproto = b[q + 9] as number;
    const qlater = (b.readUInt16BE(q + 6) & 0x1fff) !== 0;
    // The quote was sent the other way: its destination is our source, its source our destination.
    rewriteAddress(b, q, q + (side === 'src' ? 16 : 12), to, qlater ? -1 : q + qihl, end, qproto);
    rewriteAddress(b, ip0, ip0 + (side === 'src' ? 12 : 16), to, -1, end, proto);
    b.writeUInt16BE(0, l4 + 2);
    b.writeUInt16BE(internetChecksum(b, l4, end), l4 + 2);
    return 'ok';
  }
  rewriteAddress(b, ip0, ip0 + (side === 'src' ? 12 : 16), to, later ? -1 : l4, end, proto);
  return 'ok';
}

/**
 * The flow of a datagram as security groups and connection tracking see it (filled by readFlow,
 * reused to avoid allocating per packet): `sport`/`dport` the ports (ICMP echo: the identifier
 * and 0; −1 when untracked), `rulePort`/`code` what rules match (destination port or ICMP type
 * and code; −1 for a later fragment, −2 for an echo reply, which only a record admits).
 */
export interface FlowScratch {
  sport: number;
  dport: number;
  rulePort: number;
  code: number;
}

export const newFlow = (): FlowScratch => ({ sport: -1, dport: -1, rulePort: -1, code: 0 });

/**
 * Reads the flow of the transport header at l4 (up to end) into `f`. Returns false when a
 * TCP/UDP/ICMP header is too short (malformed).
 */
export function readFlow(frame: Buffer, proto: number, laterFragment: boolean, l4: number, end: number, f: FlowScratch): boolean {
  f.sport = -1;
  f.dport = -1;
  f.rulePort = -1;
  f.code = 0;
  if (laterFragment) return true; // no transport header: decided by rules that cover every port, untracked
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    if (end - l4 < 8) return false;
    f.sport = ((frame[l4] as number) << 8) | (frame[l4 + 1] as number);
    f.dport = ((frame[l4 + 2] as number) << 8) | (frame[l4 + 3] as number);
    f.rulePort = f.dport;
  } else if (proto === IPPROTO_ICMP) {
    if (end - l4 < 8) return false;
    const type = frame[l4] as number;
    f.code = frame[l4 + 1] as number;
    f.rulePort = type;
    if (type === 8 || type === 0) {
      f.sport = frame.readUInt16BE(l4 + 4);
      f.dport = 0;
      // Echo replies are matched to the request's record only: no rule admits a reply alone.
      if (type === 0) f.rulePort = -2;
    }
  }
  return true;
}

/** The ports of the flow from the receiving side: swapped for TCP/UDP, as they are for ICMP echo. */
export function ingressLocal(proto: number, f: FlowScratch): number {
  return proto === IPPROTO_ICMP ? f.sport : f.dport;
}

export function ingressRemote(proto: number, f: FlowScratch): number {
  return proto === IPPROTO_ICMP ? f.dport : f.sport;
}
