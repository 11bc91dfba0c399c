// Live update of the VPC card (issue 5 item 6): two synthetic guests on real unix sockets
// exchange UDP frames at a fixed rate through the card process while `HostVpcCard.liveUpdate()`
// (what `nitride host restart-component vpc` runs) replaces it. The guests' sockets must stay
// connected (QEMU's stream netdev cannot reconnect), no frame may be lost, and the largest
// gap between frames at the receiver is measured and printed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControllerClient, enrollHost } from '../../src/controller/client.js';
import { makeRegion, readToken, startController, type ControllerProcess } from '../../src/controller/testing/fixtures.js';
import { HostVpcCard, vpcSocketDir, type HostVpcCardOptions } from '../../src/controller/cards/vpc.js';
import { createLogger } from '../../src/lib/log.js';
import { waitFor } from '../../src/lib/wait.js';
import { macToBytes } from '../../src/vpc/protocol/addr.js';
import { IPPROTO_UDP } from '../../src/vpc/protocol/ipv4.js';
import { encodeFrame, FrameDecoder } from '../../src/vpc/protocol/stream-framing.js';
import { buildUdp } from '../../src/vpc/protocol/udp.js';
import { eni, imds } from '../../src/vpc/testing/card-harness.js';
import { ROUTER_MAC } from '../../src/vpc/switch.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';
import type { EniStats } from '../../src/vpc/card.js';
import type { GroupState } from '../../src/controller/protocol/vpc-commands.js';
import type { EniConfig } from '../../src/vpc/model.js';
import { buildQuery, parseDnsMessage, TYPE_A } from '../../src/vpc/dns/protocol/message.js';

const SG = 'sg-0000feed';
const OPEN = { ingress: [{ protocol: 'all' as const, cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'all' as const, cidrs: ['0.0.0.0/0'] }] };
const PORT = 7000;

/** Counts the sequence numbers of the UDP frames to PORT that reach a guest, and the gaps between them. */
class Receiver {
  readonly seen = new Set<number>();
  maxGapMs = 0;
  private last = 0;
  closed = false;

  constructor(g: SimGuest) {
    const dec = new FrameDecoder();
    g.socket.on('data', (c: Buffer) =>
      dec.push(c, (f) => {
        const ip = SimGuest.ip(Buffer.from(f));
        if (!ip || ip.protocol !== IPPROTO_UDP || ip.l4.readUInt16BE(2) !== PORT) return;
        const now = performance.now();
        if (this.last !== 0) this.maxGapMs = Math.max(this.maxGapMs, now - this.last);
        this.last = now;
        this.seen.add(ip.l4.readUInt32BE(8));
      }),
    );
    g.socket.on('close', () => (this.closed = true));
  }
}

/** Puts ENIs on the card (all of them, then connects a guest to each, in order): one guest an ENI. */
type Plug = <E extends EniConfig[]>(groups: readonly GroupState[], ...enis: E) => Promise<{ [K in keyof E]: SimGuest }>;

/**
 * A started HostVpcCard in a fresh home. `plug` puts ENIs on it (all of them, then connects a
 * guest to each, in order). Afterwards every guest is closed, the card stopped and the home removed.
 */
