// The Amazon-provided DNS in a forked VPC card, asked by synthetic guests over their ENI
// sockets (the bytes QEMU would carry), and by busybox nslookup (a real resolver client)
// through a loopback relay into a guest's ENI. The upstream is a small UDP server this test
// runs on 127.0.0.1.
//   A  vpc-a 10.0.1.10 (public 198.51.100.20)   B  vpc-a 10.0.2.10   C  vpc-a 10.0.0.10 (the .2's subnet)
//   X  vpc-b 10.0.1.10 (same CIDR, another VPC)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from '../../src/lib/wait.js';
import { buildQuery, buildResponse, parseDnsMessage, rdataA, questionSectionEnd, type DnsMessage, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL, TYPE_A, TYPE_PTR } from '../../src/vpc/dns/protocol/message.js';
import { ipToInt, macToBytes } from '../../src/vpc/protocol/addr.js';
import { OPT_DNS, OPT_DOMAIN_NAME } from '../../src/vpc/protocol/dhcp.js';
import { CardHarness, eni } from '../../src/vpc/testing/card-harness.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';
import { ROUTER_MAC } from '../../src/vpc/switch.js';
import type { EniConfig } from '../../src/vpc/model.js';

const R = macToBytes(ROUTER_MAC);
const D = 'local-1.compute.internal';
const dnsOpts = { vpcCidr: '10.0.0.0/16', domainName: D, dns: ['10.0.0.2'] };

let card: CardHarness;
let A: EniConfig, B: EniConfig, C: EniConfig, X: EniConfig;
let a: SimGuest, b: SimGuest, c: SimGuest, x: SimGuest;
let sport = 30000;

before(async () => {
  card = await CardHarness.start();
  A = eni('vpc-a', '10.0.1.0/24', '10.0.1.10', ['sg-a'], { ...dnsOpts, publicIp: '198.51.100.20' });
  B = eni('vpc-a', '10.0.2.0/24', '10.0.2.10', ['sg-a'], dnsOpts);
  C = eni('vpc-a', '10.0.0.0/24', '10.0.0.10', ['sg-a'], dnsOpts);
  X = eni('vpc-b', '10.0.1.0/24', '10.0.1.10', ['sg-b'], dnsOpts);
  const g: SimGuest[] = [];
  for (const e of [A, B, C, X]) g.push(await SimGuest.connect((await card.addEni(e)).socketPath, e.mac, e.ip));
  [a, b, c, x] = g as [SimGuest, SimGuest, SimGuest, SimGuest];
});

after(async () => {
  for (const g of [a, b, c, x]) g?.close();
  await card?.stop();
});

/** One question from `g` to the resolver at `server`; the answer's bytes, or undefined. */
async function askRaw(g: SimGuest, server: string, q: Buffer, timeoutMs = 3000): Promise<Buffer | undefined> {
  const p = ++sport;
  g.udp(R, server, p, 53, q);
  const s = ipToInt(server);
  try {
    const f = await g.waitFrame((f) => {
      const ip = SimGuest.ip(f);
      return ip !== undefined && ip.protocol === 17 && ip.src === s && ip.l4.readUInt16BE(0) === 53 && ip.l4.readUInt16BE(2) === p;
    }, timeoutMs, `an answer from ${server}`);
    return (SimGuest.ip(f) as { l4: Buffer }).l4.subarray(8);
  } catch {
    return undefined;
  }
}

/** The same, parsed. */
async function ask(g: SimGuest, server: string, q: Buffer, timeoutMs = 3000): Promise<DnsMessage | undefined> {
  const raw = await askRaw(g, server, q, timeoutMs);
  return raw ? parseDnsMessage(raw) : undefined;
}

/** Questions over one TCP connection to the resolver (two-byte length before each), FIN after them; the answers. */
async function askTcp(g: SimGuest, server: string, qs: Buffer[]): Promise<DnsMessage[]> {
  const req = Buffer.concat(qs.flatMap((q) => [Buffer.from([q.length >> 8, q.length & 0xff]), q]));
  let raw = Buffer.from((await g.http(R, req, { dst: server, dport: 53, finWithRequest: true, timeoutMs: 5000 })).raw, 'latin1');
  const out: DnsMessage[] = [];
  while (raw.length >= 2) {
    const len = raw.readUInt16BE(0);
    out.push(parseDnsMessage(raw.subarray(2, 2 + len)));
    raw = raw.subarray(2 + len);
  }
  return out;
}

