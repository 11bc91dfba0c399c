// Codec tests on bytes written by hand (and checksums worked out by hand).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrContains, intToIp, ipToInt, macToBytes, macToString, parseCidr } from './addr.js';
import { buildArp, parseArp, ARP_REQUEST } from './arp.js';
import { internetChecksum } from './checksum.js';
import { buildDhcp, messageType, optionIp, parseDhcp, DHCPDISCOVER, OPT_MESSAGE_TYPE, OPT_REQUESTED_IP } from './dhcp.js';
import { buildEthernet, parseEthernet, ETHERTYPE_ARP } from './ethernet.js';
import { buildIcmp, parseIcmp } from './icmp.js';
import { buildIpv4, decrementTtl, parseIpv4 } from './ipv4.js';
import { encodeFrame, FrameDecoder } from './stream-framing.js';
import { buildTcp, parseTcp, seqLt, TCP_SYN } from './tcp.js';
import { buildUdp, parseUdp } from './udp.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('internet checksum: RFC 1071 worked example and odd length', () => {
  // 0001 + f203 + f4f5 + f6f7 = 2ddf0 → ddf2 → complement 220d
  assert.equal(internetChecksum(hex('0001f203f4f5f6f7')), 0x220d);
  assert.equal(internetChecksum(hex('01')), ~0x0100 & 0xffff);
});

test('addresses and CIDR blocks', () => {
  assert.equal(ipToInt('192.168.0.1'), 0xc0a80001);
  assert.equal(intToIp(0xac1f0001), '172.31.0.1');
  assert.equal(macToString(macToBytes('02:AB:cd:00:00:01')), '02:ab:cd:00:00:01');
  const c = parseCidr('172.31.16.0/20');
  assert.ok(cidrContains(c, ipToInt('172.31.31.255')));
  assert.ok(!cidrContains(c, ipToInt('172.31.32.0')));
  assert.ok(cidrContains(parseCidr('0.0.0.0/0'), ipToInt('8.8.8.8')));
  assert.throws(() => parseCidr('10.0.0.0/33'), /CIDR/);
  assert.throws(() => ipToInt('10.0.0.256'), /IPv4/);
});

test('IPv4: a captured header parses and verifies; a flipped bit fails the checksum; TTL decrement keeps it valid', () => {
  // 192.168.0.1 → 192.168.0.199, UDP, TTL 64, total length 0x73, checksum b861.
  const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
  const b = Buffer.concat([h, Buffer.alloc(0x73 - 20)]);
  const ip = parseIpv4(b);
  assert.equal(ip.ttl, 64);
  assert.equal(ip.protocol, 17);
  assert.equal(intToIp(ip.src), '192.168.0.1');
  assert.equal(ip.totalLen, 0x73);
  assert.equal(ip.fragment, false);
  decrementTtl(b, 0);
  assert.equal(parseIpv4(b).ttl, 63);
  assert.equal(b.readUInt16BE(10), 0xb961);
  b[15] = (b[15] as number) ^ 1;
  assert.throws(() => parseIpv4(b), /malformed/);
  assert.throws(() => parseIpv4(h), /malformed/, 'total length beyond the buffer');
  const built = buildIpv4({ src: 1, dst: 2, protocol: 6, ttl: 5, id: 7 }, Buffer.from('xy'));
  assert.equal(internetChecksum(built, 0, 20), 0);
  assert.equal(parseIpv4(built).ttl, 5);
});

test('Ethernet and ARP by hand', () => {
  const arp = hex('0001 0800 06 04 0001 020000000001 0a000105 000000000000 0a000101');
  const a = parseArp(arp);
  assert.equal(a.op, ARP_REQUEST);
  assert.equal(macToString(a.senderMac), '02:00:00:00:00:01');
  assert.equal(intToIp(a.targetIp), '10.0.1.1');
  assert.deepEqual(buildArp(a), arp);
  const f = buildEthernet(hex('ffffffffffff'), hex('020000000001'), ETHERTYPE_ARP, arp);
  assert.equal(f.length, 42);
  assert.equal(parseEthernet(f).ethertype, 0x0806);
  assert.throws(() => parseArp(hex('0001 0800 06 04 0003 020000000001 0a000105 000000000000 0a000101')), /malformed/);
  assert.throws(() => parseEthernet(Buffer.alloc(13)), /malformed/);
});

test('ICMP echo checksum by hand', () => {
  // type 8 code 0, id 1 seq 1, no data: sum 0800 + 0001 + 0001 = 0802 → f7fd
  const m = buildIcmp(8, 0, hex('00010001'), Buffer.alloc(0));
  assert.deepEqual(m, hex('0800f7fd00010001'));
  assert.equal(parseIcmp(m, 0, m.length).id, 1);
  assert.throws(() => parseIcmp(hex('0800f7fe00010001'), 0, 8), /malformed/);
});