async function withCard(fn: (host: HostVpcCard, plug: Plug) => Promise<void>, onEvent?: HostVpcCardOptions['onEvent']): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'nitride-vpc-live-'));
  const host = new HostVpcCard({ home, log: createLogger('vpc-live-test', () => undefined), ...(onEvent ? { onEvent } : {}) });
  const guests: SimGuest[] = [];
  const plug = (async (groups: readonly GroupState[], ...enis: EniConfig[]): Promise<SimGuest[]> => {
    const sockets: { socketPath: string }[] = [];
    for (const e of enis) sockets.push((await host.execute({ type: 'eni.put', params: { eni: e, groups } })) as { socketPath: string });
    const plugged: SimGuest[] = [];
    for (const [i, e] of enis.entries()) plugged.push(await SimGuest.connect(sockets[i]!.socketPath, e.mac, e.ip));
    guests.push(...plugged);
    return plugged;
  }) as Plug;
  try {
    host.start();
    await fn(host, plug);
  } finally {
    for (const g of guests) g.close();
    await host.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

test('the card is replaced while two guests exchange frames: sockets stay up, no frame is lost', { timeout: 120_000 }, async () => {
  // Called when the old card reports that it has frozen (stopped reading its guests' sockets).
  let onFrozen: (() => void) | undefined;
  const timers: NodeJS.Timeout[] = [];
  await withCard(
    async (host, plug) => {
      try {
        const groups = [{ groupId: SG, rules: OPEN, members: [] }];
        const A: EniConfig = eni('vpc-live', '10.9.1.0/24', '10.9.1.10', [SG]);
        const B: EniConfig = eni('vpc-live', '10.9.1.0/24', '10.9.1.11', [SG]);
        const [a, b] = await plug(groups, A, B);
        const atB = new Receiver(b);
        const atA = new Receiver(a);
        let sentAB = 0;
        let sentBA = 0;
        const payload = (seq: number): Buffer => {
          const p = Buffer.alloc(64);
          p.writeUInt32BE(seq, 0);
          return p;
        };
        // One frame each way every millisecond (as fast as the timer runs).
        timers.push(setInterval(() => a.udp(macToBytes(B.mac), B.ip, PORT, PORT, payload(sentAB++)), 1));
        timers.push(setInterval(() => b.udp(macToBytes(A.mac), A.ip, PORT, PORT, payload(sentBA++)), 1));
        await waitFor('50 frames each way before the update', () => atB.seen.size > 50 && atA.seen.size > 50, 20_000, 10);
        const before = host.supervisor.status();
        const gapBefore = Math.max(atA.maxGapMs, atB.maxGapMs);

        const t0 = performance.now();
        const r = await host.liveUpdate();
        const updateMs = performance.now() - t0;

        // Traffic goes on through the new card: 50 more frames each way, sent after the update, arrive.
        const [afterAB, afterBA] = [sentAB + 50, sentBA + 50];
        await waitFor('frames sent after the update to arrive', () => atB.seen.has(afterAB) && atA.seen.has(afterBA), 20_000, 10);
        for (const t of timers) clearInterval(t);
        // Everything sent has had the chance to arrive once both counts match (or the deadline tells what is missing).
        await waitFor('every frame sent to arrive', () => atB.seen.size >= sentAB && atA.seen.size >= sentBA, 5_000, 10).catch(() => undefined);
        assert.notEqual(r.pid, before.pid, 'a new card process runs');
        assert.equal(r.liveUpdate.oldPid, before.pid);
        assert.equal(r.liveUpdate.enis, 2);
        assert.equal(r.liveUpdate.sockets, 2);
        assert.equal(atA.closed || atB.closed, false, 'no guest socket was closed');
        const lostAB = sentAB - atB.seen.size;
        const lostBA = sentBA - atA.seen.size;
        const gapMs = Math.max(atA.maxGapMs, atB.maxGapMs);
        process.stdout.write(
          `# vpc live update: ${String(sentAB + sentBA)} frames sent, lost A→B ${String(lostAB)}, B→A ${String(lostBA)}; ` +
            `largest gap ${gapMs.toFixed(1)} ms (before the update ${gapBefore.toFixed(1)} ms); card frozen ${String(r.liveUpdate.frozenMs)} ms; liveUpdate() ${updateMs.toFixed(1)} ms\n`,
        );
        assert.equal(lostAB, 0, 'no frame from A to B was lost');
        assert.equal(lostBA, 0, 'no frame from B to A was lost');
        const stats = (await host.execute({ type: 'eni.stats', params: { eniId: A.eniId } })) as EniStats;
        assert.equal(stats.connected, true, 'the new card holds A\'s socket');

        // A frame split across the hand-over: the old card has read its first 20 bytes (and holds
        // them, waiting for the rest), the rest is sent while the old card is frozen, so it waits in
        // the kernel for the new card. The 20 bytes travel in the hand-over state and the new card
        // puts them in front of what it reads.
        const udpFrame = encodeFrame(a.ipFrame(macToBytes(B.mac), b.ip, IPPROTO_UDP, buildUdp(a.ip, b.ip, PORT, PORT, payload(0xfeed))));
        a.sendRaw(udpFrame.subarray(0, 20));
        await waitFor('the card to hold the first 20 bytes of the frame', async () => ((await host.execute({ type: 'eni.stats', params: { eniId: A.eniId } })) as EniStats).partialInputBytes === 20, 5_000, 10);
        let sentWhileFrozen = false;
        onFrozen = () => {
          a.sendRaw(udpFrame.subarray(20));
          sentWhileFrozen = true;
        };
        const done = await host.liveUpdate();
        onFrozen = undefined;
        assert.equal(sentWhileFrozen, true, 'the second half was sent while the old card was frozen');
        assert.equal(done.liveUpdate.sockets, 2);
        assert.equal(done.liveUpdate.pendingBytes, 20, 'the 20 bytes the old card had read went to the new card in the hand-over');
        await waitFor('the frame split across the hand-over to arrive', () => atB.seen.has(0xfeed), 5_000, 10);
        const afterSplit = (await host.execute({ type: 'eni.stats', params: { eniId: A.eniId } })) as EniStats;
        assert.equal(afterSplit.partialInputBytes, 0, 'nothing of the split frame is left over');
        assert.equal(afterSplit.counters.droppedMalformed, 0);

        // The listening socket moved too: a new ENI and a reconnect on it work with the new card.
        const C: EniConfig = eni('vpc-live', '10.9.1.0/24', '10.9.1.12', [SG]);
        const [c] = await plug(groups, C);
        const atC = new Receiver(c);
        a.udp(macToBytes(C.mac), C.ip, PORT, PORT, payload(1));
        await waitFor('a guest on an ENI added after the update to be reached', () => atC.seen.has(1), 5_000, 10);
        assert.equal(atC.seen.size, 1);
      } finally {
        for (const t of timers) clearInterval(t);
      }
    },
    (e) => (e.event === 'handover.frozen' ? onFrozen?.() : undefined),
  );
});

test('connection tracking survives the update: a reply only conntrack admits still arrives', { timeout: 60_000 }, async () => {
  await withCard(async (host, plug) => {
    // A admits nothing inbound: B's replies pass only as part of a flow A started.
    const groups = [
      { groupId: 'sg-0000000a', rules: { ingress: [], egress: OPEN.egress }, members: [] },
      { groupId: 'sg-0000000b', rules: OPEN, members: [] },
    ];
    const A: EniConfig = eni('vpc-ct', '10.9.2.0/24', '10.9.2.10', ['sg-0000000a']);
    const B: EniConfig = eni('vpc-ct', '10.9.2.0/24', '10.9.2.11', ['sg-0000000b']);
    const [a, b] = await plug(groups, A, B);
    const atA = new Receiver(a);
    const atB = new Receiver(b);
    const seq = (n: number): Buffer => {
      const p = Buffer.alloc(16);
      p.writeUInt32BE(n, 0);
      return p;
    };
    const arrives = (n: number): Promise<boolean> => waitFor(`frame ${String(n)} to reach A`, () => atA.seen.has(n), 5_000, 10);
    // A refusal is proven by A's ingress drop counter moving, and the frame is then not delivered.
    const ingressDrops = async (): Promise<number> => ((await host.execute({ type: 'eni.stats', params: { eniId: A.eniId } })) as EniStats).counters.droppedSecurityGroupIngress;
    const refused = async (send: () => void, n: number): Promise<void> => {
      const before = await ingressDrops();
      send();
      await waitFor(`A's card to count frame ${String(n)} as refused by its groups`, async () => (await ingressDrops()) > before, 5_000, 10);
      assert.equal(atA.seen.has(n), false, `frame ${String(n)} did not reach A`);
    };
    await refused(() => b.udp(macToBytes(A.mac), A.ip, PORT, PORT, seq(1)), 1);
    a.udp(macToBytes(B.mac), B.ip, PORT, PORT, seq(0)); // A opens the flow
    await waitFor('A\'s first frame to reach B', () => atB.seen.has(0), 5_000, 10);
    b.udp(macToBytes(A.mac), A.ip, PORT, PORT, seq(2));
    await arrives(2); // the reply within A's flow arrives
    const r = await host.liveUpdate();
    assert.equal(r.liveUpdate.sockets, 2);
    b.udp(macToBytes(A.mac), A.ip, PORT, PORT, seq(3));
    await arrives(3); // the flow is still tracked by the new card
    await refused(() => b.udp(macToBytes(A.mac), A.ip, PORT + 1, PORT, seq(4)), 4); // another flow is still refused
    assert.equal(atA.seen.has(1), false, 'the first refused frame never arrived either');
  });
});

test('IMDSv2 tokens survive the update: a token taken from the old card is accepted by the new one', { timeout: 60_000 }, async () => {
  await withCard(async (host, plug) => {
    const groups = [{ groupId: SG, rules: OPEN, members: [] }];
    const A: EniConfig = eni('vpc-imds', '10.9.4.0/24', '10.9.4.10', [SG], { imds: imds('i-0a1b2c3d4e5f60718') });
    const [a] = await plug(groups, A);
    const R = macToBytes(ROUTER_MAC);
    const put = await a.http(R, 'PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 300\r\nConnection: close\r\n\r\n');
    assert.equal(put.status, 200);
    const token = put.raw.split('\r\n\r\n')[1] ?? '';
    assert.ok(token.length > 20);
    const get = (t: string) => a.http(R, `GET /latest/meta-data/instance-id HTTP/1.0\r\nX-aws-ec2-metadata-token: ${t}\r\n\r\n`);
    assert.equal((await get(token)).status, 200, 'the token works before the update');
    const r = await host.liveUpdate();
    assert.equal(r.liveUpdate.sockets, 1);
    const after = await get(token);
    assert.equal(after.status, 200, 'the same token works on the new card');
    assert.ok(after.raw.endsWith('i-0a1b2c3d4e5f60718'));
    assert.equal((await get('forged-token-value-that-was-never-issued')).status, 401, 'an unknown token is still refused');
  });
});

test('through the controller: host.restart-component vpc replaces the card live, over mTLS', { timeout: 120_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'nitride-vpc-live-ctl-'));
  let ctl: ControllerProcess | undefined;
  let cl: ControllerClient | undefined;
  const guests: SimGuest[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    ctl = await startController(home);
    const region = await makeRegion();
    const port = ctl.runtime.port;
    const enr = await enrollHost({ address: '127.0.0.1', port, token: readToken(home), ca: region.ca, hostId: 'h-vpc-live', bootstrapFingerprint: ctl.runtime.fingerprint });
    cl = new ControllerClient({ address: '127.0.0.1', port, caPem: region.ca.certPem, certPem: region.certPem, keyPem: region.keyPem, hostId: enr.hostId });
    const c = cl;
    const groups = [{ groupId: SG, rules: OPEN, members: [] }];
    const A: EniConfig = eni('vpc-live', '10.9.3.0/24', '10.9.3.10', [SG]);
    const B: EniConfig = eni('vpc-live', '10.9.3.0/24', '10.9.3.11', [SG]);
    const ia = (await c.send('eni.put', { eni: A, groups })) as { socketPath: string };
    const ib = (await c.send('eni.put', { eni: B, groups })) as { socketPath: string };
    const a = await SimGuest.connect(ia.socketPath, A.mac, A.ip);
    const b = await SimGuest.connect(ib.socketPath, B.mac, B.ip);
    guests.push(a, b);
    const atB = new Receiver(b);
    let sent = 0;
    timers.push(
      setInterval(() => {
        const p = Buffer.alloc(64);
        p.writeUInt32BE(sent++, 0);
        a.udp(macToBytes(B.mac), B.ip, PORT, PORT, p);
      }, 1),
    );
    await waitFor('50 frames to reach B before the update', () => atB.seen.size > 50, 20_000, 10);
    const r = (await c.send('host.restart-component', { component: 'vpc' }, { timeoutMs: 60_000 })) as { pid: number; liveUpdate: { oldPid: number; enis: number; sockets: number; frozenMs: number } };
    const after = sent + 50;
    await waitFor('frames sent after the update to reach B', () => atB.seen.has(after), 20_000, 10);
    for (const t of timers) clearInterval(t);
    await waitFor('every frame sent to reach B', () => atB.seen.size >= sent, 5_000, 10).catch(() => undefined);
    assert.notEqual(r.pid, r.liveUpdate.oldPid);
    assert.equal(r.liveUpdate.sockets, 2);
    assert.equal(atB.closed, false);
    process.stdout.write(`# via the controller: ${String(sent)} frames sent, ${String(sent - atB.seen.size)} lost, largest gap ${atB.maxGapMs.toFixed(1)} ms, frozen ${String(r.liveUpdate.frozenMs)} ms\n`);
    assert.equal(sent - atB.seen.size, 0, 'no frame lost');
  } finally {
    for (const t of timers) clearInterval(t);
    for (const g of guests) g.close();
    cl?.close();
    await ctl?.stop();
    rmSync(join(vpcSocketDir(home), '..'), { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
});

test("the region's DNS records (vpc.dns) survive the update: the new card answers them", { timeout: 60_000 }, async () => {
  await withCard(async (host, plug) => {
    const groups = [{ groupId: SG, rules: OPEN, members: [] }];
    const A: EniConfig = eni('vpc-dns1', '10.9.5.0/24', '10.9.5.10', [SG], { vpcCidr: '10.9.0.0/16', domainName: 'local-1.compute.internal' });
    const [a] = await plug(groups, A);
    // An instance on another host, known to this card only through the region's records.
    const name = 'ip-10-9-6-20.local-1.compute.internal';
    assert.deepEqual(await host.execute({ type: 'vpc.dns', params: { vpcId: 'vpc-dns1', enableDnsSupport: true, enableDnsHostnames: false, records: [{ name, ip: '10.9.6.20', kind: 'private' }] } }), { vpcId: 'vpc-dns1', records: 1 });
    const R = macToBytes(ROUTER_MAC);
    let sport = 40000;
    const resolve = async (): Promise<string[]> => {
      const p = ++sport;
      a.udp(R, '10.9.0.2', p, 53, buildQuery(p, name, TYPE_A));
      const f = await a.waitFrame((f) => SimGuest.ip(f)?.l4.readUInt16BE(2) === p, 3000, 'a DNS answer');
      return parseDnsMessage((SimGuest.ip(f) as { l4: Buffer }).l4.subarray(8)).answers.map((r) => [...r.data].join('.'));
    };
    assert.deepEqual(await resolve(), ['10.9.6.20']);
    const r = await host.liveUpdate();
    assert.equal(r.liveUpdate.sockets, 1);
    assert.notEqual(r.pid, r.liveUpdate.oldPid);
    assert.deepEqual(await resolve(), ['10.9.6.20']);
  });
});
