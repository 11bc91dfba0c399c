// Seeded fuzz of the underlay's receive path: a real UnderlayBridge on 127.0.0.1 whose one
// peer is this test (it holds the pair secret, answers the bridge's sync request, and seals
// datagrams as the peer host would). In batches, the test sends
//   - sealed datagrams with bits flipped, cut, extended, or header fields (magic, version, kind,
//     epoch, VPC number, counter) rewritten; random bytes; and exact replays of datagrams the
//     bridge already accepted: each must be dropped and counted (auth, replay, malformed or
//     unknown epoch), and nothing of it may reach the card;
//   - authentic datagrams with contents no card may get (short frames, not IPv4, a source
//     that is no ENI of the peer, an unknown VPC number, a sync message of the wrong size):
//     counted as received, then dropped as malformed or of unknown source;
//   - datagrams from an address that is no peer: dropped as from an unknown peer;
//   - and, last, one valid frame with a fresh marker, which must reach the card socket.
// After each batch the bridge's counters must account for every datagram exactly, and only
// the valid frames may have reached the card. The process stays up (an exception in the
// bridge's receive path would end it). NITRIDE_FUZZ_SEED replays a seed, NITRIDE_FUZZ_ROUNDS
// runs more batches.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { seededInt } from '../../lib/testing/seeded-rng.js';
import { waitFor } from '../../lib/wait.js';
import { FrameDecoder } from '../protocol/stream-framing.js';
import { UnderlayBridge } from './bridge.js';
import { directionKey, HEADER_BYTES, KIND_SYNC_REPLY, KIND_SYNC_REQUEST, Opener, Sealer, TAG_BYTES } from './seal.js';

const SEED = Number(process.env['NITRIDE_FUZZ_SEED'] ?? 0x0dd5ea1);
const BATCHES = Number(process.env['NITRIDE_FUZZ_ROUNDS'] ?? 40);
const PER_BATCH = 48;
const VNI = 7;
const EPOCH = 3;
const ENI_IP = [10, 0, 0, 5] as const;
const MARK = 0x4e5a;

/** An Ethernet frame with an IPv4 header from `src` to 10.0.0.9 whose payload starts with MARK and `id`. */
function ipv4Frame(id: number, src: readonly number[] = ENI_IP, extra = 0): Buffer {
  const f = Buffer.alloc(14 + 20 + 8 + extra);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + 8 + extra, 16);
  f[22] = 64;
  f[23] = 17;
  Buffer.from(src).copy(f, 26);
  Buffer.from([10, 0, 0, 9]).copy(f, 30);
  f.writeUInt16BE(MARK, 34);
  f.writeUInt32BE(id, 36);
  return f;
}

const send = (s: UdpSocket, d: Buffer, port: number): Promise<void> => new Promise((res, rej) => s.send(d, port, '127.0.0.1', (e) => (e ? rej(e) : res())));

