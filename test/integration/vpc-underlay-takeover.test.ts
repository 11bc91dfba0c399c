// The underlay bridge moves to a successor controller (the last step of a controller live
// update): two hosts' VPC sides (HostVpcCard, as the controller runs it: real cards, real bridges
// on 127.0.0.1) with a guest each (synthetic, QEMU's socket protocol) ping across; host 1's
// bridge state goes to a second HostVpcCard (the successor's), which starts its bridge on the
// same UDP port with the same keys and remote ENIs once the first one stopped. Pings cross
// again and host 2 takes none of the new sender's datagrams for a replay.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HostVpcCard } from '../../src/controller/cards/vpc.js';
import type { VpcCommandBody } from '../../src/controller/protocol/vpc-commands.js';
import { createLogger } from '../../src/lib/log.js';
import type { EniConfig } from '../../src/vpc/model.js';
import { macToBytes } from '../../src/vpc/protocol/addr.js';
import { eni } from '../../src/vpc/testing/card-harness.js';
import { SimGuest } from '../../src/vpc/testing/sim-guest.js';
import { ROUTER_MAC } from '../../src/vpc/underlay/bridge.js';

const SG = 'sg-0000ta1e';
const OPEN = { ingress: [{ protocol: 'all' as const, cidrs: ['10.0.0.0/16'] }], egress: [{ protocol: 'all' as const, cidrs: ['0.0.0.0/0'] }] };

test('the underlay bridge moves to a successor HostVpcCard: same port, same keys and remotes, pings cross again, no replay drop', { timeout: 120_000 }, async () => {
  const homes = [mkdtempSync(join(tmpdir(), 'nitride-ul-ta-')), mkdtempSync(join(tmpdir(), 'nitride-ul-tb-')), mkdtempSync(join(tmpdir(), 'nitride-ul-tc-'))];
  const log = createLogger('underlay-takeover-test', () => undefined);
  const h1 = new HostVpcCard({ home: homes[0]!, log, hostId: () => 'h-1', listenAddress: '127.0.0.1' });
  const h2 = new HostVpcCard({ home: homes[1]!, log, hostId: () => 'h-2', listenAddress: '127.0.0.1' });
  // The successor's VPC side: only its bridge is used here (the card itself moves by liveUpdate, tested elsewhere).
  const h1b = new HostVpcCard({ home: homes[2]!, log, hostId: () => 'h-1', listenAddress: '127.0.0.1' });
  const guests: SimGuest[] = [];
  const x = (h: HostVpcCard, c: VpcCommandBody): Promise<unknown> => h.execute(c);
  try {
    h1.start();
    h2.start();
    const groups = [{ groupId: SG, rules: OPEN, members: ['10.0.1.10', '10.0.2.10'] }];
    const A: EniConfig = { ...eni('vpc-0000000000000ta01', '10.0.1.0/24', '10.0.1.10', [SG]), mtu: 1420 };
    const B: EniConfig = { ...eni('vpc-0000000000000ta01', '10.0.2.0/24', '10.0.2.10', [SG]), mtu: 1420 };
    const ia = (await x(h1, { type: 'eni.put', params: { eni: A, groups } })) as { socketPath: string };
    const ib = (await x(h2, { type: 'eni.put', params: { eni: B, groups } })) as { socketPath: string };
    const p1 = ((await x(h1, { type: 'vpc.keys', params: { peers: [] } })) as { port: number }).port;
    const p2 = ((await x(h2, { type: 'vpc.keys', params: { peers: [] } })) as { port: number }).port;
    const secret = randomBytes(32).toString('base64');
    await x(h1, { type: 'vpc.keys', params: { peers: [{ hostId: 'h-2', address: '127.0.0.1', port: p2, secret, epoch: 9 }] } });
    await x(h2, { type: 'vpc.keys', params: { peers: [{ hostId: 'h-1', address: '127.0.0.1', port: p1, secret, epoch: 9 }] } });
    await x(h1, { type: 'vpc.remote', params: { eni: B, hostId: 'h-2', vni: 7 } });
    await x(h2, { type: 'vpc.remote', params: { eni: A, hostId: 'h-1', vni: 7 } });
    const ga = await SimGuest.connect(ia.socketPath, A.mac, A.ip);
    const gb = await SimGuest.connect(ib.socketPath, B.mac, B.ip);
    guests.push(ga, gb);
    gb.answerPings();
    const router = macToBytes(ROUTER_MAC);
    const crosses = async (from: number): Promise<boolean> => {
      for (let i = from; i < from + 10; i++) if ((await ga.ping(router, B.ip, 91, i, 1500)) !== undefined) return true;
      return false;
    };
    assert.ok(await crosses(1), 'A on host 1 reaches B on host 2 through the bridges');

    const state = h1.underlayState();
    assert.ok(state, 'host 1 has a bridge state to hand over');
    assert.equal(state.listenPort, p1);
    assert.equal(state.remotes.length, 1);
    const oldPid = h1.underlayStatus().pid;
    await h1.stopUnderlay();
    assert.equal(h1.underlayStatus().pid, undefined, 'the old bridge is gone');
    const adopted = await h1b.adoptUnderlay(state);
    assert.equal(adopted.port, p1, 'the successor\'s bridge binds the same UDP port (the other hosts send there)');
    assert.notEqual(adopted.pid, oldPid);
    assert.equal(adopted.remotes, 1);
    assert.ok(await crosses(20), 'pings cross again through the successor\'s bridge');
    const c2 = (await x(h2, { type: 'vpc.keys', params: { peers: [{ hostId: 'h-1', address: '127.0.0.1', port: p1, secret, epoch: 9 }] } })) as { counters: Record<string, number> };
    assert.equal(c2.counters['droppedReplay'], 0, 'host 2 takes none of the new sender\'s datagrams for a replay');
    assert.equal(c2.counters['droppedAuth'], 0);
  } finally {
    for (const g of guests) g.close();
    await h1b.stop().catch(() => undefined);
    await h1.stop().catch(() => undefined);
    await h2.stop().catch(() => undefined);
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
});
