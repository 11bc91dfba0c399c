// The underlay bridge of one host: carries guest frames between this host's VPC card and
// the other hosts' cards over one UDP socket, sealed with AES-256-GCM (seal.ts).
//
// It needs no hook inside the switch. Every ENI that lives on another host is added to
// this host's card as an ordinary ENI (same MAC, address, subnet and groups), and the
// bridge connects to that ENI's socket exactly as QEMU would. The switch therefore answers
// ARP for remote guests, routes to them and enforces both groups' rules as for local ones;
// what it delivers to a remote ENI's socket is read by the bridge, sealed under the key of
// the host that ENI lives on and sent there. The receiving bridge opens it and writes it
// into ITS connection for the sender's ENI (found by the VPC number and source address),
// so the receiving card sees the frame arrive from the sender's port and applies
// anti-spoofing, the groups and connection tracking again before its guest gets it.
//
// A bridge that starts (the first time, after a crash, or as a controller's successor)
// knows nothing of what its peers sent before, so a datagram captured earlier would pass
// its fresh replay windows once. It therefore takes no frame from a peer until that peer
// has vouched for where its counter stands: it sends a sealed sync request with a random
// nonce, the peer answers with a sealed sync reply carrying the nonce, and the reply's own
// counter becomes the floor below which nothing from that peer is accepted (seal.ts).
// Requests go out at start and again, at most every SYNC_RETRY_MS, while frames arrive
// from a peer that has not answered; those frames are dropped and counted.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { VpcError } from '../errors.js';
import { macToBytes } from '../protocol/addr.js';
import { FrameDecoder } from '../protocol/stream-framing.js';
import { directionKey, KIND_FRAME, KIND_SYNC_REPLY, KIND_SYNC_REQUEST, Opener, Sealer } from './seal.js';
import { BatchUdp } from './udp-batch.js';

export const ROUTER_MAC = '02:4e:52:00:00:01';

export type { UnderlayPeer, RemoteEni, UnderlayConfig, UnderlayCounters } from '../protocol/underlay.js';
import type { UnderlayPeer, RemoteEni, UnderlayConfig, UnderlayCounters } from '../protocol/underlay.js';

/** How often a sync request is repeated while a peer has not answered. */
const SYNC_RETRY_MS = 100;
const NONCE_BYTES = 16;

interface Peer {
  cfg: UnderlayPeer;
  sealer: Sealer;
  opener: Opener;
  /** The peer vouched for its counter: its frames are accepted. */
  synced: boolean;
  /** The nonce of the sync request waiting for its reply, and when it was sent. */
  nonce: Buffer | undefined;
  nonceSentAt: number;
}

interface Remote {
  cfg: RemoteEni;
  socket: Socket | undefined;
  subnetBase: number;
  subnetSize: number;
  mac: Buffer;
  /** Frames opened for this ENI in the current receive batch (written with one writev). */
  rx: Buffer[];
}