const addrs = (m: DnsMessage | undefined): string[] => (m?.answers ?? []).filter((r) => r.type === TYPE_A).map((r) => [...r.data].join('.'));

test('DHCP hands out the resolver (option 6) and the domain (option 15)', async () => {
  const { ack } = await a.dhcp();
  assert.equal([...(ack.options.get(OPT_DNS) ?? [])].join('.'), '10.0.0.2');
  assert.equal(ack.options.get(OPT_DOMAIN_NAME)?.toString(), D);
});

test("private and public names of the VPC's instances, at .2 and 169.254.169.253, UDP and TCP; PTR; NXDOMAIN; REFUSED", async () => {
  const overTcp = await askTcp(b, '169.254.169.253', [buildQuery(0x7777, `ip-10-0-1-10.${D}`, TYPE_A)]);
  assert.deepEqual(overTcp.map((m) => [m.header.id, addrs(m)]), [[0x7777, ['10.0.1.10']]]);
  const m = await ask(a, '10.0.0.2', buildQuery(0x4242, `ip-10-0-2-10.${D}`, TYPE_A));
  assert.equal(m?.header.id, 0x4242);
  assert.equal(m?.header.rcode, RCODE_NOERROR);
  assert.equal(m?.header.aa, true);
  assert.deepEqual(addrs(m), ['10.0.2.10']);
  assert.deepEqual(addrs(await ask(b, '169.254.169.253', buildQuery(1, `ip-10-0-1-10.${D}`, TYPE_A))), ['10.0.1.10']);
  // The public name answers the private address inside the VPC.
  assert.deepEqual(addrs(await ask(b, '10.0.0.2', buildQuery(2, 'ec2-198-51-100-20.local-1.compute.amazonaws.com', TYPE_A))), ['10.0.1.10']);
  const ptr = await ask(a, '10.0.0.2', buildQuery(3, '10.2.0.10.in-addr.arpa', TYPE_PTR));
  assert.equal(ptr?.answers[0]?.type, TYPE_PTR);
  assert.match(ptr?.answers[0]?.data.toString('latin1') ?? '', /ip-10-0-2-10.local-1.compute.internal/);
  assert.equal((await ask(a, '10.0.0.2', buildQuery(4, `ip-10-0-9-9.${D}`, TYPE_A)))?.header.rcode, RCODE_NXDOMAIN);
  const other = await ask(a, '10.0.0.2', buildQuery(5, 'example.com', TYPE_A));
  assert.equal(other?.header.rcode, RCODE_REFUSED);
  assert.equal(other?.header.ra, false);
  // The resolver is on-link in its own subnet: ARP answers the router's MAC.
  assert.deepEqual(await c.arp('10.0.0.2'), R);
  assert.deepEqual(addrs(await ask(c, '10.0.0.2', buildQuery(6, `ip-10-0-0-10.${D}`, TYPE_A))), ['10.0.0.10']);
  assert.ok((await card.stats(A.eniId)).counters.dnsQueries >= 4);
});

test('another VPC with the same CIDR gets none of these names, only its own', async () => {
  assert.equal((await ask(x, '10.0.0.2', buildQuery(7, `ip-10-0-2-10.${D}`, TYPE_A)))?.header.rcode, RCODE_NXDOMAIN);
  assert.equal((await ask(x, '10.0.0.2', buildQuery(8, 'ec2-198-51-100-20.local-1.compute.amazonaws.com', TYPE_A)))?.header.rcode, RCODE_NXDOMAIN);
  assert.equal((await ask(x, '10.0.0.2', buildQuery(9, '10.2.0.10.in-addr.arpa', TYPE_PTR)))?.header.rcode, RCODE_NXDOMAIN);
  assert.deepEqual(addrs(await ask(x, '10.0.0.2', buildQuery(10, `ip-10-0-1-10.${D}`, TYPE_A))), ['10.0.1.10']);
});

