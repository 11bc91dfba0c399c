// The VPC card as a process: forked with an IPC channel, ENIs attached, synthetic guests
// connected over real unix sockets with QEMU's stream framing.
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CardHarness, eni, imds } from '../../src/vpc/testing/card-harness.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';
import { ipToInt, macToBytes } from '../../src/vpc/protocol/addr.js';
import { messageType, optionIp, DHCPACK, DHCPNAK, DHCPOFFER, OPT_HOSTNAME, OPT_MTU, OPT_ROUTER, OPT_SUBNET_MASK } from '../../src/vpc/protocol/dhcp.js';
import { ROUTER_MAC } from '../../src/vpc/switch.js';
import { IPPROTO_UDP } from '../../src/vpc/protocol/ipv4.js';
import type { EniConfig } from '../../src/vpc/model.js';

const R = macToBytes(ROUTER_MAC);
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

let card: CardHarness;
let A: EniConfig, B: EniConfig, C: EniConfig, D: EniConfig;
let a: SimGuest, b: SimGuest, c: SimGuest, d: SimGuest;

const SG_A = { ingress: [{ protocol: 'icmp' as const, cidrs: ['10.0.0.0/16'] }, { protocol: 'tcp' as const, fromPort: 22, toPort: 22, groupIds: ['sg-a'] }], egress: [{ protocol: 'all' as const, cidrs: ['0.0.0.0/0'] }] };

