// The edge's decisions in-process: a VpcSwitch with its edge attached to a capture instead of a
// TAP device. ARP on the public side, inbound and outbound translation with security groups,
// next-hop resolution, the ENI's settings taking effect at once, and seeded mutated frames from
// the public side (nothing throws, every frame is counted).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { waitFor } from '../../lib/wait.js';
import { eni } from '../testing/card-harness.js';
import { mutate, rng } from '../testing/fuzz.js';
import { ipToInt, macToBytes } from '../protocol/addr.js';
import { buildArp, parseArp, ARP_REPLY, ARP_REQUEST } from '../protocol/arp.js';
import { buildEthernet, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../protocol/ethernet.js';
import { buildIcmp } from '../protocol/icmp.js';
import { buildIpv4, parseIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../protocol/ipv4.js';
import { buildTcp, parseTcp, TCP_ACK, TCP_SYN } from '../protocol/tcp.js';
import { buildUdp } from '../protocol/udp.js';
import { ROUTER_MAC, VpcSwitch, type Port } from '../switch.js';
import type { EniConfig } from '../model.js';

const PUB = '198.51.100.10';
const CLIENT = '198.51.100.77';
const CLIENT_MAC = macToBytes('02:aa:bb:cc:dd:01');
const R = macToBytes(ROUTER_MAC);

let sw: VpcSwitch;
let toGuest: { to: string; frame: Buffer }[];
let toPublic: Buffer[];
let A: EniConfig;
let pa: Port;

beforeEach(() => {
  toGuest = [];
  toPublic = [];
  sw = new VpcSwitch((port, buf, off, len) => void toGuest.push({ to: port.eniId, frame: Buffer.from(buf.subarray(off, off + len)) }));
  sw.edge.attach({ iface: 'test0', cidr: '198.51.100.0/24', gateway: '198.51.100.1' }, (b, off, len) => {
    toPublic.push(Buffer.from(b.subarray(off, off + len)));
    return true;
  });
  sw.setRules('sg-e', { ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrs: ['198.51.100.0/24'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] });
  A = eni('vpc-e', '10.0.1.0/24', '10.0.1.10', ['sg-e'], { vpcCidr: '10.0.0.0/16', publicIp: PUB, internetRoute: true });
  pa = sw.addEni(A);
});

afterEach(() => sw.close());

/** Frames as read from the TAP device: one chunk, each behind its 4-byte length. */
function fromOutside(frames: readonly Buffer[]): void {
  const chunk = Buffer.concat(frames.map((f) => Buffer.concat([Buffer.from([f.length >>> 24, (f.length >>> 16) & 255, (f.length >>> 8) & 255, f.length & 255]), f])));
  const idx = new Int32Array(2 * frames.length);
  let off = 0;
  frames.forEach((f, i) => {
    idx[2 * i] = off + 4;
    idx[2 * i + 1] = f.length;
    off += 4 + f.length;
  });
  sw.edge.inputChunk(chunk, idx, frames.length);
}

const edgeMac = (): Buffer => macToBytes(sw.edge.info().mac);

function syn(dport: number, dst = PUB): Buffer {
  const s = ipToInt(CLIENT);
  const d = ipToInt(dst);
  return buildEthernet(edgeMac(), CLIENT_MAC, ETHERTYPE_IPV4, buildIpv4({ src: s, dst: d, protocol: IPPROTO_TCP, ttl: 64 }, buildTcp(s, d, { srcPort: 50000, dstPort: dport, seq: 7, ack: 0, flags: TCP_SYN, window: 1000 })));
}

function arpFrom(op: number, senderIp: string, targetIp: string, to: Buffer = BROADCAST_MAC): Buffer {
  return buildEthernet(to, CLIENT_MAC, ETHERTYPE_ARP, buildArp({ op, senderMac: CLIENT_MAC, senderIp: ipToInt(senderIp), targetMac: Buffer.alloc(6), targetIp: ipToInt(targetIp) }));
}

test('a mapping is announced by gratuitous ARP; ARP for a mapped public IP is answered, for anything else not', () => {
  const g = toPublic.map((f) => parseArp(f.subarray(14)));
  assert.ok(g.some((a) => a.op === ARP_REQUEST && a.senderIp === ipToInt(PUB) && a.targetIp === ipToInt(PUB)), 'gratuitous ARP on add');
  toPublic = [];
  fromOutside([arpFrom(ARP_REQUEST, CLIENT, PUB), arpFrom(ARP_REQUEST, CLIENT, '198.51.100.11')]);
  assert.equal(toPublic.length, 1);
  const reply = parseArp((toPublic[0] as Buffer).subarray(14));
  assert.equal(reply.op, ARP_REPLY);
  assert.equal(reply.senderIp, ipToInt(PUB));
  assert.deepEqual(Buffer.from(reply.senderMac), edgeMac());
});

test('inbound: an allowed SYN reaches the ENI translated (client source kept, TTL − 1, checksums valid); another port is dropped and counted', () => {
  fromOutside([syn(22), syn(23)]);
  assert.equal(toGuest.length, 1);
  const f = (toGuest[0] as { frame: Buffer }).frame;
  const ip = parseIpv4(f, 14);
  assert.equal(ip.dst, ipToInt(A.ip));
  assert.equal(ip.src, ipToInt(CLIENT));
  assert.equal(ip.ttl, 63);
  assert.deepEqual(f.subarray(0, 6), pa.mac);
  assert.deepEqual(f.subarray(6, 12), R);
  parseTcp(f, 34, 14 + ip.totalLen, ip.src, ip.dst);
  assert.equal(pa.counters.edgeInFrames, 1);
  assert.equal(pa.counters.droppedSecurityGroupIngress, 1);
});

test('outbound: the reply waits for the next hop\'s ARP, then leaves from the public IP to the neighbour\'s MAC', () => {
  fromOutside([syn(22)]);
  toPublic = [];
  const s = ipToInt(A.ip);
  const d = ipToInt(CLIENT);
  const reply = buildEthernet(R, pa.mac, ETHERTYPE_IPV4, buildIpv4({ src: s, dst: d, protocol: IPPROTO_TCP }, buildTcp(s, d, { srcPort: 22, dstPort: 50000, seq: 1, ack: 8, flags: TCP_SYN | TCP_ACK, window: 1000 })));
  sw.input(pa, reply);
  assert.equal(toPublic.length, 1, 'an ARP request for the on-link client');
  const req = parseArp((toPublic[0] as Buffer).subarray(14));
  assert.equal(req.op, ARP_REQUEST);
  assert.equal(req.targetIp, d);
  fromOutside([arpFrom(ARP_REPLY, CLIENT, PUB, edgeMac())]);
  assert.equal(toPublic.length, 2, 'the held frame left once the neighbour answered');
  const out = toPublic[1] as Buffer;
  assert.deepEqual(out.subarray(0, 6), CLIENT_MAC);
  assert.deepEqual(out.subarray(6, 12), edgeMac());
  const ip = parseIpv4(out, 14);
  assert.equal(ip.src, ipToInt(PUB));
  parseTcp(out, 34, 14 + ip.totalLen, ip.src, ip.dst);
  assert.equal(pa.counters.edgeOutFrames, 1);
  // Off the public side's prefix, the next hop is its gateway.
  const far = ipToInt('203.0.113.5');
  sw.input(pa, buildEthernet(R, pa.mac, ETHERTYPE_IPV4, buildIpv4({ src: s, dst: far, protocol: IPPROTO_UDP }, buildUdp(s, far, 1, 2, Buffer.from('x')))));
  assert.equal(parseArp((toPublic[2] as Buffer).subarray(14)).targetIp, ipToInt('198.51.100.1'));
});

test('settings apply at once: no internet route drops both ways; publicIp: null unmaps; no public IP means no way out', () => {
  sw.updateEni(A.eniId, { internetRoute: false });
  fromOutside([syn(22)]);
  assert.equal(toGuest.length, 0);
  assert.equal(pa.counters.edgeDroppedNoInternetRoute, 1);
  const s = ipToInt(A.ip);
  const d = ipToInt(CLIENT);
  const ping = (): Buffer => buildEthernet(R, pa.mac, ETHERTYPE_IPV4, buildIpv4({ src: s, dst: d, protocol: IPPROTO_ICMP }, buildIcmp(8, 0, Buffer.from([0, 9, 0, 1]), Buffer.from('p'))));
  sw.input(pa, ping());
  assert.equal(pa.counters.edgeDroppedNoInternetRoute, 2);
  sw.updateEni(A.eniId, { internetRoute: true, publicIp: null });
  assert.equal(sw.edge.info().mappings.length, 0);
  fromOutside([syn(22)]);
  assert.equal(sw.edge.counters.droppedUnknownAddress, 1);
  sw.input(pa, ping());
  assert.equal(pa.counters.edgeDroppedNoPublicIp, 1);
  assert.equal(pa.counters.droppedNoRoute, 2, 'both refusals to go out are also no route');
  // Another ENI cannot take an address one already has.
  sw.updateEni(A.eniId, { publicIp: PUB });
  assert.throws(() => sw.addEni(eni('vpc-e', '10.0.1.0/24', '10.0.1.11', ['sg-e'], { publicIp: PUB })), /public IP/);
});

test('fuzz: seeded mutated frames from the public side never throw and are all counted', () => {
  const seeds = [syn(22), syn(80), arpFrom(ARP_REQUEST, CLIENT, PUB), arpFrom(ARP_REPLY, CLIENT, PUB, edgeMac())];
  const c = ipToInt(CLIENT);
  const p = ipToInt(PUB);
  seeds.push(buildEthernet(edgeMac(), CLIENT_MAC, ETHERTYPE_IPV4, buildIpv4({ src: c, dst: p, protocol: IPPROTO_ICMP }, buildIcmp(3, 3, Buffer.alloc(4), buildIpv4({ src: p, dst: c, protocol: IPPROTO_UDP }, buildUdp(p, c, 1, 2, Buffer.from('q')))))));
  seeds.push(buildEthernet(edgeMac(), CLIENT_MAC, ETHERTYPE_IPV4, buildIpv4({ src: c, dst: p, protocol: IPPROTO_ICMP }, buildIcmp(8, 0, Buffer.from([0, 1, 0, 1]), Buffer.from('ping')))));
  const r = rng(Number(process.env['NITRIDE_FUZZ_SEED'] ?? 13));
  const N = 20_000;
  const before = sw.edge.counters.rxFrames;
  for (let i = 0; i < N; i += 100) {
    const batch: Buffer[] = [];
    for (let j = 0; j < 100; j++) batch.push(mutate(r, seeds[Math.floor(r() * seeds.length)] as Buffer));
    fromOutside(batch);
  }
  assert.equal(sw.edge.counters.rxFrames - before, N);
  // Whatever reached the guest is a well-formed IPv4 datagram to its private address.
  for (const g of toGuest) assert.equal(parseIpv4(g.frame, 14).dst, ipToInt(A.ip));
});

test('from outside, a source inside the VPC, a public IP of this card or an unroutable one is dropped as spoofed', () => {
  const spoof = (src: string): Buffer => {
    const s = ipToInt(src);
    const d = ipToInt(PUB);
    return buildEthernet(edgeMac(), CLIENT_MAC, ETHERTYPE_IPV4, buildIpv4({ src: s, dst: d, protocol: IPPROTO_TCP }, buildTcp(s, d, { srcPort: 1, dstPort: 22, seq: 1, ack: 0, flags: TCP_SYN, window: 1 })));
  };
  sw.setRules('sg-e', { ingress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] });
  fromOutside([spoof('10.0.1.11'), spoof('10.0.200.1'), spoof(PUB), spoof('127.0.0.1'), spoof('0.0.0.0')]);
  assert.equal(toGuest.length, 0);
  assert.equal(sw.edge.counters.droppedSpoofedSource, 5);
  fromOutside([spoof(CLIENT)]);
  assert.equal(toGuest.length, 1, 'a real outside address passes');
});

test('a next hop that never answers ARP: three requests, then the held frames are dropped and counted on the ENI', async () => {
  toPublic = [];
  const s = ipToInt(A.ip);
  const d = ipToInt('198.51.100.99');
  sw.input(pa, buildEthernet(R, pa.mac, ETHERTYPE_IPV4, buildIpv4({ src: s, dst: d, protocol: IPPROTO_UDP }, buildUdp(s, d, 1, 2, Buffer.from('x')))));
  await waitFor('the ARP retries to give up', () => pa.counters.edgeDroppedNoNeighbour === 1, 5_000, 50);
  assert.equal(sw.edge.counters.droppedNoNeighbour, 1);
  assert.equal(toPublic.filter((f) => parseArp(f.subarray(14)).targetIp === d).length, 3, 'three ARP requests');
});