test(`seeded fuzz of underlay datagrams (seed ${SEED}, ${BATCHES} batches of ${PER_BATCH}): every bad datagram is dropped and counted, only valid frames reach the card`, { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nitride-underlay-fuzz-'));
  const secret = randomBytes(32);
  const peer = createSocket('udp4');
  const stranger = createSocket('udp4');
  const cardSockets: Socket[] = [];
  // The card's socket for the remote ENI: what the bridge writes there is what the card would switch.
  const delivered: number[] = [];
  const foreign: string[] = [];
  const card = createServer((s) => {
    cardSockets.push(s);
    const dec = new FrameDecoder();
    s.on('data', (c: Buffer) =>
      dec.push(c, (f) => {
        if (f.length >= 40 && f.readUInt16BE(34) === MARK) delivered.push(f.readUInt32BE(36));
        else foreign.push(f.subarray(0, 40).toString('hex'));
      }),
    );
    s.on('error', () => undefined);
  });
  let bridge: UnderlayBridge | undefined;
  try {
    await new Promise<void>((r) => card.listen(join(dir, 'eni.sock'), r));
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', r));
    const sealer = new Sealer(directionKey(secret, EPOCH, 'h-peer', 'h-this'), EPOCH);
    const fromBridge = new Opener();
    fromBridge.addEpoch(EPOCH, directionKey(secret, EPOCH, 'h-this', 'h-peer'));
    let bridgePort = 0;
    // The peer's side of the sync: answer the bridge's request with its nonce.
    peer.on('message', (d, from) => {
      const r = fromBridge.open(d);
      if (r.ok && r.kind === KIND_SYNC_REQUEST) void send(peer, sealer.seal(0, r.frame, KIND_SYNC_REPLY), from.port);
    });
    bridge = await UnderlayBridge.start({
      hostId: 'h-this',
      listenAddress: '127.0.0.1',
      listenPort: 0,
      peers: [{ hostId: 'h-peer', address: '127.0.0.1', port: peer.address().port, secret: secret.toString('base64'), epoch: EPOCH }],
      remoteEnis: [{ eniId: 'eni-0fuzz', hostId: 'h-peer', vni: VNI, ip: ENI_IP.join('.'), mac: '02:00:00:00:00:05', subnetCidr: '10.0.0.0/24', socketPath: join(dir, 'eni.sock') }],
    });
    const b = bridge;
    bridgePort = b.port;
    await waitFor('the bridge to be synced with the peer', () => b.synced, 10_000, 10);
    const c = b.counters;
    const dropped = (): number => c.droppedAuth + c.droppedReplay + c.droppedMalformed + c.droppedUnknownEpoch + c.droppedUnknownSource + c.droppedUnknownPeer + c.droppedUnsynced;

    const rnd = seededInt(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
    const randomBytesSeeded = (n: number): Buffer => {
      const out = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) out[i] = rnd(256);
      return out;
    };
    let nextId = 1;
    const accepted: Buffer[] = [];
    /** A datagram that must fail before or at authentication (or as a replay). */
    const mutated = (): Buffer => {
      const how = rnd(8);
      if (how === 0 && accepted.length > 0) return Buffer.from(pick(accepted)); // a replay
      if (how === 1) return randomBytesSeeded(rnd(1600));
      const orig = sealer.seal(VNI, ipv4Frame(0xfffffff0 + rnd(8), ENI_IP, rnd(200)));
      let d = Buffer.from(orig);
      switch (how) {
        case 2: // flip 1-4 bits anywhere
          for (let n = 1 + rnd(4); n > 0; n--) d[rnd(d.length)]! ^= 1 << rnd(8);
          break;
        case 3: // cut
          d = d.subarray(0, rnd(d.length));
          break;
        case 4: // extend
          d = Buffer.concat([d, randomBytesSeeded(1 + rnd(64))]);
          break;
        case 5: // a header field rewritten: magic, version, kind, epoch, VPC number or counter
          switch (rnd(6)) {
            case 0: d.writeUInt16BE(rnd(65536), 0); break;
            case 1: d[2] = rnd(256); break;
            case 2: d[3] = rnd(256); break;
            case 3: d.writeUInt32BE(rnd(2 ** 31), 4); break;
            case 4: d.writeUInt32BE(rnd(2 ** 31), 8); break;
            default: d.writeBigUInt64BE(BigInt(rnd(2 ** 31)) << BigInt(rnd(33)), 12);
          }
          break;
        case 6: // the tag or the ciphertext replaced
          randomBytesSeeded(TAG_BYTES).copy(d, d.length - TAG_BYTES);
          break;
        default: // bytes of the body swapped
          if (d.length > HEADER_BYTES + 2) {
            const i = HEADER_BYTES + rnd(d.length - HEADER_BYTES - 1);
            const t = d[i]!;
            d[i] = d[i + 1]!;
            d[i + 1] = t;
          }
      }
      if (d.equals(orig)) d = Buffer.concat([d, Buffer.from([rnd(256)])]); // a mutation that changed nothing is not one
      return d;
    };
    /** An authentic datagram whose contents the bridge must refuse after opening it. */
    const authenticButBad = (): Buffer => {
      switch (rnd(6)) {
        case 0: return sealer.seal(VNI, randomBytesSeeded(rnd(34))); // too short for IPv4
        case 1: { const f = ipv4Frame(0xfffffff9); f.writeUInt16BE(pick([0x0806, 0x86dd, 0x8100, rnd(65536)]), 12); if (f.readUInt16BE(12) === 0x0800) f.writeUInt16BE(0x0806, 12); return sealer.seal(VNI, f); } // not IPv4
        case 2: return sealer.seal(VNI, ipv4Frame(0xfffffffa, [10, 0, 0, 6 + rnd(200)])); // no ENI of the peer
        case 3: return sealer.seal(VNI + 1 + rnd(1000), ipv4Frame(0xfffffffb)); // another VPC
        case 4: return sealer.seal(0, randomBytesSeeded(pick([0, 15, 17, 64])), KIND_SYNC_REPLY); // a sync reply of the wrong size
        default: return sealer.seal(0, randomBytesSeeded(pick([0, 1, 15, 17, 100])), KIND_SYNC_REQUEST); // a sync request of the wrong size
      }
    };

    const want: number[] = [];
    let bad = 0;
    for (let batch = 0; batch < BATCHES; batch++) {
      const rx0 = c.rxDatagrams;
      const dropped0 = dropped();
      let nBad = 0;
      let nAuthentic = 0;
      for (let i = 0; i < PER_BATCH; i++) {
        const k = rnd(10);
        if (k < 6) {
          await send(peer, mutated(), bridgePort);
          nBad++;
        } else if (k < 9) {
          await send(peer, authenticButBad(), bridgePort);
          nAuthentic++;
        } else {
          await send(stranger, sealer.seal(VNI, ipv4Frame(0xfffffffc)), bridgePort);
          nBad++;
        }
      }
      const id = nextId++;
      const valid = sealer.seal(VNI, ipv4Frame(id));
      await send(peer, valid, bridgePort);
      accepted.push(valid);
      want.push(id);
      const what = `batch ${batch} (seed ${SEED})`;
      await waitFor(`${what}: the valid frame ${id} to reach the card`, () => delivered.includes(id), 10_000, 5);
      await waitFor(`${what}: the bridge to count all ${PER_BATCH + 1} datagrams`, () => c.rxDatagrams - rx0 + dropped() - dropped0 >= PER_BATCH + 1 + nAuthentic, 10_000, 5).catch(() => undefined);
      assert.equal(dropped() - dropped0, nBad + nAuthentic, `${what}: every bad datagram was dropped and counted (${JSON.stringify(c)})`);
      assert.equal(c.rxDatagrams - rx0, nAuthentic + 1, `${what}: only the authentic datagrams were opened`);
      bad += nBad + nAuthentic;
    }
    assert.deepEqual(delivered, want, 'exactly the valid frames reached the card, in order, once each');
    assert.deepEqual(foreign, [], 'nothing else reached the card');
    assert.equal(c.droppedUnsynced, 0);
    assert.ok(c.droppedAuth > 0 && c.droppedReplay > 0 && c.droppedMalformed > 0 && c.droppedUnknownEpoch > 0 && c.droppedUnknownSource > 0 && c.droppedUnknownPeer > 0, `every kind of drop was reached: ${JSON.stringify(c)}`);
    process.stdout.write(`# underlay fuzz seed ${SEED}: ${bad} bad datagrams dropped (auth ${c.droppedAuth}, replay ${c.droppedReplay}, malformed ${c.droppedMalformed}, unknown epoch ${c.droppedUnknownEpoch}, unknown source ${c.droppedUnknownSource}, unknown peer ${c.droppedUnknownPeer}); ${want.length} valid frames delivered\n`);
  } finally {
    await bridge?.close();
    for (const s of cardSockets) s.destroy();
    await new Promise<void>((r) => card.close(() => r()));
    peer.close();
    stranger.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