const ipInt = (ip: string): number => ip.split('.').reduce((a, x) => a * 256 + Number(x), 0);
const ROUTER = macToBytes(ROUTER_MAC);
/** A peer's key in byAddr: its IPv4 address (host order) and UDP port. */
const addrKey = (addr: number, port: number): number => addr * 65536 + port;
const subnetBase = (cidr: string): number => {
  const [ip, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  const n = ipInt(ip ?? '0.0.0.0');
  return n - (n % size);
};

export class UnderlayBridge {
  readonly counters: UnderlayCounters = { txDatagrams: 0, txBytes: 0, rxDatagrams: 0, rxBytes: 0, droppedAuth: 0, droppedReplay: 0, droppedMalformed: 0, droppedUnknownEpoch: 0, droppedUnknownSource: 0, droppedUnknownPeer: 0, droppedUnsynced: 0, syncRequestsSent: 0, syncRepliesSent: 0 };
  private readonly udp: UdpSocket;
  private readonly io: BatchUdp;
  private readonly peers = new Map<string, Peer>();
  private readonly byAddr = new Map<number, Peer>();
  private readonly remotes = new Map<string, Remote>();
  /** vni → source IP (host order) → the remote ENI a received frame came from. */
  private readonly bySource = new Map<number, Map<number, Remote>>();
  /** Datagrams sealed while one chunk from the card is decoded, per peer; sent in one batch. */
  private readonly tx = new Map<Peer, Buffer[]>();
  /** Remote ENIs with frames waiting in `rx` (flushed when a receive batch ends). */
  private readonly rxDirty = new Set<Remote>();
  private closed = false;

  private constructor(readonly hostId: string) {
    this.udp = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
    this.io = new BatchUdp(this.udp, (d, addr, port) => this.onDatagram(d, addr, port), () => this.flushRx());
    this.udp.on('error', () => undefined);
  }

  /** Whether datagrams move in batches (sendmmsg/recvmmsg through the native addon). */
  get batched(): boolean {
    return this.io.batched;
  }

  static async start(cfg: UnderlayConfig): Promise<UnderlayBridge> {
    const b = new UnderlayBridge(cfg.hostId);
    await new Promise<void>((resolve, reject) => {
      b.udp.once('error', reject);
      b.udp.bind(cfg.listenPort, cfg.listenAddress, () => {
        b.udp.off('error', reject);
        resolve();
      });
    });
    b.setPeers(cfg.peers);
    for (const r of cfg.remoteEnis) await b.addRemote(r);
    return b;
  }

  get port(): number {
    return this.udp.address().port;
  }

  /** Installs or rotates peer keys: a new epoch seals from now on; the previous one still opens. */
  setPeers(peers: readonly UnderlayPeer[]): void {
    for (const p of peers) {
      const secret = Buffer.from(p.secret, 'base64');
      const cur = this.peers.get(p.hostId);
      const opener = cur?.opener ?? new Opener();
      opener.addEpoch(p.epoch, directionKey(secret, p.epoch, p.hostId, this.hostId));
      for (const e of opener.liveEpochs) if (e < p.epoch - 1) opener.dropEpoch(e);
      const sealer = cur && cur.sealer.epoch === p.epoch ? cur.sealer : new Sealer(directionKey(secret, p.epoch, this.hostId, p.hostId), p.epoch);
      const peer: Peer = { cfg: p, sealer, opener, synced: cur?.synced ?? false, nonce: cur?.nonce, nonceSentAt: cur?.nonceSentAt ?? 0 };
      this.peers.set(p.hostId, peer);
      if (cur) this.byAddr.delete(addrKey(ipInt(cur.cfg.address), cur.cfg.port));
      this.byAddr.set(addrKey(ipInt(p.address), p.port), peer);
      if (!peer.synced) this.requestSync(peer, true);
    }
  }

  /** Asks a peer to vouch for its counter (at most every SYNC_RETRY_MS unless `now`). */
  private requestSync(p: Peer, now = false): void {
    const t = Date.now();
    if (!now && p.nonce !== undefined && t - p.nonceSentAt < SYNC_RETRY_MS) return;
    p.nonce = randomBytes(NONCE_BYTES);
    p.nonceSentAt = t;
    this.counters.syncRequestsSent++;
    this.io.sendMany([p.sealer.seal(0, p.nonce, KIND_SYNC_REQUEST)], p.cfg.port, p.cfg.address);
  }

  /** Whether every peer has vouched for its counter (tests, status). */
  get synced(): boolean {
    return [...this.peers.values()].every((p) => p.synced);
  }

  async addRemote(cfg: RemoteEni): Promise<void> {
    const have = this.remotes.get(cfg.eniId);
    if (have?.socket && !have.socket.destroyed) return; // already joined (a repeated command)
    const r: Remote = { cfg, socket: undefined, subnetBase: subnetBase(cfg.subnetCidr), subnetSize: 2 ** (32 - Number(cfg.subnetCidr.split('/')[1])), mac: Buffer.from(macToBytes(cfg.mac)), rx: [] };
    this.remotes.set(cfg.eniId, r);
    let byIp = this.bySource.get(cfg.vni);
    if (!byIp) this.bySource.set(cfg.vni, (byIp = new Map()));
    byIp.set(ipInt(cfg.ip), r);
    const s = connect(cfg.socketPath);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    s.setNoDelay(true);
    r.socket = s;
    const dec = new FrameDecoder();
    s.on('data', (chunk: Buffer) => {
      dec.push(chunk, (f) => this.toPeer(r, f));
      this.flushTx();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (r.socket === s) r.socket = undefined;
    });
  }

  removeRemote(eniId: string): void {
    const r = this.remotes.get(eniId);
    if (!r) return;
    this.remotes.delete(eniId);
    this.bySource.get(r.cfg.vni)?.delete(ipInt(r.cfg.ip));
    r.socket?.destroy();
  }

  /** A frame the card delivered to a remote ENI: seal it for the ENI's host. */
  private toPeer(r: Remote, frame: Buffer): void {
    const p = this.peers.get(r.cfg.hostId);
    if (!p) {
      this.counters.droppedUnknownPeer++;
      return;
    }
    const d = p.sealer.seal(r.cfg.vni, frame);
    this.counters.txDatagrams++;
    this.counters.txBytes += d.length;
    const q = this.tx.get(p);
    if (q) q.push(d);
    else this.tx.set(p, [d]);
  }

  /** Sends what one chunk from the card produced: one sendmmsg per peer. */
  private flushTx(): void {
    for (const [p, ds] of this.tx) this.io.sendMany(ds, p.cfg.port, p.cfg.address);
    this.tx.clear();
  }

  /** Writes what one receive batch opened: one writev per remote ENI's socket. */
  private flushRx(): void {
    for (const r of this.rxDirty) {
      const s = r.socket;
      const parts = r.rx;
      r.rx = [];
      if (!s || s.destroyed) continue;
      s.cork();
      for (const b of parts) s.write(b);
      s.uncork();
    }
    this.rxDirty.clear();
  }

  private onDatagram(d: Buffer, addr: number, port: number): void {
    const p = this.byAddr.get(addrKey(addr, port));
    if (!p) {
      this.counters.droppedUnknownPeer++;
      return;
    }
    const res = p.opener.open(d);
    if (!res.ok) {
      if (res.reason === 'auth') this.counters.droppedAuth++;
      else if (res.reason === 'replay') this.counters.droppedReplay++;
      else if (res.reason === 'unknown-epoch') this.counters.droppedUnknownEpoch++;
      else this.counters.droppedMalformed++;
      return;
    }
    this.counters.rxDatagrams++;
    this.counters.rxBytes += d.length;
    if (res.kind !== KIND_FRAME) {
      this.onSync(p, res.kind, res.frame, res.epoch, res.counter);
      return;
    }
    if (!p.synced) {
      this.counters.droppedUnsynced++;
      this.requestSync(p);
      return;
    }
    const f = res.frame;
    if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) {
      // Only IPv4 crosses hosts (ARP is answered by each card from its table).
      this.counters.droppedMalformed++;
      return;
    }
    const src = f.readUInt32BE(26);
    const dst = f.readUInt32BE(30);
    const r = this.bySource.get(res.vni)?.get(src);
    // The sender must be an ENI of the sending host in that VPC.
    if (!r || r.cfg.hostId !== p.cfg.hostId || !r.socket) {
      this.counters.droppedUnknownSource++;
      return;
    }
    // Re-enter the switch as the sender's port would have sent it: its own MAC as source,
    // the router as destination when the receiver is in another subnet.
    r.mac.copy(f, 6);
    if (dst - (dst % r.subnetSize) !== r.subnetBase) ROUTER.forEach((b, i) => (f[i] = b));
    // QEMU's stream framing: a 4-byte big-endian length, then the frame (written together
    // with the batch's other frames for this ENI by flushRx).
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(f.length, 0);
    r.rx.push(len, f);
    this.rxDirty.add(r);
  }

  /** A sync request is answered with its nonce; a reply to our pending request sets the floor. */
  private onSync(p: Peer, kind: number, body: Buffer, epoch: number, counter: bigint): void {
    if (body.length !== NONCE_BYTES) {
      this.counters.droppedMalformed++;
      return;
    }
    if (kind === KIND_SYNC_REQUEST) {
      this.counters.syncRepliesSent++;
      this.io.sendMany([p.sealer.seal(0, body, KIND_SYNC_REPLY)], p.cfg.port, p.cfg.address);
      // A peer that just started asks first: ask back, so both sides are ready before frames flow.
      // (Our own request may have been lost while the peer was down: a new one goes now.)
      if (!p.synced) this.requestSync(p, true);
      return;
    }
    if (p.nonce === undefined || !p.nonce.equals(body)) return; // an old or foreign reply: ignored
    p.opener.vouch(epoch, counter);
    p.synced = true;
    p.nonce = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.remotes.values()) r.socket?.destroy();
    await new Promise<void>((res) => this.udp.close(() => res()));
  }
}

export function checkConfig(v: unknown): UnderlayConfig {
  const c = v as UnderlayConfig;
  if (typeof c !== 'object' || c === null || typeof c.hostId !== 'string' || typeof c.listenAddress !== 'string' || !Number.isInteger(c.listenPort) || !Array.isArray(c.peers) || !Array.isArray(c.remoteEnis)) {
    throw new VpcError('InvalidRequest', 'invalid', 'The underlay configuration is malformed.');
  }
  return c;
}
