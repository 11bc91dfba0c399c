// The switch's fast path keeps a per-port flow cache. These tests send a flow until it is
// cached and then change what decided it: every change must apply to the very next frame.
// Every test runs twice: frame by frame (VpcSwitch.inputAt, all TypeScript) and in chunks
// (inputChunk, as the card calls it: the native addon decides the cached frames). A final
// test feeds the same random traffic to a switch of each kind and compares everything.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { eni } from './testing/card-harness.js';
import { ipToInt, macToBytes } from './protocol/addr.js';
import { buildEthernet, ETHERTYPE_IPV4 } from './protocol/ethernet.js';
import { buildIpv4, IPPROTO_UDP } from './protocol/ipv4.js';
import { buildUdp } from './protocol/udp.js';
import { ROUTER_MAC, VpcSwitch, type Port } from './switch.js';
import type { EniConfig, GroupRules } from './model.js';
import { loadNativeGcm } from './underlay/native.js';

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

type Mode = 'frame by frame' | 'in chunks (native fast path)';
let mode: Mode = 'frame by frame';

/**
 * Sends framed frames as one chunk from `port`: frame by frame through inputAt, or through
 * inputChunk. The switch owns what it is given (a routed frame is rewritten in place), so the
 * chunk is a copy.
 */
function sendAll(s: VpcSwitch, m: Mode, port: Port, framed: readonly Buffer[]): void {
  const chunk = Buffer.concat(framed);
  const idx = new Int32Array(2 * framed.length);
  let off = 0;
  framed.forEach((f, i) => {
    idx[2 * i] = off + 4;
    idx[2 * i + 1] = f.length - 4;
    off += f.length;
  });
  if (m === 'frame by frame') for (let i = 0; i < framed.length; i++) s.inputAt(port, chunk, idx[2 * i] as number, idx[2 * i + 1] as number);
  else s.inputChunk(port, chunk, idx, framed.length);
}

/**
 * Sends the same flow n times (the first frame alone, the rest as one chunk, so that in chunks
 * the rest meet the cache the first one filled); returns how many frames reached `eniId`
 * with the tag.
 */