before(async () => {
  card = await CardHarness.start();
  A = eni('vpc-a', '10.0.1.0/24', '10.0.1.10', ['sg-a'], {
    imds: imds('i-0123456789abcdef0', { userDataBase64: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'), identitySigningKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), hopLimit: 2 }),
  });
  B = eni('vpc-a', '10.0.1.0/24', '10.0.1.11', ['sg-a']);
  C = eni('vpc-a', '10.0.2.0/24', '10.0.2.10', ['sg-a']);
  D = eni('vpc-b', '10.0.1.0/24', '10.0.1.11', ['sg-b']);
  await card.setRules('sg-a', SG_A);
  await card.setRules('sg-b', { ingress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] });
  const guests: SimGuest[] = [];
  for (const e of [A, B, C, D]) {
    const info = await card.addEni(e);
    assert.equal(info.socketPath.endsWith(`${e.eniId}.sock`), true);
    guests.push(await SimGuest.connect(info.socketPath, e.mac, e.ip));
  }
  [a, b, c, d] = guests as [SimGuest, SimGuest, SimGuest, SimGuest];
  for (const g of guests) g.answerPings();
});

after(async () => {
  for (const g of [a, b, c, d]) g?.close();
  await card?.stop();
});

test('DHCP leases the ENI its own address with router, netmask, MTU and hostname; a wrong request gets a NAK', async () => {
  const { offer, ack, ackType } = await a.dhcp();
  assert.equal(messageType(offer), DHCPOFFER);
  assert.equal(offer.yiaddr, ipToInt('10.0.1.10'));
  assert.equal(ackType, DHCPACK);
  assert.equal(optionIp(ack, OPT_ROUTER), ipToInt('10.0.1.1'));
  assert.equal(optionIp(ack, OPT_SUBNET_MASK), ipToInt('255.255.255.0'));
  assert.equal(ack.options.get(OPT_MTU)?.readUInt16BE(0), 1500);
  assert.equal(ack.options.get(OPT_HOSTNAME)?.toString(), A.hostname);
  const wrong = await b.dhcp('10.0.1.99');
  assert.equal(wrong.ackType, DHCPNAK);
});

test('ARP is answered from the table: gateway → router MAC, same-subnet peer → its MAC, nothing else', async () => {
  assert.deepEqual(await a.arp('10.0.1.1'), R);
  assert.deepEqual(await a.arp('10.0.1.11'), macToBytes(B.mac));
  assert.equal(await a.arp('10.0.2.10', 300), undefined, 'another subnet is reached through the gateway');
  assert.equal(await a.arp('10.0.1.77', 300), undefined, 'nobody has this address');
  assert.deepEqual(await d.arp('10.0.1.1'), R);
  assert.equal(await d.arp('10.0.1.10', 300), undefined, 'vpc-b does not see vpc-a');
});

test('same subnet: ping is switched by MAC without TTL change; across subnets it is routed (MACs rewritten, TTL − 1)', async () => {
  const r1 = await a.ping(macToBytes(B.mac), '10.0.1.11', 1, 1);
  assert.ok(r1, 'B answers');
  assert.equal(r1.ttl, 64);
  const r2 = await a.ping(R, '10.0.2.10', 1, 2);
  assert.ok(r2, 'C answers across subnets');
  assert.equal(r2.ttl, 63, 'the reply (sent with TTL 64) crossed the router once');
  assert.deepEqual(r2.frame.subarray(6, 12), R);
  const gw = await a.ping(R, '10.0.1.1', 1, 3);
  assert.ok(gw, 'the gateway answers ping');
  assert.equal(await a.ping(macToBytes(C.mac), '10.0.2.10', 1, 4, 300), undefined, 'no L2 path across subnets');
  assert.equal(await a.ping(R, '10.0.2.10', 1, 5, 300, { ttl: 1 }), undefined, 'TTL 1 is not routed');
  assert.ok((await card.stats(A.eniId)).counters.droppedTtlExceeded >= 1);
});

test('no path between VPCs, even to the same address', async () => {
  const before = (await card.stats(D.eniId)).counters;
  const r = await a.ping(macToBytes(B.mac), '10.0.1.11', 2, 1);
  assert.ok(r);
  const after = (await card.stats(D.eniId)).counters;
  assert.equal(after.txFrames, before.txFrames, 'D saw nothing');
  assert.equal(await d.ping(R, '10.0.1.10', 3, 1, 300), undefined);
  assert.equal(await d.ping(R, '10.0.2.10', 3, 2, 300), undefined);
  assert.ok((await card.stats(D.eniId)).counters.droppedNoRoute >= 2);
});

test('security groups: ingress default-deny, authorize opens within a second, revoke closes', async () => {
  const hit = (g: SimGuest, port: number) => (f: Buffer) => {
    const ip = SimGuest.ip(f);
    return ip !== undefined && ip.protocol === IPPROTO_UDP && ip.l4.readUInt16BE(2) === port;
  };
  a.udp(macToBytes(B.mac), '10.0.1.11', 4000, 5000, Buffer.from('blocked'));
  assert.equal(await b.receives(hit(b, 5000), 300), false);
  assert.ok((await card.stats(B.eniId)).counters.droppedSecurityGroupIngress >= 1);
  await card.setRules('sg-a', { ...SG_A, ingress: [...SG_A.ingress, { protocol: 'udp', fromPort: 5000, toPort: 5000, cidrs: ['10.0.1.10/32'] }] });
  a.udp(macToBytes(B.mac), '10.0.1.11', 4000, 5000, Buffer.from('open'));
  assert.equal(await b.receives(hit(b, 5000), 1000), true);
  // Stateful: B's answer to A's flow passes A's ingress although A has no UDP ingress rule.
  b.udp(macToBytes(A.mac), '10.0.1.10', 5000, 4000, Buffer.from('reply'));
  assert.equal(await a.receives(hit(a, 4000), 1000), true);
  // But B cannot start its own flow to A.
  b.udp(macToBytes(A.mac), '10.0.1.10', 5001, 4001, Buffer.from('unsolicited'));
  assert.equal(await a.receives(hit(a, 4001), 300), false);
  await card.setRules('sg-a', SG_A);
  a.udp(macToBytes(B.mac), '10.0.1.11', 4000, 5000, Buffer.from('revoked'));
  assert.equal(await b.receives(hit(b, 5000), 300), false);
});

test('anti-spoofing: a forged source IP or MAC is dropped and counted; sourceDestCheck=false lets it through', async () => {
  const s0 = (await card.stats(A.eniId)).counters;
  assert.equal(await a.ping(macToBytes(B.mac), '10.0.1.11', 4, 1, 300, { src: ipToInt('10.0.1.12') }), undefined);
  assert.equal(await a.ping(macToBytes(B.mac), '10.0.1.11', 4, 2, 300, { srcMac: macToBytes('02:99:99:99:99:99') }), undefined);
  const s1 = (await card.stats(A.eniId)).counters;
  assert.equal(s1.droppedSpoofedIp, s0.droppedSpoofedIp + 1);
  assert.equal(s1.droppedSpoofedMac, s0.droppedSpoofedMac + 1);
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { sourceDestCheck: false } });
  b.udp(macToBytes(B.mac), '10.0.1.11', 1, 1, Buffer.alloc(0)); // no-op to keep B busy
  a.send(a.ipFrame(macToBytes(B.mac), ipToInt('10.0.1.11'), 1, Buffer.from([8, 0, 0xf7, 0xfe, 0, 1, 0, 0]), { src: ipToInt('10.0.1.12') }));
  const got = await b.receives((f) => SimGuest.ip(f)?.src === ipToInt('10.0.1.12'), 1000);
  assert.equal(got, true, 'with the check off, the forged source reaches B');
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { sourceDestCheck: true } });
});

