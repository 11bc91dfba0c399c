// The VPC edge end to end: a real card process whose public side (a TAP device) sits in a
// network namespace this test creates, synthetic guests on its ENI sockets, and real tools
// (busybox ping and nc, python3) inside the namespace as the internet. Nothing leaves the
// namespace or loopback.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '../../src/lib/wait.js';
import { ipToInt, macToBytes } from '../../src/vpc/protocol/addr.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, seqAdd } from '../../src/vpc/protocol/tcp.js';
import { ROUTER_MAC } from '../../src/vpc/switch.js';
import { CardHarness, eni } from '../../src/vpc/testing/card-harness.js';
import { EdgeNamespace } from '../../src/vpc/testing/edge-netns.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';
import type { EniConfig, GroupRules } from '../../src/vpc/model.js';

const R = macToBytes(ROUTER_MAC);
const PUB_A = '198.51.100.10';
const PUB_C = '198.51.100.12';
const WEB: GroupRules = {
  ingress: [
    { protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrs: ['198.51.100.0/24'] },
    { protocol: 'icmp', fromPort: 8, toPort: -1, cidrs: ['0.0.0.0/0'] },
  ],
  egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }],
};

let card: CardHarness;
let net: EdgeNamespace | undefined;
let A: EniConfig, B: EniConfig, C: EniConfig;
let a: SimGuest, b: SimGuest, c: SimGuest;

/**
 * A one-shot TCP server on guest A's `port`, built from frames: SYN → SYN-ACK, data → the
 * reply and FIN, the client's FIN acknowledged. Records the client's address.
 */
async function serveOnce(g: SimGuest, port: number, reply: string): Promise<string> {
  const isSeg = (f: Buffer, flags: number): boolean => {
    const t = SimGuest.tcp(f);
    return t !== undefined && t.dstPort === port && (t.flags & flags) === flags;
  };
  const syn = SimGuest.tcp(await g.waitFrame((f) => isSeg(f, TCP_SYN), 10_000, 'SYN'))!;
  const client = syn.src;
  const cport = syn.srcPort;
  let seq = 1000;
  let ack = seqAdd(syn.seq, 1);
  g.send(g.tcpSegment(R, client, { sport: port, dport: cport, seq, ack, flags: TCP_SYN | TCP_ACK }));
  seq = seqAdd(seq, 1);
  const data = SimGuest.tcp(await g.waitFrame((f) => { const t = SimGuest.tcp(f); return t !== undefined && t.dstPort === port && t.srcPort === cport && t.payload.length > 0; }, 10_000, 'data'))!;
  ack = seqAdd(data.seq, data.payload.length);
  const out = Buffer.from(reply);
  g.send(g.tcpSegment(R, client, { sport: port, dport: cport, seq, ack, flags: TCP_ACK | TCP_PSH | TCP_FIN }, out));
  seq = seqAdd(seq, out.length + 1);
  const fin = SimGuest.tcp(await g.waitFrame((f) => { const t = SimGuest.tcp(f); return t !== undefined && t.dstPort === port && t.srcPort === cport && (t.flags & TCP_FIN) !== 0; }, 10_000, 'FIN'))!;
  g.send(g.tcpSegment(R, client, { sport: port, dport: cport, seq, ack: seqAdd(fin.seq, fin.payload.length + 1), flags: TCP_ACK }));
  return intToIpString(client);
}

function intToIpString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

before(async () => {
  card = await CardHarness.start();
  net = await EdgeNamespace.create(card.channel);
  await card.setRules('sg-web', WEB);
  A = eni('vpc-e', '10.0.1.0/24', '10.0.1.10', ['sg-web'], { vpcCidr: '10.0.0.0/16', publicIp: PUB_A, internetRoute: true });
  B = eni('vpc-e', '10.0.1.0/24', '10.0.1.11', ['sg-web'], { vpcCidr: '10.0.0.0/16', internetRoute: true });
  C = eni('vpc-e', '10.0.1.0/24', '10.0.1.12', ['sg-web'], { vpcCidr: '10.0.0.0/16', publicIp: PUB_C, internetRoute: false });
  const guests: SimGuest[] = [];
  for (const e of [A, B, C]) guests.push(await SimGuest.connect((await card.addEni(e)).socketPath, e.mac, e.ip));
  [a, b, c] = guests as [SimGuest, SimGuest, SimGuest];
  for (const g of guests) g.answerPings();
});

