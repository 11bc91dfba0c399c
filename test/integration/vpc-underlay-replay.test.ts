// Replays against a bridge that has just started. Two underlay bridges on 127.0.0.1 talk
// through a UDP "wire" (a relay that records what crosses it, as an attacker on the host
// network could). Each bridge's card side is a unix socket server here, speaking QEMU's
// stream framing: a frame written into host A's socket for B's ENI is sealed, crosses the
// wire and comes out of host B's socket for A's ENI. Host B's bridge is then replaced by a
// new one on the same port with the same keys (what the controller does after a crash),
// and the recorded datagrams are played to it again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../src/lib/wait.js';
import { ipToInt, macToBytes } from '../../src/vpc/protocol/addr.js';
import { buildEthernet, ETHERTYPE_IPV4 } from '../../src/vpc/protocol/ethernet.js';
import { buildIpv4, IPPROTO_UDP } from '../../src/vpc/protocol/ipv4.js';
import { encodeFrame, FrameDecoder } from '../../src/vpc/protocol/stream-framing.js';
import { buildUdp } from '../../src/vpc/protocol/udp.js';
import { KIND_FRAME } from '../../src/vpc/underlay/seal.js';
import { UnderlayBridge, type RemoteEni, type UnderlayPeer } from '../../src/vpc/underlay/bridge.js';

const VNI = 77;
const IP_A = '10.5.0.10';
const IP_B = '10.5.0.11';
const MAC_A = '02:00:00:0a:0a:0a';
const MAC_B = '02:00:00:0b:0b:0b';

/** A card's socket for one remote ENI: records the frames the bridge writes into it; frames written to it go to the bridge. */
class FakeCardSocket {
  readonly server: Server;
  conn: Socket | undefined;
  frames: string[] = [];
  constructor(readonly path: string) {
    this.server = createServer((s) => {
      this.conn = s;
      const dec = new FrameDecoder();
      s.on('data', (c: Buffer) => dec.push(c, (f) => this.frames.push(f.subarray(42).toString())));
      s.on('error', () => undefined);
    });
  }
  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.path, () => r()));
  }
  close(): void {
    this.conn?.destroy();
    this.server.close();
  }
}

/** Polls every 20 ms for up to 5 s. */
const until = (what: string, fn: () => boolean): Promise<true> => waitFor(what, () => fn() || undefined, 5_000, 20);

function udpFrame(tag: string): Buffer {
  const a = ipToInt(IP_A);
  const b = ipToInt(IP_B);
  return buildEthernet(macToBytes(MAC_B), macToBytes(MAC_A), ETHERTYPE_IPV4, buildIpv4({ src: a, dst: b, protocol: IPPROTO_UDP }, buildUdp(a, b, 4000, 5000, Buffer.from(tag))));
}