test("the region's records (dns.records) and the VPC's attributes: hostnames off, support off", async () => {
  await card.channel.request('dns.records', { vpcId: 'vpc-a', enableDnsSupport: true, enableDnsHostnames: true, records: [{ name: `ip-10-0-3-7.${D}`, ip: '10.0.3.7', kind: 'private' }] });
  assert.deepEqual(addrs(await ask(a, '10.0.0.2', buildQuery(11, `ip-10-0-3-7.${D}`, TYPE_A))), ['10.0.3.7']);
  assert.equal((await ask(x, '10.0.0.2', buildQuery(12, `ip-10-0-3-7.${D}`, TYPE_A)))?.header.rcode, RCODE_NXDOMAIN);
  await assert.rejects(card.channel.request('dns.records', { vpcId: 'vpc-a', enableDnsSupport: true, enableDnsHostnames: true, records: [{ name: 'bad name', ip: '10.0.3.7', kind: 'private' }] }), /host name/);
  await card.channel.request('dns.records', { vpcId: 'vpc-a', enableDnsSupport: true, enableDnsHostnames: false, records: [] });
  assert.equal((await ask(a, '10.0.0.2', buildQuery(13, 'ec2-198-51-100-20.local-1.compute.amazonaws.com', TYPE_A)))?.header.rcode, RCODE_REFUSED);
  const before = (await card.stats(A.eniId)).counters.droppedDns;
  await card.channel.request('dns.records', { vpcId: 'vpc-a', enableDnsSupport: false, enableDnsHostnames: false, records: [] });
  a.udp(R, '10.0.0.2', 999, 53, buildQuery(14, `ip-10-0-2-10.${D}`, TYPE_A));
  await waitFor('the dropped query counted', async () => (await card.stats(A.eniId)).counters.droppedDns > before, 3000, 50);
  // The query was dropped on arrival (counted above), so no answer is on its way.
  assert.equal(a.frames.some((f) => SimGuest.ip(f)?.l4.readUInt16BE(2) === 999), false);
  await card.channel.request('dns.records', { vpcId: 'vpc-a', enableDnsSupport: true, enableDnsHostnames: true, records: [] });
});