after(async () => {
  for (const g of [a, b, c]) g?.close();
  await card?.stop();
  net?.close();
});

const ns = (): EdgeNamespace => net as EdgeNamespace;
const stats = async (e: EniConfig): Promise<Record<string, number>> => (await card.stats(e.eniId)).counters as unknown as Record<string, number>;

test('ping from the namespace reaches the guest at its public IP (ARP answered by the edge), and the replies come back translated', async () => {
  const r = await ns().run(['busybox', 'ping', '-c', '2', '-W', '3', PUB_A]);
  assert.equal(r.code, 0, `ping ${PUB_A}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /2 packets received/);
  const s = await stats(A);
  assert.ok(s['edgeInFrames']! >= 2 && s['edgeOutFrames']! >= 2, JSON.stringify(s));
  const edge = await card.channel.request('edge.stats', {});
  assert.ok(edge.mappings.some((m) => m.publicIp === PUB_A && m.eniId === A.eniId));
  assert.ok(edge.counters.arpAnswered >= 1, 'the edge answered ARP for the public IP');
});

test('TCP from the namespace: nc connects to the public IP, the guest answers, and sees the client\'s source address', async () => {
  const served = serveOnce(a, 8080, 'hello from the guest\n');
  const r = await ns().run(['busybox', 'nc', '-w', '5', PUB_A, '8080'], { input: 'hello guest\n' });
  assert.equal(await served, ns().hostIp, 'the guest sees the namespace client\'s address, not a translated one');
  assert.match(r.stdout, /hello from the guest/, `nc: ${r.stdout} ${r.stderr}`);
});

test('the guest pings the namespace and sends UDP to it: traffic leaves with the public IP', async () => {
  const reply = await a.ping(R, ns().hostIp, 77, 1, 3000);
  assert.ok(reply, 'echo reply from the namespace (the edge resolved its next hop by ARP)');
  assert.equal(reply.src, ipToInt(ns().hostIp));
  const listener = ns().run(['python3', '-c', 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("0.0.0.0",9999));s.settimeout(10);d,a=s.recvfrom(100);print(a[0],d.decode())'], { timeoutMs: 15_000 });
  // Until the listener is bound the datagram would be refused: send until it arrives.
  let done = false;
  void listener.then(() => (done = true));
  await waitFor('the namespace to receive the guest\'s datagram', () => {
    if (!done) a.udp(R, ns().hostIp, 40000, 9999, Buffer.from('from-guest'));
    return done;
  }, 10_000, 200);
  const out = await listener;
  assert.equal(out.stdout.trim(), `${PUB_A} from-guest`, `the namespace saw ${out.stdout}${out.stderr}`);
});

test('no public IP, no route to the internet gateway, or no rule: dropped and counted', async () => {
  // B has no public IP: nothing leaves.
  const b0 = await stats(B);
  b.udp(R, ns().hostIp, 40001, 9999, Buffer.from('x'));
  assert.equal(await b.ping(R, ns().hostIp, 5, 1, 500), undefined);
  await waitFor('B\'s drops to be counted', async () => (await stats(B))['edgeDroppedNoPublicIp']! >= b0['edgeDroppedNoPublicIp']! + 2, 5_000, 100);
  // C has a public IP but its subnet has no route to the gateway: dropped both ways.
  const c0 = await stats(C);
  const r = await ns().run(['busybox', 'ping', '-c', '1', '-W', '1', PUB_C]);
  assert.notEqual(r.code, 0, 'C is not reachable');
  assert.equal(await c.ping(R, ns().hostIp, 6, 1, 500), undefined, 'C cannot get out');
  const c1 = await stats(C);
  assert.ok(c1['edgeDroppedNoInternetRoute']! >= c0['edgeDroppedNoInternetRoute']! + 2, JSON.stringify(c1));
  // A, no rule for tcp/9090: the SYN is dropped at A's ingress.
  const a0 = await stats(A);
  const nc = await ns().run(['busybox', 'nc', '-w', '1', PUB_A, '9090'], { input: '' });
  assert.notEqual(nc.code, 0, 'no connection without a rule');
  assert.equal(await a.receives((f) => SimGuest.tcp(f)?.dstPort === 9090, 200), false, 'the guest saw no SYN to 9090');
  assert.ok((await stats(A))['droppedSecurityGroupIngress']! > a0['droppedSecurityGroupIngress']!);
});

test('revoking the rule stops new packets at once; restoring it lets them in again', async () => {
  await card.setRules('sg-web', { ingress: WEB.ingress.filter((r) => r.protocol !== 'icmp'), egress: WEB.egress });
  const before = await stats(A);
  const r = await ns().run(['busybox', 'ping', '-c', '1', '-W', '1', PUB_A]);
  assert.notEqual(r.code, 0, 'ping after the revoke');
  assert.ok((await stats(A))['droppedSecurityGroupIngress']! > before['droppedSecurityGroupIngress']!);
  await card.setRules('sg-web', WEB);
  assert.equal((await ns().run(['busybox', 'ping', '-c', '1', '-W', '2', PUB_A])).code, 0, 'ping once the rule is back');
});

test('a guest cannot send from its public IP or any address but its own', async () => {
  const before = await stats(A);
  a.udp(R, ns().hostIp, 40002, 9999, Buffer.from('spoof'), { src: ipToInt(PUB_A) });
  a.udp(R, ns().hostIp, 40003, 9999, Buffer.from('spoof'), { src: ipToInt('10.0.1.99') });
  await waitFor('both spoofed datagrams to be counted', async () => (await stats(A))['droppedSpoofedIp']! >= before['droppedSpoofedIp']! + 2, 5_000, 100);
  assert.equal((await stats(A))['edgeOutFrames'], before['edgeOutFrames'], 'nothing left through the edge');
});

test('eni.update publicIp: null unmaps the address at once; setting it again maps it', async () => {
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { publicIp: null } });
  const edge = await card.channel.request('edge.stats', {});
  assert.equal(edge.mappings.some((m) => m.publicIp === PUB_A), false);
  assert.notEqual((await ns().run(['busybox', 'ping', '-c', '1', '-W', '1', PUB_A])).code, 0, 'unmapped: no answer');
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { publicIp: PUB_A } });
  assert.equal((await ns().run(['busybox', 'ping', '-c', '1', '-W', '2', PUB_A])).code, 0, 'mapped again');
  // A public IP maps onto one ENI only.
  await assert.rejects(card.channel.request('eni.update', { eniId: B.eniId, patch: { publicIp: PUB_A } }), /DuplicatePublicIp|public IP/);
});

test('an address moved to another ENI (disassociate, associate) is answered by the new one from the next packet', async () => {
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { publicIp: null } });
  await card.channel.request('eni.update', { eniId: B.eniId, patch: { publicIp: PUB_A } });
  try {
    const b0 = await stats(B);
    const a0 = await stats(A);
    const r = await ns().run(['busybox', 'ping', '-c', '1', '-W', '2', PUB_A]);
    assert.equal(r.code, 0, `ping ${PUB_A} after the move: ${r.stdout}${r.stderr}`);
    assert.ok((await stats(B))['edgeInFrames']! > b0['edgeInFrames']!, 'B got it');
    assert.equal((await stats(A))['edgeInFrames'], a0['edgeInFrames'], 'A did not');
  } finally {
    await card.channel.request('eni.update', { eniId: B.eniId, patch: { publicIp: null } });
    await card.channel.request('eni.update', { eniId: A.eniId, patch: { publicIp: PUB_A } });
  }
});
