// Fuzz the card process through its real sockets: two attacker ENIs (one with the source
// check off, so mutated frames reach deeper) send seeded random and mutated Ethernet, ARP,
// IPv4, ICMP, UDP, TCP, DHCP and IMDS HTTP traffic, while two bystander ENIs keep pinging
// each other. The card must stay up, answer its control channel, keep the bystanders'
// traffic flowing, and answer every complete HTTP request with a status.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CardHarness, eni, imds } from '../../src/vpc/testing/card-harness.js';
import { mutate, randomBytes, rng, seedFrames } from '../../src/vpc/testing/fuzz.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';
import { macToBytes } from '../../src/vpc/protocol/addr.js';
import { parseHttpRequest } from '../../src/vpc/imds/http.js';
import { ROUTER_MAC } from '../../src/vpc/switch.js';
import type { EniConfig } from '../../src/vpc/model.js';

const SEED = Number(process.env['NITRIDE_FUZZ_SEED'] ?? 4242);
const FRAMES = 20_000;
const R = macToBytes(ROUTER_MAC);

let card: CardHarness;
let A: EniConfig, B: EniConfig, C: EniConfig, D: EniConfig;
let a: SimGuest, b: SimGuest, c: SimGuest, d: SimGuest;

before(async () => {
  card = await CardHarness.start();
  await card.setRules('sg-f', { ingress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'all', cidrs: ['0.0.0.0/0'] }] });
  A = eni('vpc-f', '10.9.0.0/24', '10.9.0.10', ['sg-f'], { sourceDestCheck: false, imds: imds('i-0000000000000000a', { httpTokens: 'optional' }) });
  B = eni('vpc-f', '10.9.0.0/24', '10.9.0.11', ['sg-f'], { imds: imds('i-0000000000000000b') });
  C = eni('vpc-f', '10.9.1.0/24', '10.9.1.10', ['sg-f']);
  D = eni('vpc-f', '10.9.1.0/24', '10.9.1.11', ['sg-f']);
  const g: SimGuest[] = [];
  for (const e of [A, B, C, D]) g.push(await SimGuest.connect((await card.addEni(e)).socketPath, e.mac, e.ip));
  [a, b, c, d] = g as [SimGuest, SimGuest, SimGuest, SimGuest];
  d.answerPings();
});

after(async () => {
  for (const g of [a, b, c, d]) g?.close();
  await card?.stop();
});

test(`malformed frames from two ENIs: the card stays up and the others are unaffected (seed ${SEED})`, { timeout: 120_000 }, async () => {
  const r = rng(SEED);
  const seedsA = seedFrames(a.mac, a.ip, b.mac, b.ip);
  const seedsB = seedFrames(b.mac, b.ip, R, c.ip);
  let pings = 0;
  for (let i = 0; i < FRAMES; i += 500) {
    for (let j = i; j < i + 500; j++) {
      const [g, seeds] = j % 2 === 0 ? [a, seedsA] : [b, seedsB];
      const f = r() < 0.15 ? randomBytes(r, 14 + Math.floor(r() * 300)) : mutate(r, seeds[j % seeds.length] as Buffer);
      g.send(f);
    }
    // The bystanders keep working throughout.
    assert.ok(await c.ping(macToBytes(D.mac), D.ip, 7, ++pings, 3000), `bystander ping ${pings} during the fuzz`);
  }
  const info = (await card.channel.request('card.info', {})) as { enis: number };
  assert.equal(info.enis, 4);
  const sa = (await card.stats(A.eniId)).counters;
  const sb = (await card.stats(B.eniId)).counters;
  assert.equal(sa.rxFrames + sb.rxFrames >= FRAMES * 0.99, true, `the card read the frames (${sa.rxFrames}+${sb.rxFrames})`);
  assert.ok(sa.droppedMalformed > 0 && sb.droppedMalformed > 0);
  assert.ok(sb.droppedSpoofedMac + sb.droppedSpoofedIp > 0);
  const sd = (await card.stats(D.eniId)).counters;
  assert.equal(sd.droppedMalformed, 0, 'nothing malformed reached the bystander');
  assert.ok(card.alive());
});

test(`IMDS HTTP: mutated requests get a status whenever they are complete (seed ${SEED})`, { timeout: 120_000 }, async () => {
  const r = rng(SEED + 7);
  const base = Buffer.from('GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n');
  for (let i = 0; i < 60; i++) {
    const req = mutate(r, base);
    const verdict = parseHttpRequest(req);
    // Only the request goes inside the try: an assertion must never be caught by it.
    let answer: { status: number } | Error;
    try {
      answer = await a.http(R, req.toString('latin1'), { timeoutMs: 1500 });
    } catch (e) {
      answer = e instanceof Error ? e : new Error(String(e));
    }
    const shown = JSON.stringify(req.toString('latin1'));
    if (answer instanceof Error) {
      assert.equal(verdict.kind, 'incomplete', `no answer to a complete request ${shown}: ${String(answer)}`);
    } else {
      assert.ok(answer.status >= 200 && answer.status < 600, `a status for ${shown}`);
      assert.notEqual(verdict.kind, 'incomplete', `an answer to an incomplete request ${shown}`);
    }
  }
  assert.equal((await a.http(R, base.toString())).status, 200, 'a clean request still works');
});

test('a stream length no QEMU would send closes only that ENI\'s socket', async () => {
  const closed = new Promise<void>((resolve) => a.socket.once('close', () => resolve()));
  a.sendRaw(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
  await closed;
  assert.ok(await c.ping(macToBytes(D.mac), D.ip, 8, 1, 3000));
  const list = (await card.channel.request('eni.list', {})) as { eniId: string; connected: boolean }[];
  assert.equal(list.find((e) => e.eniId === A.eniId)?.connected, false);
  assert.equal(list.find((e) => e.eniId === C.eniId)?.connected, true);
});