test('IMDS: IMDSv2 token with hop-limit TTL, v1 refused when tokens are required, EC2 paths, signed identity document', async () => {
  const v1 = await a.http(R, 'GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n');
  assert.equal(v1.status, 401);
  const put = await a.http(R, 'PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nConnection: close\r\n\r\n');
  assert.equal(put.status, 200);
  assert.deepEqual([...new Set(put.ttls)], [2], 'the token response carries the hop limit as its IP TTL');
  const token = put.raw.split('\r\n\r\n')[1] ?? '';
  assert.ok(token.length > 20);
  const get = async (path: string) => {
    const r = await a.http(R, `GET ${path} HTTP/1.0\r\nX-aws-ec2-metadata-token: ${token}\r\n\r\n`);
    return { status: r.status, body: r.raw.split('\r\n\r\n').slice(1).join('\r\n\r\n') };
  };
  assert.deepEqual(await get('/latest/meta-data/instance-id'), { status: 200, body: 'i-0123456789abcdef0' });
  assert.deepEqual(await get('/latest/meta-data/local-ipv4'), { status: 200, body: '10.0.1.10' });
  assert.deepEqual(await get(`/latest/meta-data/network/interfaces/macs/${A.mac}/vpc-id`), { status: 200, body: 'vpc-a' });
  assert.deepEqual(await get(`/latest/meta-data/network/interfaces/macs/${A.mac}/subnet-ipv4-cidr-block`), { status: 200, body: '10.0.1.0/24' });
  assert.equal((await get('/latest/user-data')).body, '#!/bin/sh\necho hi\n');
  assert.equal((await get('/latest/meta-data/nope')).status, 404);
  const doc = await get('/latest/dynamic/instance-identity/document');
  assert.equal(JSON.parse(doc.body).instanceId, 'i-0123456789abcdef0');
  const sig = await get('/latest/dynamic/instance-identity/signature');
  assert.equal(verify('sha256', Buffer.from(doc.body), publicKey, Buffer.from(sig.body, 'base64')), true);
  const bad = await a.http(R, 'GET /latest/meta-data/ HTTP/1.0\r\nX-aws-ec2-metadata-token: forged\r\n\r\n');
  assert.equal(bad.status, 401);
  // Optional tokens: IMDSv1 works.
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { imds: { ...(A.imds as NonNullable<EniConfig['imds']>), httpTokens: 'optional' } } });
  const v1ok = await a.http(R, 'GET /latest/meta-data/mac HTTP/1.0\r\n\r\n');
  assert.equal(v1ok.status, 200);
  assert.ok(v1ok.raw.endsWith(A.mac));
  // Disabled endpoint: no answer at all.
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { imds: { ...(A.imds as NonNullable<EniConfig['imds']>), endpoint: 'disabled' } } });
  await assert.rejects(a.http(R, 'GET / HTTP/1.0\r\n\r\n', { timeoutMs: 400 }), /timed out/);
  await card.channel.request('eni.update', { eniId: A.eniId, patch: { imds: A.imds as NonNullable<EniConfig['imds']> } });
});

test('one peer per ENI socket; bad control requests get clean errors', async () => {
  const info = (await card.channel.request('eni.list', {})) as { socketPath: string; connected: boolean }[];
  assert.equal(info.length, 4);
  assert.ok(info.every((i) => i.connected));
  const second = connect(info[0]?.socketPath ?? '');
  const closed = await new Promise<boolean>((r) => {
    second.on('close', () => r(true));
    second.on('error', () => r(true));
    setTimeout(() => r(false), 2000);
  });
  assert.equal(closed, true, 'a second connection is refused');
  await assert.rejects(card.addEni({ ...B, eniId: 'eni-dup1' }), /DuplicateMac|MAC/);
  await assert.rejects(card.addEni({ ...B, eniId: 'eni-dup2', mac: '02:aa:00:00:00:01' }), /address/);
  await assert.rejects(card.addEni({ ...B, eniId: 'eni-dup3', mac: '02:aa:00:00:00:02', ip: '10.0.5.5' }), /outside/);
  await assert.rejects(card.channel.request('eni.stats', { eniId: 'eni-nothere' }), /No ENI/);
  await assert.rejects(card.channel.request('eni.update', { eniId: B.eniId, patch: { ip: '10.0.1.50' } as never }), /can change/);
  await assert.rejects(card.channel.request('nope' as 'eni.list', {}), /operation/);
  assert.ok(await a.ping(macToBytes(B.mac), '10.0.1.11', 9, 9), 'still switching');
  await sleep(1);
});