test('UDP with the pseudo-header: built, parsed, corrupted', () => {
  const src = ipToInt('10.0.0.1');
  const dst = ipToInt('10.0.0.2');
  const u = buildUdp(src, dst, 1234, 53, Buffer.from('hello'));
  assert.equal(u.readUInt16BE(4), 13);
  assert.deepEqual(parseUdp(u, 0, u.length, src, dst), { srcPort: 1234, dstPort: 53, length: 13 });
  assert.throws(() => parseUdp(u, 0, u.length, src, dst + 1), /malformed/);
  const zero = Buffer.from(u);
  zero.writeUInt16BE(0, 6); // checksum 0 = not computed
  assert.equal(parseUdp(zero, 0, zero.length, src, dst + 1).dstPort, 53);
});

test('TCP: header, MSS option and checksum; sequence arithmetic wraps', () => {
  const src = ipToInt('10.0.0.1');
  const dst = ipToInt('169.254.169.254');
  const s = buildTcp(src, dst, { srcPort: 40000, dstPort: 80, seq: 0xfffffff0, ack: 0, flags: TCP_SYN, window: 65535, mss: 1460 });
  assert.equal(s.length, 24);
  assert.deepEqual(s.subarray(20), hex('020405b4'));
  const p = parseTcp(s, 0, s.length, src, dst);
  assert.equal(p.mss, 1460);
  assert.equal(p.flags, TCP_SYN);
  assert.equal(p.seq, 0xfffffff0);
  s[23] = (s[23] as number) ^ 1;
  assert.throws(() => parseTcp(s, 0, s.length, src, dst), /malformed/);
  assert.ok(seqLt(0xfffffff0, 5));
  assert.ok(!seqLt(5, 0xfffffff0));
});

test('DHCP: a DISCOVER parses; options are read; missing end option is refused', () => {
  const m = buildDhcp({ op: 1, xid: 0x11223344, flags: 0x8000, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: hex('020000000001'), options: [[OPT_MESSAGE_TYPE, Buffer.from([DHCPDISCOVER])], [OPT_REQUESTED_IP, hex('0a00010a')]] });
  assert.equal(m.length, 300);
  assert.equal(m.readUInt32BE(236), 0x63825363);
  assert.deepEqual(m.subarray(240, 250), hex('350101 32040a00010a ff'));
  const d = parseDhcp(m);
  assert.equal(messageType(d), DHCPDISCOVER);
  assert.equal(intToIp(optionIp(d, OPT_REQUESTED_IP) ?? 0), '10.0.1.10');
  assert.equal(d.xid, 0x11223344);
  const noEnd = Buffer.from(m.subarray(0, 249));
  assert.throws(() => parseDhcp(noEnd), /malformed/);
});

test('stream framing: frames split across chunks, several in one chunk, absurd lengths refused', () => {
  const a = encodeFrame(Buffer.from('first frame'));
  const b = encodeFrame(Buffer.from('second'));
  const all = Buffer.concat([a, b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const out: string[] = [];
    const d = new FrameDecoder();
    d.push(all.subarray(0, cut), (f) => out.push(f.toString()));
    d.push(all.subarray(cut), (f) => out.push(f.toString()));
    assert.deepEqual(out, ['first frame', 'second']);
  }
  assert.throws(() => new FrameDecoder().push(hex('7fffffff00'), () => undefined), /length/);
});

test('stream framing: a chunk with more frames than the offset index holds loses none and keeps their order', () => {
  // 1,000 frames (empty ones are legal on the stream) plus half a frame, in one chunk.
  const frames = Array.from({ length: 1000 }, (_, i) => encodeFrame(i % 3 === 0 ? Buffer.alloc(0) : Buffer.from(`f${i}`)));
  const tail = encodeFrame(Buffer.from('tail frame'));
  const chunk = Buffer.concat([...frames, tail.subarray(0, 7)]);
  const out: string[] = [];
  const d = new FrameDecoder();
  d.push(chunk, (f) => out.push(f.toString()));
  assert.equal(out.length, 1000);
  assert.deepEqual(out.slice(0, 4), ['', 'f1', 'f2', '']);
  d.push(tail.subarray(7), (f) => out.push(f.toString()));
  assert.equal(out[1000], 'tail frame');
  // The same through split() with a small index: every frame comes back, in order.
  const idx = new Int32Array(2 * 7);
  const d2 = new FrameDecoder();
  const got: string[] = [];
  let part = chunk;
  for (;;) {
    const { buf, count } = d2.split(part, idx);
    for (let i = 0; i < count; i++) got.push(buf.subarray(idx[2 * i] as number, (idx[2 * i] as number) + (idx[2 * i + 1] as number)).toString());
    if (count < 7) break;
    part = Buffer.alloc(0);
  }
  assert.deepEqual(got, out.slice(0, 1000));
});
