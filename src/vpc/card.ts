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

class Link {
  socket: Socket | undefined;
  queue: Buffer[] = [];
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

  private constructor(private readonly opts: VpcCardOptions) {
    this.switch = new VpcSwitch((port, frame) => this.deliver(port, frame));
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
      try {
        decoder.push(chunk, (f) => this.switch.input(port, f));
      } catch {
        // A length no QEMU sends: the stream cannot be resynchronised.
        port.counters.droppedMalformed++;
        s.destroy();
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

  private deliver(port: Port, frame: Buffer): void {
    const link = this.links.get(port.eniId);
    const s = link?.socket;
    if (!link || !s) {
      port.counters.droppedNotConnected++;
      return;
    }
    if (s.writableLength > TX_QUEUE_LIMIT_BYTES) {
      port.counters.droppedTxQueueFull++;
      return;
    }
    const h = Buffer.allocUnsafe(4);
    h.writeUInt32BE(frame.length, 0);
    link.queue.push(h, frame);
    if (!link.scheduled) {
      link.scheduled = true;
      setImmediate(() => this.flush(link));
    }
  }

  private flush(link: Link): void {
    link.scheduled = false;
    const q = link.queue;
    if (q.length === 0) return;
    link.queue = [];
    link.socket?.write(Buffer.concat(q));
  }
}
