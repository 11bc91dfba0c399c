// The edge's one-to-one NAT on hand-built datagrams: every checksum the translation patches
// incrementally must equal the one computed from scratch over the translated bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipToInt } from '../protocol/addr.js';
import { internetChecksum } from '../protocol/checksum.js';
import { buildIcmp, parseIcmp } from '../protocol/icmp.js';
import { buildIpv4, parseIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../protocol/ipv4.js';
import { buildTcp, parseTcp, TCP_SYN } from '../protocol/tcp.js';
import { buildUdp, parseUdp } from '../protocol/udp.js';
import { adjustChecksum32, newFlow, readFlow, translate } from './nat.js';

const PRIV = ipToInt('10.0.1.10');
const PUB = ipToInt('198.51.100.10');
const CLIENT = ipToInt('198.51.100.77');

/** A datagram with the given flags/fragment offset (in 8-byte units) written into the header. */
function datagram(src: number, dst: number, proto: number, payload: Buffer, frag = 0): Buffer {
  const b = buildIpv4({ src, dst, protocol: proto, ttl: 64, id: 0x1234 }, payload);
  b.writeUInt16BE(frag, 6);
  b.writeUInt16BE(0, 10);
  b.writeUInt16BE(internetChecksum(b, 0, 20), 10);
  return b;
}

test('adjustChecksum32 equals a full recomputation (RFC 1624)', () => {
  const b = Buffer.from('45000054abcd400040010000c0a80001c0a800c7', 'hex');
  b.writeUInt16BE(internetChecksum(b, 0, 20), 10);
  const before = b.readUInt16BE(10);
  b.writeUInt32BE(PUB, 12);
  const adjusted = adjustChecksum32(before, 0xc0a80001, PUB);
  b.writeUInt16BE(0, 10);
  assert.equal(adjusted, internetChecksum(b, 0, 20));
});

test('TCP out: the source becomes the public IP; header and TCP checksums verify; ports unchanged', () => {
  const seg = buildTcp(PRIV, CLIENT, { srcPort: 22, dstPort: 51000, seq: 1, ack: 0, flags: TCP_SYN, window: 1000 }, Buffer.from('hello'));
  const d = datagram(PRIV, CLIENT, IPPROTO_TCP, seg);
  assert.equal(translate(d, 0, d.length, 'src', PUB), 'ok');
  const h = parseIpv4(d); // verifies the header checksum
  assert.equal(h.src, PUB);
  assert.equal(h.dst, CLIENT);
  const t = parseTcp(d, 20, d.length, PUB, CLIENT); // verifies the TCP checksum with the new pseudo-header
  assert.equal(t.srcPort, 22);
  assert.equal(t.dstPort, 51000);
  assert.equal(t.payload.toString(), 'hello');
});

test('UDP in: the destination becomes the private IP; a zero UDP checksum stays zero', () => {
  const u = buildUdp(CLIENT, PUB, 5353, 53, Buffer.from('query'));
  const d = datagram(CLIENT, PUB, IPPROTO_UDP, u);
  assert.equal(translate(d, 0, d.length, 'dst', PRIV), 'ok');
  assert.equal(parseIpv4(d).dst, PRIV);
  parseUdp(d, 20, d.length, CLIENT, PRIV);
  const z = Buffer.from(buildUdp(CLIENT, PUB, 1, 2, Buffer.from('x')));
  z.writeUInt16BE(0, 6);
  const dz = datagram(CLIENT, PUB, IPPROTO_UDP, z);
  translate(dz, 0, dz.length, 'dst', PRIV);
  assert.equal(dz.readUInt16BE(26), 0, 'no checksum stays no checksum');
  parseIpv4(dz);
});

test('ICMP echo: the address changes, the identifier and the ICMP checksum do not', () => {
  const rest = Buffer.from([0x12, 0x34, 0, 1]);
  const m = buildIcmp(8, 0, rest, Buffer.from('ping'));
  const d = datagram(CLIENT, PUB, IPPROTO_ICMP, m);
  const ck = d.readUInt16BE(22);
  translate(d, 0, d.length, 'dst', PRIV);
  assert.equal(parseIpv4(d).dst, PRIV);
  assert.equal(d.readUInt16BE(22), ck);
  assert.equal(parseIcmp(d, 20, d.length).id, 0x1234);
});

test('ICMP error in: the outer destination and the quoted source are translated, every checksum verifies', () => {
  // The guest (public 198.51.100.10) sent UDP to CLIENT:9; CLIENT answers port unreachable.
  const quotedUdp = buildUdp(PUB, CLIENT, 40000, 9, Buffer.from('payload!'));
  const quoted = datagram(PUB, CLIENT, IPPROTO_UDP, quotedUdp);
  const err = buildIcmp(3, 3, Buffer.alloc(4), quoted);
  const d = datagram(CLIENT, PUB, IPPROTO_ICMP, err);
  assert.equal(translate(d, 0, d.length, 'dst', PRIV), 'ok');
  assert.equal(parseIpv4(d).dst, PRIV);
  parseIcmp(d, 20, d.length); // verifies the ICMP checksum over the rewritten quote
  const q = parseIpv4(d, 28);
  assert.equal(q.src, PRIV, 'the quote now shows what the guest sent');
  assert.equal(q.dst, CLIENT);
  parseUdp(d, 48, d.length, PRIV, CLIENT);
});

test('ICMP error out: the outer source and the quoted destination are translated (a quote cut short keeps its TCP checksum field)', () => {
  // The guest got TCP from CLIENT at its private address and answers with an ICMP error quoting 28 bytes.
  const seg = buildTcp(CLIENT, PRIV, { srcPort: 51000, dstPort: 80, seq: 9, ack: 0, flags: TCP_SYN, window: 1000 });
  const full = datagram(CLIENT, PRIV, IPPROTO_TCP, seg);
  const quote = full.subarray(0, 28);
  const d = datagram(PRIV, CLIENT, IPPROTO_ICMP, buildIcmp(3, 1, Buffer.alloc(4), quote));
  assert.equal(translate(d, 0, d.length, 'src', PUB), 'ok');
  assert.equal(parseIpv4(d).src, PUB);
  parseIcmp(d, 20, d.length);
  const q = d.subarray(28);
  assert.equal(q.readUInt32BE(16), PUB, 'quoted destination');
  assert.equal(q.readUInt32BE(12), CLIENT);
  assert.equal(internetChecksum(q, 0, 20), 0, 'quoted header checksum');
});

test('an ICMP error whose quote holds no IPv4 header is malformed and left as it was', () => {
  const d = datagram(CLIENT, PUB, IPPROTO_ICMP, buildIcmp(11, 0, Buffer.alloc(4), Buffer.alloc(6)));
  const copy = Buffer.from(d);
  assert.equal(translate(d, 0, d.length, 'dst', PRIV), 'malformed');
  assert.deepEqual(d, copy);
});

test('fragments: the first one has its TCP checksum patched; a later one only its IP header', () => {
  const payload = Buffer.alloc(64, 7);
  const seg = buildTcp(CLIENT, PUB, { srcPort: 1234, dstPort: 22, seq: 5, ack: 0, flags: TCP_SYN, window: 1 }, payload);
  const whole = Buffer.from(seg);
  // First fragment: MF set, offset 0, first 40 bytes of the segment.
  const first = datagram(CLIENT, PUB, IPPROTO_TCP, seg.subarray(0, 40), 0x2000);
  translate(first, 0, first.length, 'dst', PRIV);
  assert.equal(parseIpv4(first).dst, PRIV);
  // The patched checksum is the checksum of the whole segment with the new pseudo-header.
  whole.writeUInt16BE(first.readUInt16BE(20 + 16), 16);
  parseTcp(whole, 0, whole.length, CLIENT, PRIV);
  // Later fragment (offset 5 × 8 = 40 bytes): the bytes after the header are untouched.
  const rest = seg.subarray(40);
  const later = datagram(CLIENT, PUB, IPPROTO_TCP, rest, 5);
  translate(later, 0, later.length, 'dst', PRIV);
  const h = parseIpv4(later);
  assert.equal(h.dst, PRIV);
  assert.ok(h.laterFragment);
  assert.deepEqual(later.subarray(20), rest);
});

test('readFlow: ports, echo identifiers, rule ports and later fragments', () => {
  const f = newFlow();
  const t = buildTcp(CLIENT, PUB, { srcPort: 1234, dstPort: 80, seq: 0, ack: 0, flags: TCP_SYN, window: 1 });
  assert.ok(readFlow(t, IPPROTO_TCP, false, 0, t.length, f));
  assert.deepEqual({ ...f }, { sport: 1234, dport: 80, rulePort: 80, code: 0 });
  const reply = buildIcmp(0, 0, Buffer.from([0, 7, 0, 1]), Buffer.alloc(0));
  assert.ok(readFlow(reply, IPPROTO_ICMP, false, 0, reply.length, f));
  assert.deepEqual({ ...f }, { sport: 7, dport: 0, rulePort: -2, code: 0 });
  assert.ok(readFlow(t, IPPROTO_TCP, true, 0, t.length, f));
  assert.deepEqual({ ...f }, { sport: -1, dport: -1, rulePort: -1, code: 0 });
  assert.equal(readFlow(Buffer.alloc(4), IPPROTO_UDP, false, 0, 4, f), false);
});