test('a bridge that has just started takes no replayed datagram: it waits for the peer to vouch for its counter, then refuses everything older', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-ul-replay-'));
  const secret = randomBytes(32).toString('base64');
  const cardA = new FakeCardSocket(join(dir, 'a-eni-b.sock')); // host A's socket for B's ENI
  const cardB = new FakeCardSocket(join(dir, 'b-eni-a.sock')); // host B's socket for A's ENI
  const wire: UdpSocket = createSocket('udp4');
  const bridges: UnderlayBridge[] = [];
  try {
    await cardA.listen();
    await cardB.listen();
    // The wire: what comes from A goes to B and is recorded, what comes from B goes to A.
    const ports = { a: 0, b: 0 };
    const captured: Buffer[] = [];
    let blockToA = false;
    wire.on('message', (m, r) => {
      if (ports.b === 0) return; // B's start-up request, before the wire knows B
      if (r.port !== ports.b) {
        if (m[3] === KIND_FRAME) captured.push(Buffer.from(m));
        wire.send(m, ports.b, '127.0.0.1');
      } else if (!blockToA && ports.a !== 0) wire.send(m, ports.a, '127.0.0.1');
    });
    await new Promise<void>((r) => wire.bind(0, '127.0.0.1', () => r()));
    const wirePort = wire.address().port;
    const peer = (hostId: string): UnderlayPeer => ({ hostId, address: '127.0.0.1', port: wirePort, secret, epoch: 1 });
    const remoteOnA: RemoteEni = { eniId: 'eni-b', hostId: 'h-b', vni: VNI, ip: IP_B, mac: MAC_B, subnetCidr: '10.5.0.0/24', socketPath: cardA.path };
    const remoteOnB: RemoteEni = { eniId: 'eni-a', hostId: 'h-a', vni: VNI, ip: IP_A, mac: MAC_A, subnetCidr: '10.5.0.0/24', socketPath: cardB.path };
    // B first (A's start-up sync request then finds it; B's own went nowhere), then A.
    const b1 = await UnderlayBridge.start({ hostId: 'h-b', listenAddress: '127.0.0.1', listenPort: 0, peers: [peer('h-a')], remoteEnis: [remoteOnB] });
    bridges.push(b1);
    ports.b = b1.port;
    const a = await UnderlayBridge.start({ hostId: 'h-a', listenAddress: '127.0.0.1', listenPort: 0, peers: [peer('h-b')], remoteEnis: [remoteOnA] });
    bridges.push(a);
    ports.a = a.port;
    await until('both bridges synced', () => a.synced && b1.synced);
    await until('bridge A connected to its card socket', () => cardA.conn !== undefined);

    const send = (tag: string): void => void cardA.conn?.write(encodeFrame(udpFrame(tag)));
    for (let i = 0; i < 5; i++) send(`before-${i}`);
    await until('five frames across', () => cardB.frames.length === 5);
    assert.deepEqual(cardB.frames, [0, 1, 2, 3, 4].map((i) => `before-${i}`));
    assert.equal(captured.length, 5);

    // B's bridge dies; the controller starts a new one on the same port with the same keys.
    await b1.close();
    cardB.frames = [];
    const startB2 = (): Promise<UnderlayBridge> => UnderlayBridge.start({ hostId: 'h-b', listenAddress: '127.0.0.1', listenPort: ports.b, peers: [peer('h-a')], remoteEnis: [remoteOnB] });
    // First while the wire keeps B's sync requests from A: B cannot know where A's counter stands.
    blockToA = true;
    const b2 = await startB2();
    bridges.push(b2);
    for (const d of captured) wire.send(d, ports.b, '127.0.0.1');
    await until('replays dropped while unsynced', () => b2.counters.droppedUnsynced >= 5);
    assert.equal(b2.synced, false);
    assert.equal(cardB.frames.length, 0, 'no replayed frame reaches the card');

    // The wire heals. A fresh frame from A makes B ask again; once A has vouched, the old
    // datagrams are below the floor and refused, fresh frames pass.
    blockToA = false;
    // A fresh frame from A makes B ask again once its retry interval has passed: keep sending
    // fresh frames until B is synced, instead of sleeping past the interval.
    let fresh = 0;
    await until('B synced after the wire healed', () => {
      if (b2.synced) return true;
      send(`fresh-0.${fresh++}`);
      return false;
    });
    for (const d of captured) wire.send(d, ports.b, '127.0.0.1');
    await until('replays refused after the sync', () => b2.counters.droppedReplay >= 5);
    send('fresh-1');
    await until('a fresh frame crosses', () => cardB.frames.includes('fresh-1'));
    assert.ok(!cardB.frames.some((f) => f.startsWith('before-')), `no replayed frame reached the card: ${cardB.frames.join(',')}`);
    assert.equal(b2.counters.droppedAuth, 0);

    // Same again with the wire open from the start: the new bridge syncs at once and the
    // replays are refused without a single frame dropped for being unsynced.
    await b2.close();
    cardB.frames = [];
    const b3 = await startB2();
    bridges.push(b3);
    await until('B3 synced at start', () => b3.synced);
    for (const d of captured) wire.send(d, ports.b, '127.0.0.1');
    send('fresh-2');
    await until('a fresh frame crosses to B3', () => cardB.frames.includes('fresh-2'));
    await until('replays refused by B3', () => b3.counters.droppedReplay >= 5);
    assert.deepEqual(cardB.frames, ['fresh-2']);
    assert.equal(b3.counters.droppedUnsynced, 0);
  } finally {
    for (const b of bridges) await b.close().catch(() => undefined);
    wire.close();
    cardA.close();
    cardB.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
