// Batched UDP for the underlay bridge over a bound node:dgram socket. Node's dgram makes one
// system call and one JS event per datagram, which limits the bridge to ~40–50 k datagrams/s
// here. With the native addon (native/gcm), datagrams leave with sendmmsg and arrive with
// recvmmsg on the socket's own fd, non-blocking:
//   - sending: a batch goes out in one call; what the kernel does not take (a full socket
//     buffer) falls back to dgram's send, which libuv queues — nothing is lost here;
//   - receiving: dgram still wakes us (its 'message' event delivers the first datagram of a
//     burst); recvBatch then drains what else is queued, up to BURST per wakeup, so the
//     libuv read that follows finds the queue empty.
// Without the addon (or NITRIDE_NATIVE=off, or NITRIDE_UDP_BATCH=off for a comparison in the
// same run) it is plain dgram: correct, slower.
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { loadNativeGcm } from './native.js';

/** Room per datagram when receiving in batches (an underlay datagram is at most ~1.5 KiB + 36). */
const SLOT = 2048;
const SLOTS = 64;
/** Datagrams drained per wakeup at most, so timers and other sockets get their turn. */
const BURST = 1024;

export interface NativeUdp {
  sendBatch(fd: number, addr: number, port: number, datagrams: readonly Buffer[], start: number, end: number): number;
  recvBatch(fd: number, slab: Buffer, slot: number, meta: Uint32Array): number;
}

export type DatagramHandler = (d: Buffer, address: number, port: number) => void;

const ipv4Int = (ip: string): number => {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
};

/** The fd under a bound dgram socket (Linux), or undefined. */
function fdOf(sock: UdpSocket): number | undefined {
  for (const k of Object.getOwnPropertySymbols(sock)) {
    const st = (sock as unknown as Record<symbol, { handle?: { fd?: number } } | undefined>)[k];
    const fd = st?.handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  return undefined;
}

export class BatchUdp {
  private readonly native: NativeUdp | undefined;
  private fd: number | undefined;
  private readonly slab = Buffer.allocUnsafe(SLOT * SLOTS);
  private readonly meta = new Uint32Array(SLOTS * 3);
  /** Datagrams handed back to dgram's own send because the kernel buffer was full. */
  fallbackSends = 0;
  /** Received datagrams longer than a slot (dropped). */
  truncated = 0;

  /**
   * `onDatagram` gets each datagram (a view valid only during the call); `onBatchEnd` runs
   * after each wakeup's datagrams, so the caller can write what they produced at once.
   */
  constructor(
    readonly sock: UdpSocket,
    onDatagram: DatagramHandler,
    onBatchEnd: () => void = () => undefined,
  ) {
    const n = process.env['NITRIDE_UDP_BATCH'] === 'off' ? undefined : (loadNativeGcm() as unknown as Partial<NativeUdp> | undefined);
    this.native = n && typeof n.sendBatch === 'function' && typeof n.recvBatch === 'function' ? (n as NativeUdp) : undefined;
    sock.on('message', (m: Buffer, rinfo: RemoteInfo) => {
      onDatagram(m, ipv4Int(rinfo.address), rinfo.port);
      this.drain(onDatagram);
      onBatchEnd();
    });
  }

  /** True when datagrams move in batches (the addon is loaded and the socket's fd is known). */
  get batched(): boolean {
    return this.native !== undefined && this.handle() !== undefined;
  }

  private handle(): number | undefined {
    if (this.fd === undefined) this.fd = fdOf(this.sock);
    return this.fd;
  }

  /** Reads what else is queued on the socket right now (after a 'message' woke us). */
  private drain(onDatagram: DatagramHandler): void {
    const fd = this.native ? this.handle() : undefined;
    if (fd === undefined) return;
    for (let total = 0; total < BURST; ) {
      const n = this.native!.recvBatch(fd, this.slab, SLOT, this.meta);
      if (n <= 0) return; // -EAGAIN: empty; another error: dgram's own read reports it
      for (let i = 0; i < n; i++) {
        const len = this.meta[3 * i]!;
        if (len > SLOT) {
          this.truncated++;
          continue;
        }
        // A view into the slab: valid until the next recvBatch; handlers copy what they keep.
        onDatagram(this.slab.subarray(i * SLOT, i * SLOT + len), this.meta[3 * i + 1]!, this.meta[3 * i + 2]!);
      }
      total += n;
      if (n < SLOTS) return;
    }
  }

  /** Sends `datagrams` to address:port (IPv4 dotted or as an integer in host order). */
  sendMany(datagrams: readonly Buffer[], port: number, address: string): void {
    if (datagrams.length === 0) return;
    const fd = this.native ? this.handle() : undefined;
    let from = 0;
    if (fd !== undefined) {
      const addr = ipv4Int(address);
      while (from < datagrams.length) {
        const r = this.native!.sendBatch(fd, addr, port, datagrams, from, datagrams.length);
        // -EAGAIN (the socket buffer is full) or another error: dgram's send queues the rest
        // (and reports an error the way it always does).
        if (r <= 0) break;
        from += r;
      }
    }
    for (let i = from; i < datagrams.length; i++) {
      if (fd !== undefined) this.fallbackSends++;
      this.sock.send(datagrams[i]!, port, address);
    }
  }
}
