// The VPC card: one unix stream socket per ENI (QEMU's `-netdev stream,server=off` connects
// to it), the switch behind them, and the control API the card's entry point exposes over
// IPC. The socket directory is 0710 and each socket 0660, both group nitride-qemu when the
// card runs as root, so QEMU (running as that user) can connect and nobody else can.
import { chmod, chown, mkdir, rm, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { qemuUserIds } from '../setup/qemu-user.js';
import { VpcError } from './errors.js';
import type { EniConfig, EniUpdate, GroupRules } from './model.js';
import { FrameDecoder } from './protocol/stream-framing.js';
import type { IdentitySigner } from './imds/service.js';
import { VpcSwitch, type EniCounters, type Port } from './switch.js';

/** Frames queued for a guest beyond this are dropped (a full NIC ring). */
export const TX_QUEUE_LIMIT_BYTES = 4 * 1024 * 1024;
const MAX_SOCKET_PATH = 107;

export interface VpcCardOptions {
  /** Where the per-ENI sockets live; created 0710. Every ancestor must be searchable by QEMU's user. */
  readonly socketDir: string;
  /** Group that may connect (default: nitride-qemu's group when running as root). */
  readonly socketGid?: number;
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
}

/** A byte range of an ArrayBuffer waiting to be written; consecutive forwarded frames extend it. */
interface Range {
  readonly ab: ArrayBufferLike;
  readonly start: number;
  end: number;
}

class Link {
  socket: Socket | undefined;
  queue: Range[] = [];
  scheduled = false;

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

  private constructor(private readonly opts: VpcCardOptions) {
    this.switch = new VpcSwitch((port, buf, off, len, forwarded) => this.deliver(port, buf, off, len, forwarded));
    this.gid = opts.socketGid ?? (process.getuid?.() === 0 ? qemuUserIds()?.gid : undefined);
  }

  static async create(opts: VpcCardOptions): Promise<VpcCard> {
    await mkdir(opts.socketDir, { recursive: true, mode: 0o710 });
    const card = new VpcCard(opts);
    await chmod(opts.socketDir, 0o710);
    if (card.gid !== undefined) {
      await chown(opts.socketDir, 0, card.gid);
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
      await chmod(path, 0o660);
      if (this.gid !== undefined) await chown(path, 0, this.gid);
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

  /** The region's hook for the identity-document signature of one ENI's instance. */
  setIdentitySigner(eniId: string, signer: IdentitySigner | undefined): void {
    this.switch.port(eniId).imds.setSigner(signer);
  }

  info(eniId: string): EniInfo {
    const port = this.switch.port(eniId);
    const link = this.links.get(eniId);
    return { ...this.switch.describe(port), socketPath: this.socketPathOf(eniId), connected: link?.socket !== undefined };
  }

  stats(eniId: string): EniStats {
    return { ...this.info(eniId), counters: { ...this.switch.port(eniId).counters } };
  }

  list(): EniInfo[] {
    return [...this.switch.ports.keys()].map((id) => this.info(id));
  }

  async close(): Promise<void> {
    for (const id of [...this.links.keys()]) await this.removeEni(id);
    this.switch.close();
  }

  private onConnection(link: Link, s: Socket): void {
    if (link.socket || this.links.get(link.port.eniId) !== link) {
      s.destroy(); // one peer per ENI
      return;
    }
    link.socket = s;
    const decoder = new FrameDecoder();
    const port = link.port;
    s.on('data', (chunk: Buffer) => {
      this.inInput = true;
      try {
        decoder.pushAt(chunk, (buf, off, len) => this.switch.inputAt(port, buf, off, len));
      } catch {
        // A length no QEMU sends: the stream cannot be resynchronised.
        port.counters.droppedMalformed++;
        s.destroy();
      } finally {
        this.inInput = false;
        // Everything this chunk produced leaves now, one write per destination.
        const d = this.dirty;
        this.dirty = [];
        for (const l of d) this.flush(l);
      }
    });
    const gone = (): void => {
      if (link.socket === s) {
        link.socket = undefined;
        link.queue = [];
      }
    };
    s.on('error', gone);
    s.on('close', gone);
  }

  private deliver(port: Port, buf: Buffer, off: number, len: number, forwarded: boolean): void {
    const link = port.link as Link | undefined;
    const s = link?.socket;
    if (!link || !s) {
      port.counters.droppedNotConnected++;
      return;
    }
    if (s.writableLength > TX_QUEUE_LIMIT_BYTES) {
      port.counters.droppedTxQueueFull++;
      return;
    }
    if (forwarded) {
      // The frame still sits behind its length prefix in the chunk it arrived in: send that
      // range as is, and merge it with the previous range when they touch (a burst of frames
      // from one guest to another leaves as one write, without a copy).
      const start = buf.byteOffset + off - 4;
      const end = buf.byteOffset + off + len;
      const last = link.queue[link.queue.length - 1];
      if (last !== undefined && last.ab === buf.buffer && last.end === start) last.end = end;
      else link.queue.push({ ab: buf.buffer, start, end });
    } else {
      const b = Buffer.allocUnsafe(4 + len);
      b.writeUInt32BE(len, 0);
      buf.copy(b, 4, off, off + len);
      link.queue.push({ ab: b.buffer, start: b.byteOffset, end: b.byteOffset + b.length });
    }
    if (!link.scheduled) {
      link.scheduled = true;
      if (this.inInput) this.dirty.push(link);
      else setImmediate(() => this.flush(link));
    }
  }

  private flush(link: Link): void {
    link.scheduled = false;
    const q = link.queue;
    link.queue = [];
    if (q.length === 0 || !link.socket) return;
    const s = link.socket;
    if (q.length === 1) {
      const r = q[0] as Range;
      s.write(Buffer.from(r.ab, r.start, r.end - r.start));
      return;
    }
    // Several ranges leave in one writev, without copying them together.
    s.cork();
    for (const r of q) s.write(Buffer.from(r.ab, r.start, r.end - r.start));
    s.uncork();
  }
}