/** An upstream resolver on 127.0.0.1: answers example.com with 192.0.2.1, big.example with 80 records, never answers silent.example. */
async function upstreamServer(): Promise<{ sock: Socket; port: number; ids: number[] }> {
  const sock = createSocket('udp4');
  const ids: number[] = [];
  sock.on('message', (q, rinfo) => {
    const m = parseDnsMessage(q);
    ids.push(m.header.id);
    const name = m.questions[0]?.name;
    if (name === 'silent.example') return;
    const n = name === 'big.example' ? 80 : 1;
    const answers = Array.from({ length: n }, (_, i) => ({ type: TYPE_A, ttl: 30, data: rdataA(0xc0000201 + i) }));
    sock.send(buildResponse({ id: m.header.id, opcode: 0, rd: m.header.rd, ra: true, aa: false, rcode: RCODE_NOERROR, question: q.subarray(12, questionSectionEnd(q)), answers }), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { sock, port: sock.address().port, ids };
}

test('forwarding to the configured upstream: the guest\'s id kept, oversize answers truncated (TC), silence → SERVFAIL', { timeout: 30_000 }, async () => {
  const up = await upstreamServer();
  try {
    const r = (await card.channel.request('dns.configure', { upstream: `127.0.0.1:${up.port}` })) as { upstream: string };
    assert.equal(r.upstream, `127.0.0.1:${up.port}`);
    const m = await waitFor('a forwarded answer', () => ask(a, '10.0.0.2', buildQuery(0x0a0a, 'example.com', TYPE_A), 1000), 10_000, 100);
    assert.equal(m.header.id, 0x0a0a);
    assert.equal(m.header.ra, true);
    assert.deepEqual(addrs(m), ['192.0.2.1']);
    assert.ok(up.ids.length >= 1);
    // Names of the VPC never leave the card.
    const seen = up.ids.length;
    assert.deepEqual(addrs(await ask(a, '10.0.0.2', buildQuery(0x0b0b, `ip-10-0-2-10.${D}`, TYPE_A))), ['10.0.2.10']);
    assert.equal(up.ids.length, seen);
    const big = await ask(a, '10.0.0.2', buildQuery(0x0c0c, 'big.example', TYPE_A));
    assert.equal(big?.header.tc, true);
    assert.equal(big?.header.id, 0x0c0c);
    assert.equal(big?.answers.length, 0);
    const bigEdns = await ask(a, '10.0.0.2', buildQuery(0x0d0d, 'big.example', TYPE_A, { ednsUdpSize: 4096 }));
    assert.equal(bigEdns?.header.tc, false);
    assert.equal(bigEdns?.answers.length, 80);
    // Over TCP (what a client does after TC): the whole answer, and a local one, on one connection.
    const tcp = await askTcp(a, '10.0.0.2', [buildQuery(0x1111, 'big.example', TYPE_A), buildQuery(0x2222, `ip-10-0-2-10.${D}`, TYPE_A)]);
    assert.deepEqual(tcp.map((m) => m.header.id).sort(), [0x1111, 0x2222]);
    assert.equal(tcp.find((m) => m.header.id === 0x1111)?.answers.length, 80);
    assert.deepEqual(addrs(tcp.find((m) => m.header.id === 0x2222)), ['10.0.2.10']);
    const silent = await ask(a, '10.0.0.2', buildQuery(0x0e0e, 'silent.example', TYPE_A), 6000);
    assert.equal(silent?.header.rcode, RCODE_SERVFAIL);
    assert.equal(silent?.header.id, 0x0e0e);
  } finally {
    await card.channel.request('dns.configure', {});
    up.sock.close();
  }
  assert.equal((await ask(a, '10.0.0.2', buildQuery(0x0f0f, 'example.com', TYPE_A)))?.header.rcode, RCODE_REFUSED);
});

test("the operator's NITRIDE_DNS_UPSTREAM: a card started with it forwards; a malformed one stops the card from starting", { timeout: 30_000 }, async () => {
  await assert.rejects(CardHarness.start({ env: { ...process.env, NITRIDE_DNS_UPSTREAM: 'resolver.example' } }), /exited/);
  const up = await upstreamServer();
  const other = await CardHarness.start({ env: { ...process.env, NITRIDE_DNS_UPSTREAM: `127.0.0.1:${up.port}` } });
  let g: SimGuest | undefined;
  try {
    const E = eni('vpc-e', '10.0.1.0/24', '10.0.1.10', ['sg-e'], dnsOpts);
    g = await SimGuest.connect((await other.addEni(E)).socketPath, E.mac, E.ip);
    const guest = g;
    const m = await waitFor('an answer forwarded to the upstream from the environment', () => ask(guest, '10.0.0.2', buildQuery(0x5151, 'example.com', TYPE_A), 1000), 10_000, 100);
    assert.equal(m.header.id, 0x5151);
    assert.deepEqual(addrs(m), ['192.0.2.1']);
  } finally {
    g?.close();
    await other.stop();
    up.sock.close();
  }
});

test('busybox nslookup (a real resolver client) through a relay into guest A', { timeout: 30_000 }, async () => {
  // The relay: datagrams from nslookup on loopback go out of A's ENI to 10.0.0.2:53, answers come back.
  const relay = createSocket('udp4');
  relay.on('message', (q, rinfo) => {
    void askRaw(a, '10.0.0.2', q).then((m) => {
      if (m) relay.send(m, rinfo.port, rinfo.address);
    });
  });
  await new Promise<void>((r) => relay.bind(0, '127.0.0.1', r));
  try {
    const port = relay.address().port;
    const run = async (args: string[]): Promise<string> => {
      try {
        const { stdout } = await promisify(execFile)('busybox', ['nslookup', `-port=${port}`, '-timeout=3', ...args, '127.0.0.1'], { timeout: 15_000 });
        return stdout;
      } catch (e) {
        return String((e as { stdout?: string }).stdout ?? e);
      }
    };
    const out = await run(['-type=a', `ip-10-0-2-10.${D}`]);
    assert.match(out, /Address: 10\.0\.2\.10/, out);
    const rev = await run(['-type=ptr', '10.2.0.10.in-addr.arpa']);
    assert.match(rev, /ip-10-0-2-10\.local-1\.compute\.internal/, rev);
    const nx = await run(['-type=a', `ip-10-0-9-9.${D}`]);
    assert.match(nx, /NXDOMAIN/, nx);
    const refused = await run(['-type=a', 'example.com']);
    assert.match(refused, /REFUSED/, refused);
  } finally {
    relay.close();
  }
});
