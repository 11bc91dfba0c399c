// The VPC card: one unix stream socket per ENI (QEMU's `-netdev stream,server=off` connects
// to it), the switch behind them, and the control API the card's entry point exposes over
// IPC. The socket directory is 0710 and each socket 0660, both group nitride-qemu when the
// card runs as root, so QEMU (running as that user) can connect and nobody else can.
import { chmod, chown, mkdir, rm, stat } from 'node:fs/promises';
import { createServer, Socket, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { qemuUserIds, systemUserIds } from '../lib/qemu-user.js';
import { COMPONENT_USERS, holdsCapability } from '../lib/privileges.js';
import { DnsForwarder, parseUpstream } from './dns/forwarder.js';
import type { VpcDnsSettings } from './dns/protocol/records.js';
import { VpcError } from './errors.js';
import type { EniConfig, EniUpdate, GroupRules, PublicSideConfig } from './model.js';
import { validatePublicSide, type EdgeInfo } from './edge/edge.js';
import { TapDevice } from './edge/public-side.js';
import { intToIp } from './protocol/addr.js';
import { FrameDecoder } from './protocol/stream-framing.js';
import type { IdentitySigner } from './imds/service.js';
import type { TrackedTuple } from './security-groups.js';
import { VpcSwitch, type EniCounters, type Port } from './switch.js';

/** Frames queued for a guest beyond this are dropped (a full NIC ring). */
export const TX_QUEUE_LIMIT_BYTES = 4 * 1024 * 1024;
const MAX_SOCKET_PATH = 107;

export interface VpcCardOptions {
  /** Where the per-ENI sockets live; created 0710. Every ancestor must be searchable by QEMU's user. */
  readonly socketDir: string;
  /** Group that may connect (default: nitride-qemu's group when running as root). */
  readonly socketGid?: number;
  /** The upstream resolver for names outside the VPCs' zones, ip[:port] (default: none, they get REFUSED). */
  readonly dnsUpstream?: string;
}

export interface EniInfo {
  readonly eniId: string;
  readonly mac: string;
  readonly ip: string;
  readonly gateway: string;
  readonly vpcId: string;
  readonly socketPath: string;
  readonly connected: boolean;
  readonly conntrack: number;
  readonly imdsConnections: number;
}

export interface EniStats extends EniInfo {
  readonly counters: EniCounters;
  /** Bytes of a frame from the guest read only in part (held until the rest arrives). */
  readonly partialInputBytes: number;
}

/**
 * The edge's public side across a live update: the old card makes the TAP device persistent
 * and closes it when it freezes, and the new one opens it again by name (so the device must be
 * in the card's network namespace), with the same MAC and neighbours, and reads once it resumes.
 */
export interface EdgeHandover {
  readonly side: PublicSideConfig;
  /** Whether the device was persistent before the update (restored by the new card). */
  readonly persist: boolean;
  readonly mac: string;
  readonly neighbours: readonly [string, string][];
}

/** What one card hands the next in a live update (the sockets travel beside it as handles). */
export interface HandoverState {
  readonly enis: readonly { readonly cfg: EniConfig; readonly connected: boolean; readonly pendingBase64: string; readonly conntrack: readonly TrackedTuple[]; readonly imdsTokens: readonly [string, number][] }[];
  readonly groups: readonly { readonly groupId: string; readonly rules?: GroupRules; readonly members: readonly string[] }[];
  /** The region's DNS settings and records per VPC (dns.records). */
  readonly dns?: readonly { readonly vpcId: string; readonly settings: VpcDnsSettings }[];
  readonly edge?: EdgeHandover;
}

/** edge.stats: the edge's state and counters, and the TAP device's read and write errors. */
export interface EdgeStats extends EdgeInfo {
  readonly persist: boolean;
  readonly tapReadErrors: number;
  readonly tapWriteErrors: number;
}

/** The libuv handle under a net.Socket or net.Server (what Node's IPC passes as 'net.Native'). */
interface RawHandle {
  readStop?(): number;
  readStart?(): number;
  reading?: boolean;
  close?(): void;
}
const rawOf = (o: Socket | Server): RawHandle | undefined => (o as unknown as { _handle?: RawHandle | null })._handle ?? undefined;

class Link {
  socket: Socket | undefined;
  decoder: FrameDecoder | undefined;
  /** Frames waiting to be written, in order. */
  queue: Buffer[] = [];
  scheduled = false;
  /**
   * The run of forwarded frames being built: bytes [runStart, runEnd) of runBuf, the chunk
   * they arrived in, each behind its length prefix. Consecutive frames from one chunk to
   * this link extend it by two integer stores; it becomes one queue entry when it breaks.
   */
  runBuf: Buffer | undefined;
  runStart = 0;
  runEnd = 0;
  /** The socket's send queue was over the limit when this batch began: its frames are dropped. */
  full = false;

  /** Ends the current run: its bytes join the queue as one view, without a copy. */
  closeRun(): void {
    const b = this.runBuf;
    if (b === undefined) return;
    this.queue.push(b.subarray(this.runStart, this.runEnd));
    this.runBuf = undefined;
  }

  clear(): void {
    this.queue = [];
    this.runBuf = undefined;
  }

  constructor(
    readonly port: Port,
    readonly server: Server,
    readonly socketPath: string,
  ) {}
}

export class VpcCard {
  readonly switch: VpcSwitch;
  private readonly links = new Map<string, Link>();
  private readonly gid: number | undefined;
  /** Links with frames queued while a chunk is being switched; flushed when it is done. */
  private dirty: Link[] = [];
  private inInput = false;
  /** Set once a live update froze the card: it reads nothing more and only hands its sockets over. */
  private frozen = false;
  private readonly pendingInput = new Map<string, Buffer>();
  /** QEMU's user, which owns each ENI socket when the card may give files away (CAP_CHOWN). */
  private readonly qemuOwner: { uid: number; gid: number } | undefined;
  /** The underlay bridge's group, given each ENI socket (0660) so the bridge connects without CAP_DAC_OVERRIDE. */
  private readonly underlayGid: number | undefined;
  private adopted: { link: Link; s: Socket; pending: Buffer }[] = [];
  /** Scratch for the frame offsets of one chunk (a 64 KiB read holds at most 3,641 frames). */
  private readonly frameIndex = new Int32Array(2 * 4096);
  /** The edge's public side (edge.attach), and whether its TAP device is kept when the card closes it. */
  private tap: TapDevice | undefined;
  private tapPersist = false;
  private forwarder: DnsForwarder | undefined;

  private constructor(private readonly opts: VpcCardOptions) {
    this.switch = new VpcSwitch((port, buf, off, len, forwarded) => this.deliver(port, buf, off, len, forwarded));
    this.qemuOwner = opts.socketGid === undefined && holdsCapability('chown') ? qemuUserIds() : undefined;
    this.underlayGid = this.qemuOwner ? systemUserIds(COMPONENT_USERS['underlay'] as string)?.gid : undefined;
    this.gid = opts.socketGid ?? this.qemuOwner?.gid;
    // A malformed upstream fails the card's start (VpcCard.create), as the operator should see.
    if (opts.dnsUpstream) this.useForwarder(new DnsForwarder(parseUpstream(opts.dnsUpstream)));
  }

  static async create(opts: VpcCardOptions): Promise<VpcCard> {
    await mkdir(opts.socketDir, { recursive: true, mode: 0o710 });
    const card = new VpcCard(opts);
    // With the underlay's user, others may traverse (the bridge connects to remote ENIs' sockets, 0660 for its group).
    await chmod(opts.socketDir, card.underlayGid !== undefined ? 0o711 : 0o710);
    if (card.gid !== undefined) {
      // the card's own user keeps the directory (it creates and removes the sockets in it)
      await chown(opts.socketDir, process.getuid?.() ?? 0, card.gid);
      // QEMU must be able to reach the directory: every ancestor needs search permission for others.
      for (let d = dirname(opts.socketDir); ; d = dirname(d)) {
        const st = await stat(d);
        if ((st.mode & 0o001) === 0) {
          throw new VpcError('SocketDirUnreachable', 'unavailable', 'QEMU\'s user cannot reach the socket directory: an ancestor lacks search permission for others.', { dir: d, socketDir: opts.socketDir });
        }
        if (d === dirname(d)) break;
      }
    }
    return card;
  }

  /**
   * An ENI socket is owned by QEMU's user when the card may give files away (root, or its own
   * user with CAP_CHOWN) and that user exists: 0660 with the underlay bridge's group when the
   * bridge has a user of its own (it connects to remote ENIs' sockets as QEMU would), else 0600.
   * A jailed guest's socket is then the hypervisor's to give to that guest (root:<gid> 0660).
   * Otherwise it is the card's own 0600 file; only with an explicit socketGid (a test without
   * the QEMU user) is it 0660 for that group. The mode is set before the owner, while the
   * card still owns the file (no CAP_FOWNER).
   */
  private async protectSocket(path: string): Promise<void> {
    const owner = this.qemuOwner;
    if (owner) {
      await chmod(path, this.underlayGid !== undefined ? 0o660 : 0o600);
      await chown(path, owner.uid, this.underlayGid ?? owner.gid);
    } else if (this.gid !== undefined) {
      await chmod(path, 0o660);
      await chown(path, process.getuid?.() ?? 0, this.gid);
    } else {
      await chmod(path, 0o600);
    }
  }

  socketPathOf(eniId: string): string {
    return join(this.opts.socketDir, `${eniId}.sock`);
  }

  /** Attaches an ENI and starts listening on its socket; give the path to QEMU. */
  async addEni(cfg: EniConfig): Promise<EniInfo> {
    const path = this.socketPathOf(cfg.eniId);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw new VpcError('SocketPathTooLong', 'invalid', 'The socket path is longer than a unix socket allows.', { path });
    const port = this.switch.addEni(cfg);
    try {
      await rm(path, { force: true });
      const server = createServer((s) => this.onConnection(link, s));
      const link = new Link(port, server, path);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', () => undefined);
      await this.protectSocket(path);
      this.links.set(cfg.eniId, link);
      port.link = link;
    } catch (e) {
      this.switch.removeEni(cfg.eniId);
      throw new VpcError('SocketListenFailed', 'unavailable', 'The ENI socket could not be created.', { path }, { cause: e });
    }
    return this.info(cfg.eniId);
  }

  updateEni(eniId: string, patch: EniUpdate): EniInfo {
    this.switch.updateEni(eniId, patch);
    return this.info(eniId);
  }

  async removeEni(eniId: string): Promise<void> {
    const link = this.links.get(eniId);
    this.switch.removeEni(eniId);
    if (!link) return;
    this.links.delete(eniId);
    link.port.link = undefined;
    link.socket?.destroy();
    await new Promise<void>((r) => link.server.close(() => r()));
    await rm(link.socketPath, { force: true });
  }

  setRules(groupId: string, rules: GroupRules): void {
    this.switch.setRules(groupId, rules);
  }

  deleteGroup(groupId: string): void {
    this.switch.deleteGroup(groupId);
  }

  setGroupMembers(groupId: string, ips: readonly string[]): void {
    this.switch.setGroupMembers(groupId, ips);
  }

  /**
   * The upstream resolver (ip[:port]) for names outside the VPCs' zones; undefined or '': none
   * (REFUSED). Resolves once the new upstream's socket is connected.
   */
  async configureDns(upstream: string | undefined): Promise<{ upstream: string | null }> {
    const next = upstream ? new DnsForwarder(parseUpstream(upstream)) : undefined;
    this.useForwarder(next);
    await next?.ready;
    return { upstream: next ? `${next.upstream.host}:${next.upstream.port}` : null };
  }

  private useForwarder(next: DnsForwarder | undefined): void {
    this.forwarder?.close();
    this.forwarder = next;
    this.switch.dns.upstream = next;
  }

  /** The region's DNS attributes and records of one VPC. */
  setDns(vpcId: string, settings: VpcDnsSettings): void {
    this.switch.dns.setVpc(vpcId, settings);
  }

  /** The region's hook for the identity-document signature of one ENI's instance. */
  setIdentitySigner(eniId: string, signer: IdentitySigner | undefined): void {
    this.switch.port(eniId).imds.setSigner(signer);
  }

  // ---- the edge's public side ---------------------------------------------------------

  /**
   * Opens the TAP device `side.iface` (creating it when missing) and makes it the edge's public
   * side; with `persist` the device outlives the card. Replaces a side attached before.
   */
  attachPublicSide(side: PublicSideConfig, persist = false, mac?: string, neighbours: readonly unknown[] = []): EdgeStats {
    validatePublicSide(side);
    this.detachPublicSide();
    const tap = TapDevice.open(side.iface);
    if (persist && !tap.persist(true)) {
      tap.close();
      throw new VpcError('PublicSideOpenFailed', 'unavailable', 'The TAP device could not be made persistent.', { iface: side.iface });
    }
    this.tap = tap;
    this.tapPersist = persist;
    this.switch.edge.attach(side, (b, off, len) => tap.write(b, off, len), mac);
    this.switch.edge.importNeighbours(neighbours);
    if (!this.frozen) this.startPublicSide();
    return this.edgeStats();
  }

  private startPublicSide(): void {
    this.tap?.start((buf, idx, count) => this.switched(() => this.switch.edge.inputChunk(buf, idx, count)));
  }

  /** Closes the public side (a device the card created and did not persist goes away). */
  detachPublicSide(): void {
    this.switch.edge.detach();
    this.tap?.close();
    this.tap = undefined;
  }

  edgeStats(): EdgeStats {
    return { ...this.switch.edge.info(), persist: this.tapPersist, tapReadErrors: this.tap?.readErrors ?? 0, tapWriteErrors: this.tap?.writeErrors ?? 0 };
  }

  info(eniId: string): EniInfo {
    const port = this.switch.port(eniId);
    const link = this.links.get(eniId);
    return { ...this.switch.describe(port), socketPath: this.socketPathOf(eniId), connected: link?.socket !== undefined };
  }

  stats(eniId: string): EniStats {
    return { ...this.info(eniId), counters: { ...this.switch.port(eniId).counters }, partialInputBytes: this.links.get(eniId)?.decoder?.pendingLength ?? 0 };
  }

  list(): EniInfo[] {
    return [...this.switch.ports.keys()].map((id) => this.info(id));
  }

  // ---- live update --------------------------------------------------------------------

  get handedOver(): boolean {
    return this.frozen;
  }

  /**
   * Freezes the card for a live update: every guest socket stops reading (what the kernel holds
   * stays there for the next card), frames already switched are written out, and the state the
   * next card needs comes back as JSON — ENI configs, group rules and members, and per ENI the
   * bytes of a frame read only in part, its connection tracking and its live IMDSv2 tokens.
   * Counters and open IMDS TCP connections are not carried.
   */
  async freeze(): Promise<HandoverState> {
    this.frozen = true;
    const pending = new Map<string, Buffer>();
    for (const [id, link] of this.links) {
      const s = link.socket;
      if (!s) continue;
      s.pause();
      const h = rawOf(s);
      if (h?.readStop) {
        h.readStop();
        h.reading = false;
      }
      const parts: Buffer[] = [];
      const held = link.decoder?.takePending();
      if (held) parts.push(held);
      for (const c of (s as unknown as { readableBuffer: Iterable<Buffer> }).readableBuffer) parts.push(c);
      pending.set(id, Buffer.concat(parts));
    }
    for (const link of this.links.values()) this.flush(link);
    const deadline = Date.now() + 2_000;
    while ([...this.links.values()].some((l) => (l.socket?.writableLength ?? 0) > 0) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    for (const [id, b] of pending) this.pendingInput.set(id, b);
    const groups = this.switch.groups.groupIds().map((groupId) => {
      const rules = this.switch.groups.explicitRulesOf(groupId);
      return { groupId, ...(rules ? { rules } : {}), members: this.switch.groups.remoteMembersOf(groupId).map(intToIp) };
    });
    const now = Date.now();
    let edge: EdgeHandover | undefined;
    const side = this.switch.edge.sideConfig;
    if (this.tap && side) {
      // The next card opens the device again by name: it must survive this card closing it.
      this.tap.stop();
      this.tap.persist(true);
      this.tap.close();
      this.tap = undefined;
      edge = { side, persist: this.tapPersist, mac: this.switch.edge.info().mac, neighbours: this.switch.edge.exportNeighbours() };
      this.handedEdge = edge;
      // Nothing more leaves from here (an ARP retry timer included); the mappings stay for a thaw.
      this.switch.edge.detach();
    }
    const enis = [...this.links.entries()].map(([id, link]) => ({ cfg: link.port.cfg, connected: link.socket !== undefined, pendingBase64: (pending.get(id) ?? Buffer.alloc(0)).toString('base64'), conntrack: link.port.ct.export(now), imdsTokens: link.port.imds.exportTokens() }));
    return { enis, groups, ...(edge ? { edge } : {}), dns: this.switch.dns.exportVpcs() };
  }

  /** The public side the last freeze closed (thaw opens it again). */
  private handedEdge: EdgeHandover | undefined;

  /** A live update's new card: the public side the old one closed, read from once resumed. */
  adoptEdge(e: EdgeHandover): EdgeStats {
    const stats = this.attachPublicSide(e.side, true, e.mac, e.neighbours);
    this.tap?.stop(); // nothing is read before every ENI socket is over (resumeAdopted starts it)
    if (!e.persist) this.tap?.persist(false);
    this.tapPersist = e.persist;
    return stats;
  }

  /** Undoes freeze() when the next card could not take over (no handle has left yet). */
  thaw(): void {
    this.frozen = false;
    const e = this.handedEdge;
    this.handedEdge = undefined;
    if (e) {
      try {
        this.adoptEdge(e);
        this.startPublicSide();
      } catch (err) {
        // The device is gone or out of reach (another namespace): the guests read on without it.
        process.emitWarning(`vpc: the public side ${e.side.iface} could not be opened again: ${String(err)}`);
      }
    }
    for (const [id, link] of this.links) {
      const s = link.socket;
      const b = this.pendingInput.get(id);
      this.pendingInput.delete(id);
      if (!s) continue;
      if (b && b.length > 0) s.unshift(b);
      link.decoder = new FrameDecoder();
      // freeze() stopped the handle itself: Node's stream still thinks a read is pending and
      // would never start it again on resume() alone.
      const h = rawOf(s);
      if (h?.readStart && !h.reading) {
        h.readStart();
        h.reading = true;
      }
      s.resume();
    }
  }

  /** The raw handle of an ENI's listening socket or guest socket, to send over IPC. */
  handleOf(eniId: string, kind: 'server' | 'socket'): unknown {
    const link = this.links.get(eniId);
    if (!link) throw new VpcError('UnknownEni', 'not-found', 'No ENI with this id is attached to the card.', { eniId });
    const h = kind === 'server' ? rawOf(link.server) : link.socket ? rawOf(link.socket) : undefined;
    if (!h) throw new VpcError('NoSocket', 'not-found', 'The ENI has no such socket.', { eniId, kind });
    return h;
  }

  /** Restores the groups a previous card knew (before its ENIs come over). */
  adoptGroups(groups: HandoverState['groups']): void {
    for (const g of groups) {
      if (g.rules) this.switch.setRules(g.groupId, g.rules);
      this.switch.setGroupMembers(g.groupId, g.members);
    }
  }

  /** Attaches an ENI whose listening socket a previous card handed over (the path stays bound). */
  adoptEni(cfg: EniConfig, serverHandle: unknown, conntrack: readonly unknown[] = [], imdsTokens: readonly unknown[] = []): Promise<EniInfo> {
    const port = this.switch.addEni(cfg);
    port.ct.import(conntrack, Date.now());
    port.imds.importTokens(imdsTokens);
    const server = createServer((s) => this.onConnection(link, s));
    const link = new Link(port, server, this.socketPathOf(cfg.eniId));
    this.links.set(cfg.eniId, link);
    port.link = link;
    server.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(serverHandle as Server, () => {
        server.off('error', reject);
        resolve(this.info(cfg.eniId));
      });
    });
  }

  /**
   * Takes over a connected guest socket, paused: nothing is read until resumeAdopted(), so no
   * frame is switched toward an ENI whose socket has not come over yet.
   */
  adoptSocket(eniId: string, socketHandle: unknown, pending: Buffer): void {
    const link = this.links.get(eniId);
    if (!link) throw new VpcError('UnknownEni', 'not-found', 'No ENI with this id is attached to the card.', { eniId });
    const s = new Socket({ handle: socketHandle, readable: true, writable: true, pauseOnCreate: true } as unknown as ConstructorParameters<typeof Socket>[0]);
    this.adopted.push({ link, s, pending });
  }

  /** Starts reading every adopted socket; the bytes the previous card had read in part go first. */
  resumeAdopted(): number {
    const all = this.adopted;
    this.adopted = [];
    for (const { link, s } of all) this.onConnection(link, s, undefined, true);
    for (const { link, s, pending } of all) {
      if (link.socket !== s) continue;
      if (pending.length > 0) s.emit('data', pending);
      s.resume();
    }
    this.startPublicSide();
    return all.length;
  }

  async close(): Promise<void> {
    this.detachPublicSide();
    for (const id of [...this.links.keys()]) await this.removeEni(id);
    this.forwarder?.close();
    this.switch.close();
  }

  private onConnection(link: Link, s: Socket, pending?: Buffer, paused = false): void {
    if (this.frozen || link.socket || this.links.get(link.port.eniId) !== link) {
      s.destroy(); // one peer per ENI
      return;
    }
    link.socket = s;
    const port = link.port;
    link.decoder = new FrameDecoder();
    const onData = (chunk: Buffer): void => {
      const decoder = link.decoder;
      if (!decoder) return;
      this.switched(() => {
        try {
          const idx = this.frameIndex;
          decoder.splitAll(chunk, idx, (buf, count) => this.switch.inputChunk(port, buf, idx, count));
        } catch {
          // A length no QEMU sends: the stream cannot be resynchronised.
          port.counters.droppedMalformed++;
          s.destroy();
        }
      });
    };
    if (pending && pending.length > 0) onData(pending);
    s.on('data', onData);
    if (paused) s.pause();
    const gone = (): void => {
      if (link.socket === s) {
        link.socket = undefined;
        link.clear();
      }
    };
    s.on('error', gone);
    s.on('close', gone);
  }

  /** Switches one chunk; everything it produced leaves afterwards, one write per destination. */
  private switched(fn: () => void): void {
    this.inInput = true;
    try {
      fn();
    } finally {
      this.inInput = false;
      const d = this.dirty;
      this.dirty = [];
      for (const l of d) this.flush(l);
    }
  }

  private deliver(port: Port, buf: Buffer, off: number, len: number, forwarded: boolean): void {
    const link = port.link as Link | undefined;
    const s = link?.socket;
    // A frozen card's sockets belong to the next card: nothing more is written from here.
    if (!link || !s || this.frozen) {
      port.counters.droppedNotConnected++;
      return;
    }
    if (!link.scheduled) {
      // The first frame of a batch for this link: the NIC-ring limit is checked once per batch.
      link.scheduled = true;
      link.full = s.writableLength > TX_QUEUE_LIMIT_BYTES;
      if (this.inInput) this.dirty.push(link);
      else setImmediate(() => this.flush(link));
    }
    if (link.full) {
      port.counters.droppedTxQueueFull++;
      return;
    }
    if (forwarded) {
      // The frame still sits behind its length prefix in the chunk it arrived in: a burst of
      // frames from one guest to another leaves as one range of that chunk, without a copy.
      if (link.runBuf === buf && link.runEnd === off - 4) {
        link.runEnd = off + len;
        return;
      }
      link.closeRun();
      link.runBuf = buf;
      link.runStart = off - 4;
      link.runEnd = off + len;
      return;
    }
    link.closeRun();
    const b = Buffer.allocUnsafe(4 + len);
    b.writeUInt32BE(len, 0);
    buf.copy(b, 4, off, off + len);
    link.queue.push(b);
  }

  private flush(link: Link): void {
    link.scheduled = false;
    link.closeRun();
    const q = link.queue;
    link.queue = [];
    if (q.length === 0 || !link.socket) return;
    const s = link.socket;
    if (q.length === 1) {
      s.write(q[0] as Buffer);
      return;
    }
    // Several views leave in one writev, without copying them together.
    s.cork();
    for (const b of q) s.write(b);
    s.uncork();
  }
}