function burst(port: Port, framed: Buffer, n: number, eniId: string, tag: string): number {
  got = [];
  sendAll(sw, mode, port, [framed]);
  if (n > 1) sendAll(sw, mode, port, Array.from({ length: n - 1 }, () => framed));
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

for (const m of ['frame by frame', 'in chunks (native fast path)'] as const) {
  const t = (name: string, fn: () => void): void => {
    test(`${name} (${m})`, () => {
      mode = m;
      if (m !== 'frame by frame') assert.ok(sw.nativeFastPath, 'the native addon (native/gcm) is built and has switchChunk');
      fn();
      if (m !== 'frame by frame') assert.ok(sw.nativeHits > 0, 'some frames were decided by the native fast path');
      else assert.equal(sw.nativeHits, 0);
    });
  };
  t('a cached flow is refused on the next frame once a rule revoke closes it', () => {
    const f = frame(A, B.ip, B.mac, 4000, 9, 'revoke');
    assert.equal(burst(pa, f, 50, B.eniId, 'revoke'), 50);
    sw.setRules('sg-0a1', { ingress: [], egress: OPEN_UDP_9.egress });
    const before = pb.counters.droppedSecurityGroupIngress;
    assert.equal(burst(pa, f, 10, B.eniId, 'revoke'), 0);
    assert.equal(pb.counters.droppedSecurityGroupIngress, before + 10);
  });

  t('a cached flow stops at once when its destination ENI is removed, and reaches a new ENI at that address', () => {
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

  t('a cached flow follows a change of the sender\'s groups and of the receiver\'s', () => {
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

  t('the cache never carries a frame the full path would refuse: wrong MAC, spoofed source, TTL 1 when routed', () => {
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

  t('many flows at once are each decided once and then forwarded; connection records exist for each', () => {
    const flows = Array.from({ length: 300 }, (_, i) => frame(A, B.ip, B.mac, 10_000 + i, 9, `f${i}`));
    got = [];
    for (let round = 0; round < 3; round++) sendAll(sw, mode, pa, flows);
    assert.equal(got.length, 900);
    assert.equal(pa.ct.size, 300);
    assert.equal(pb.ct.size, 300);
  });
}

test('the native fast path and the TypeScript path agree on random traffic, rule changes and ENI changes (differential)', () => {
  const seed = Number(process.env['NITRIDE_FUZZ_SEED'] ?? 20261129);
  let x = seed >>> 0 || 1;
  const rnd = (n: number): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
  const outs: { to: string; frame: string }[][] = [[], []];
  const sws = [0, 1].map((k) => new VpcSwitch((port, buf, off, len) => outs[k]!.push({ to: port.eniId, frame: buf.subarray(off, off + len).toString('hex') })));
  try {
    assert.ok(sws[1]!.nativeFastPath, 'the native addon (native/gcm) is built and has switchChunk');
    const enis = [
      eni('vpc-d', '10.8.1.0/24', '10.8.1.10', ['sg-0d1']),
      eni('vpc-d', '10.8.1.0/24', '10.8.1.11', ['sg-0d1']),
      eni('vpc-d', '10.8.2.0/24', '10.8.2.10', ['sg-0d1', 'sg-0d2']),
      eni('vpc-e', '10.8.1.0/24', '10.8.1.11', ['sg-0d2']),
    ];
    const ruleSets: GroupRules[] = [
      OPEN_UDP_9,
      { ingress: [{ protocol: 'all', cidrs: ['10.8.0.0/16'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] },
      { ingress: [{ protocol: 'tcp', fromPort: 80, toPort: 90, cidrs: ['10.8.1.0/24'] }, { protocol: 'icmp', cidrs: ['10.8.0.0/16'] }], egress: [{ protocol: 'udp', fromPort: 9, toPort: 9, cidrs: ['0.0.0.0/0'] }, { protocol: 'tcp', cidrs: ['10.8.0.0/16'] }] },
      { ingress: [], egress: [] },
    ];
    const ports: Port[][] = sws.map((s) => {
      s.setRules('sg-0d1', ruleSets[1]!);
      s.setRules('sg-0d2', ruleSets[0]!);
      return enis.map((e) => s.addEni(e));
    });
    const macs = [...enis.map((e) => e.mac), ROUTER_MAC, '02:00:00:00:00:77'];
    const ips = [...enis.map((e) => e.ip), '10.8.1.99', '10.8.2.99'];
    let hits = 0;
    let compared = 0;
    for (let step = 0; step < 4000; step++) {
      const r = rnd(100);
      if (r < 3) {
        const g = rnd(2) ? 'sg-0d1' : 'sg-0d2';
        const rules = ruleSets[rnd(ruleSets.length)]!;
        for (const s of sws) s.setRules(g, rules);
        continue;
      }
      if (r < 5) {
        const i = rnd(3);
        const groups = [['sg-0d1'], ['sg-0d2'], ['sg-0d1', 'sg-0d2']][rnd(3)]!;
        const sdc = rnd(4) !== 0;
        for (const s of sws) s.updateEni(enis[i]!.eniId, { securityGroups: groups, sourceDestCheck: sdc });
        continue;
      }
      if (r < 6) {
        const i = 1 + rnd(2);
        sws.forEach((s, k) => {
          s.removeEni(enis[i]!.eniId);
          ports[k]![i] = s.addEni(enis[i]!);
        });
        continue;
      }
      // A chunk of 1–40 frames from one ENI, drawn from few flows so that caches are hit.
      const from = rnd(enis.length);
      const src = enis[from]!;
      const frames: Buffer[] = [];
      const n = 1 + rnd(40);
      for (let i = 0; i < n; i++) {
        // Mostly a well-formed frame to another ENI of the VPC (by its MAC in the same subnet,
        // by the router otherwise); sometimes anything.
        const sane = rnd(4) !== 0;
        const peer = enis[rnd(3)]!;
        const dstIp = sane ? peer.ip : ips[rnd(ips.length)]!;
        const dstMac = sane ? (peer.subnetCidr === src.subnetCidr ? peer.mac : ROUTER_MAC) : macs[rnd(macs.length)]!;
        const spoof = !sane && rnd(5) === 0;
        const s = ipToInt(spoof ? '10.8.1.200' : src.ip);
        const d = ipToInt(dstIp);
        const proto = [IPPROTO_UDP, 6, 1][rnd(3)]!;
        const sport = 1000 + rnd(3);
        const dport = [9, 80, 85, 443][rnd(4)]!;
        const l4 = Buffer.alloc(20);
        if (proto === 1) {
          l4[0] = rnd(2) ? 8 : 0; // echo request / reply
          l4.writeUInt16BE(sport, 4);
        } else {
          l4.writeUInt16BE(sport, 0);
          l4.writeUInt16BE(dport, 2);
        }
        const ip = buildIpv4({ src: s, dst: d, protocol: proto, ttl: sane ? 64 : [1, 2, 64][rnd(3)]! }, proto === IPPROTO_UDP ? buildUdp(s, d, sport, dport, Buffer.from('x')) : l4);
        if (!sane && rnd(5) === 0) ip[6] = 0x20; // more fragments
        const f = buildEthernet(macToBytes(dstMac), macToBytes(!sane && rnd(6) === 0 ? '02:00:00:00:00:66' : src.mac), ETHERTYPE_IPV4, ip);
        if (!sane && rnd(8) === 0) {
          const k = rnd(f.length); // a flipped bit anywhere
          f[k] = (f[k] as number) ^ (1 << rnd(8));
        }
        const framed = Buffer.alloc(4 + f.length);
        framed.writeUInt32BE(f.length, 0);
        f.copy(framed, 4);
        frames.push(framed);
      }
      const before = sws[1]!.nativeHits;
      sendAll(sws[0]!, 'frame by frame', ports[0]![from]!, frames);
      sendAll(sws[1]!, 'in chunks (native fast path)', ports[1]![from]!, frames);
      hits += sws[1]!.nativeHits - before;
      assert.deepEqual(outs[1]!.slice(compared), outs[0]!.slice(compared), `step ${step} (seed ${seed}): the same frames leave, in the same order`);
      assert.equal(outs[1]!.length, outs[0]!.length);
      compared = outs[0]!.length;
      for (let i = 0; i < enis.length; i++) {
        assert.deepEqual(ports[1]![i]!.counters, ports[0]![i]!.counters, `step ${step} (seed ${seed}): counters of ${enis[i]!.eniId}`);
        assert.equal(ports[1]![i]!.ct.size, ports[0]![i]!.ct.size, `step ${step}: connection records of ${enis[i]!.eniId}`);
      }
    }
    process.stderr.write(`[switch differential] ${hits} frames decided natively, ${outs[0]!.length} forwarded or answered\n`);
    assert.ok(hits > 1000, `the native fast path decided a good share of the frames (${hits})`);
    assert.ok(outs[0]!.length > 1000, `traffic was forwarded (${outs[0]!.length} frames)`);
  } finally {
    for (const s of sws) s.close();
  }
});

test('the native fast path refuses malformed arguments and never reads outside the chunk', () => {
  const nat = loadNativeGcm()?.switchChunk;
  assert.ok(nat, 'the native addon (native/gcm) is built and has switchChunk');
  const slots = 1024;
  const cache = (): [Int32Array, Uint32Array, Uint32Array, Uint8Array, Float64Array, Uint8Array, Uint8Array] =>
    [new Int32Array(slots), new Uint32Array(slots), new Uint32Array(slots), new Uint8Array(slots), new Float64Array(slots), new Uint8Array(6 * slots), new Uint8Array(slots)];
  const mac = Buffer.alloc(6);
  const buf = Buffer.alloc(100);
  const out = new Int32Array(4);
  // Offsets and lengths beyond the chunk, negative, or too short: every frame goes to the full path.
  const idx = Int32Array.from([90, 60, -10, 50, 4, 10, 2_000_000_000, 2_000_000_000]);
  assert.equal(nat(buf, idx, 4, mac, 0, true, 0, 0, ...cache(), out), 0);
  assert.deepEqual([...out], [-1, -1, -1, -1]);
  // Sizes that do not fit: refused with an error, not read.
  assert.throws(() => nat(buf, idx, 5, mac, 0, true, 0, 0, ...cache(), out), /bad arguments/);
  assert.throws(() => nat(buf, idx, 2, Buffer.alloc(5), 0, true, 0, 0, ...cache(), out), /bad arguments/);
  const [g, d, p, pr, u, m, f] = cache();
  assert.throws(() => nat(buf, idx, 2, mac, 0, true, 0, 0, g, d, p, pr, u, m.subarray(6), f, out), /bad arguments/);
  assert.throws(() => nat(buf, idx, 2, mac, 0, true, 0, 0, g.subarray(0, 1), d.subarray(0, 1), p.subarray(0, 1), pr.subarray(0, 1), u.subarray(0, 1), m.subarray(0, 6), f.subarray(0, 1), out), /bad arguments/);
});
