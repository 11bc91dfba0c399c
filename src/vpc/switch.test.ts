// The switch's fast path keeps a per-port flow cache. These tests send a flow until it is
// cached and then change what decided it: every change must apply to the very next frame.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { eni } from './testing/card-harness.js';
import { ipToInt, macToBytes } from './protocol/addr.js';
import { buildEthernet, ETHERTYPE_IPV4 } from './protocol/ethernet.js';
import { buildIpv4, IPPROTO_UDP } from './protocol/ipv4.js';
import { buildUdp } from './protocol/udp.js';
import { ROUTER_MAC, VpcSwitch, type Port } from './switch.js';
import type { EniConfig, GroupRules } from './model.js';

const OPEN_UDP_9: GroupRules = { ingress: [{ protocol: 'udp', fromPort: 9, toPort: 9, cidrs: ['10.9.0.0/16'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] };

let sw: VpcSwitch;
let got: { to: string; frame: Buffer }[];
let A: EniConfig, B: EniConfig, C: EniConfig;
let pa: Port, pb: Port;

/** A UDP frame from `from` to `to` (the destination MAC given), framed as QEMU frames it. */
function frame(from: EniConfig, to: string, dstMac: string, sport: number, dport: number, tag: string, ttl = 64): Buffer {
  const s = ipToInt(from.ip);
  const d = ipToInt(to);
  const f = buildEthernet(macToBytes(dstMac), macToBytes(from.mac), ETHERTYPE_IPV4, buildIpv4({ src: s, dst: d, protocol: IPPROTO_UDP, ttl }, buildUdp(s, d, sport, dport, Buffer.from(tag))));
  const framed = Buffer.alloc(4 + f.length);
  framed.writeUInt32BE(f.length, 0);
  f.copy(framed, 4);
  return framed;
}

/** The switch owns what it is given (a routed frame is rewritten in place): each send is a copy. */
function send(port: Port, framed: Buffer): void {
  sw.inputAt(port, Buffer.from(framed), 4, framed.length - 4);
}

/** Sends the same flow n times; returns how many frames reached `eniId` with the tag. */
function burst(port: Port, framed: Buffer, n: number, eniId: string, tag: string): number {
  got = [];
  for (let i = 0; i < n; i++) send(port, framed);
  return got.filter((g) => g.to === eniId && g.frame.includes(Buffer.from(tag))).length;
}

beforeEach(() => {
  got = [];
  sw = new VpcSwitch((port, buf, off, len) => got.push({ to: port.eniId, frame: Buffer.from(buf.subarray(off, off + len)) }));
  sw.setRules('sg-0a1', OPEN_UDP_9);
  A = eni('vpc-x', '10.9.1.0/24', '10.9.1.10', ['sg-0a1']);
  B = eni('vpc-x', '10.9.1.0/24', '10.9.1.11', ['sg-0a1']);
  C = eni('vpc-x', '10.9.2.0/24', '10.9.2.10', ['sg-0a1']);
  pa = sw.addEni(A);
  pb = sw.addEni(B);
});

afterEach(() => sw.close());

test('a cached flow is refused on the next frame once a rule revoke closes it', () => {
  const f = frame(A, B.ip, B.mac, 4000, 9, 'revoke');
  assert.equal(burst(pa, f, 50, B.eniId, 'revoke'), 50);
  sw.setRules('sg-0a1', { ingress: [], egress: OPEN_UDP_9.egress });
  const before = pb.counters.droppedSecurityGroupIngress;
  assert.equal(burst(pa, f, 10, B.eniId, 'revoke'), 0);
  assert.equal(pb.counters.droppedSecurityGroupIngress, before + 10);
});

test('a cached flow stops at once when its destination ENI is removed, and reaches a new ENI at that address', () => {
  const f = frame(A, B.ip, B.mac, 4001, 9, 'gone');
  assert.equal(burst(pa, f, 20, B.eniId, 'gone'), 20);
  sw.removeEni(B.eniId);
  assert.equal(burst(pa, f, 5, B.eniId, 'gone'), 0);
  assert.equal(pa.counters.droppedNoRoute, 5);
  // Another ENI takes the address (and MAC): frames go to it, never to the old port.
  const B2: EniConfig = { ...B, eniId: 'eni-b2' };
  sw.addEni(B2);
  assert.equal(burst(pa, f, 5, 'eni-b2', 'gone'), 5);
});

test('a cached flow follows a change of the sender\'s groups and of the receiver\'s', () => {
  const f = frame(A, B.ip, B.mac, 4002, 9, 'groups');
  assert.equal(burst(pa, f, 20, B.eniId, 'groups'), 20);
  sw.setRules('sg-0de1', { ingress: [], egress: [] });
  sw.updateEni(A.eniId, { securityGroups: ['sg-0de1'] });
  assert.equal(burst(pa, f, 5, B.eniId, 'groups'), 0);
  assert.equal(pa.counters.droppedSecurityGroupEgress, 5);
  sw.updateEni(A.eniId, { securityGroups: ['sg-0a1'] });
  assert.equal(burst(pa, f, 5, B.eniId, 'groups'), 5);
  sw.setRules('sg-0c1', { ingress: [], egress: OPEN_UDP_9.egress });
  sw.updateEni(B.eniId, { securityGroups: ['sg-0c1'] });
  assert.equal(burst(pa, f, 5, B.eniId, 'groups'), 0);
});

test('the cache never carries a frame the full path would refuse: wrong MAC, spoofed source, TTL 1 when routed', () => {
  const f = frame(A, B.ip, B.mac, 4003, 9, 'checks');
  assert.equal(burst(pa, f, 20, B.eniId, 'checks'), 20);
  // Same flow, but addressed to a MAC that is not B's: the switch does not deliver it.
  assert.equal(burst(pa, frame(A, B.ip, '02:00:00:00:00:99', 4003, 9, 'checks'), 5, B.eniId, 'checks'), 0);
  // Same flow, forged source IP.
  const forged = frame({ ...A, ip: '10.9.1.99' }, B.ip, B.mac, 4003, 9, 'checks');
  const spoofed = pa.counters.droppedSpoofedIp;
  assert.equal(burst(pa, forged, 5, B.eniId, 'checks'), 0);
  assert.equal(pa.counters.droppedSpoofedIp, spoofed + 5);
  // A routed flow to another subnet, cached; then the same flow with TTL 1 is not forwarded.
  const pc = sw.addEni(C);
  const routed = frame(A, C.ip, ROUTER_MAC, 4004, 9, 'routed');
  assert.equal(burst(pa, routed, 20, C.eniId, 'routed'), 20);
  assert.equal(got[0]?.frame[14 + 8], 63, 'routed: TTL − 1');
  const ttl1 = frame(A, C.ip, ROUTER_MAC, 4004, 9, 'routed', 1);
  assert.equal(burst(pa, ttl1, 3, C.eniId, 'routed'), 0);
  assert.equal(pa.counters.droppedTtlExceeded, 3);
  assert.ok(pc.counters.txFrames >= 20);
});

test('many flows at once are each decided once and then forwarded; connection records exist for each', () => {
  const flows = Array.from({ length: 300 }, (_, i) => frame(A, B.ip, B.mac, 10_000 + i, 9, `f${i}`));
  got = [];
  for (let round = 0; round < 3; round++) for (const f of flows) send(pa, f);
  assert.equal(got.length, 900);
  assert.equal(pa.ct.size, 300);
  assert.equal(pb.ct.size, 300);
});
