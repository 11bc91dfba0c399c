// Seeded fuzz of every decoder and of the switch in-process: random and mutated input only
// ever yields a result or a MalformedFrame/BadFrameLength error, and the switch never throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildZoneTable, decide } from '../dns/zone.js';
import { buildQuery, parseDnsMessage, TYPE_A } from '../dns/protocol/message.js';
import { VpcError } from '../errors.js';
import { parseHttpRequest } from '../imds/http.js';
import { VpcSwitch } from '../switch.js';
import { mutate, randomBytes, rng, seedFrames } from '../testing/fuzz.js';
import { ipToInt, macToBytes, parseCidr } from './addr.js';
import { parseArp } from './arp.js';
import { parseDhcp } from './dhcp.js';
import { parseEthernet } from './ethernet.js';
import { parseIcmp } from './icmp.js';
import { parseIpv4 } from './ipv4.js';
import { FrameDecoder } from './stream-framing.js';
import { parseTcp } from './tcp.js';
import { parseUdp } from './udp.js';

const SEED = Number(process.env['NITRIDE_FUZZ_SEED'] ?? 5150);
const ROUNDS = 4000;

function clean(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof VpcError) || !['MalformedFrame', 'BadFrameLength'].includes(e.code)) throw e;
  }
}

test(`decoders: random and mutated input (seed ${SEED})`, () => {
  const r = rng(SEED);
  const mac = macToBytes('02:00:00:00:00:01');
  const seeds = seedFrames(mac, ipToInt('10.0.0.10'), macToBytes('02:00:00:00:00:02'), ipToInt('10.0.0.11'));
  for (let i = 0; i < ROUNDS; i++) {
    const base = seeds[i % seeds.length] as Buffer;
    const f = r() < 0.2 ? randomBytes(r, Math.floor(r() * 400)) : mutate(r, base);
    clean(() => parseEthernet(f));
    const p = f.subarray(14);
    clean(() => parseArp(p));
    clean(() => parseIpv4(p));
    const l4 = p.subarray(20);
    clean(() => parseIcmp(l4, 0, l4.length));
    clean(() => parseUdp(l4, 0, l4.length, 1, 2));
    clean(() => parseTcp(l4, 0, l4.length, 1, 2));
    clean(() => parseDhcp(l4.subarray(8)));
    clean(() => parseDhcp(f));
    const h = parseHttpRequest(mutate(r, Buffer.from('GET /latest/meta-data/ HTTP/1.1\r\nX-aws-ec2-metadata-token: abc\r\nContent-Length: 0\r\n\r\n')));
    assert.ok(['request', 'incomplete', 'error'].includes(h.kind));
    clean(() => new FrameDecoder().push(f, () => undefined));
  }
});

test(`DNS: mutated queries parse cleanly or fail as malformed, and the resolver always decides (seed ${SEED})`, () => {
  const r = rng(SEED + 2);
  const t = buildZoneTable([{ ip: '10.0.0.10', domainName: 'local-1.compute.internal' }], { enableDnsSupport: true, enableDnsHostnames: true, records: [] }, [parseCidr('10.0.0.0/16')]);
  const seeds = [buildQuery(1, 'ip-10-0-0-10.local-1.compute.internal', TYPE_A, { ednsUdpSize: 1232 }), buildQuery(2, '10.0.0.10.in-addr.arpa', 12), buildQuery(3, 'example.com', 28)];
  const kinds = new Set<string>();
  for (let i = 0; i < ROUNDS; i++) {
    const q = r() < 0.2 ? randomBytes(r, Math.floor(r() * 300)) : mutate(r, seeds[i % seeds.length] as Buffer);
    clean(() => parseDnsMessage(q));
    for (const upstream of [false, true]) {
      const d = decide(q, t, { upstream, pathLimit: 1392 });
      kinds.add(d.kind);
      // Every reply the resolver makes is itself a message it can read back.
      if (d.kind === 'reply') assert.equal(parseDnsMessage(d.msg).header.qr, true);
    }
  }
  assert.deepEqual([...kinds].sort(), ['drop', 'forward', 'reply']);
});

test(`switch: mutated frames from two ENIs never throw; the clean path still works (seed ${SEED})`, () => {
  const delivered: string[] = [];
  const sw = new VpcSwitch((port) => void delivered.push(port.eniId));
  try {
    const base = { subnetCidr: '10.0.0.0/24', vpcId: 'vpc-1', securityGroups: ['sg-1'], hostname: 'h', mtu: 1500, domainName: 'local-1.compute.internal' };
    const imds = { instanceId: 'i-0123456789abcdef0', httpTokens: 'optional' as const, hopLimit: 1, endpoint: 'enabled' as const };
    const a = sw.addEni({ ...base, eniId: 'eni-a', mac: '02:00:00:00:00:01', ip: '10.0.0.10', sourceDestCheck: false, imds });
    const b = sw.addEni({ ...base, eniId: 'eni-b', mac: '02:00:00:00:00:02', ip: '10.0.0.11', sourceDestCheck: true, imds });
    sw.setRules('sg-1', { ingress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] });
    const r = rng(SEED + 1);
    const seedsA = seedFrames(a.mac, a.ip, b.mac, b.ip);
    const seedsB = seedFrames(b.mac, b.ip, a.mac, a.ip);
    for (let i = 0; i < ROUNDS; i++) {
      const [port, seeds] = i % 2 === 0 ? [a, seedsA] : [b, seedsB];
      const f = r() < 0.2 ? randomBytes(r, Math.floor(r() * 200)) : mutate(r, seeds[i % seeds.length] as Buffer);
      sw.input(port, f);
    }
    assert.ok(a.counters.droppedMalformed > 0 && b.counters.droppedMalformed > 0);
    delivered.length = 0;
    sw.input(a, seedsA[2] as Buffer); // a clean ping A → B
    assert.deepEqual(delivered, ['eni-b']);
    delivered.length = 0;
    const before = a.counters.dnsQueries;
    sw.input(a, seedsA[7] as Buffer); // a clean question to the resolver: answered to A
    assert.deepEqual(delivered, ['eni-a']);
    assert.equal(a.counters.dnsQueries, before + 1);
  } finally {
    sw.close();
  }
});
