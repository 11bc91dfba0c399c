// A minimal TCP responder (the passive side only) for the card's link-local services.
// One TcpEndpoint serves one (address, port) for one ENI. It handles the handshake,
// in-order delivery with an out-of-order queue, retransmitted and overlapping segments,
// FIN in both directions, RST, and go-back-N retransmission of what it sent, bounded by the
// peer's window. No congestion control, window scaling or SACK: a metadata answer is a few
// segments. Timers are the only I/O; segments go out through `send`.
import { randomInt } from 'node:crypto';
import {
  buildTcp,
  seqAdd,
  seqDiff,
  seqLe,
  seqLt,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  type TcpSegment,
} from '../protocol/tcp.js';

export interface ConnHandler {
  onData(data: Buffer): void;
  /** The peer sent FIN (no more data will come). */
  onPeerClosed(): void;
}

export interface TcpEndpointOptions {
  readonly localIp: number;
  readonly localPort: number;
  /** Sends a TCP segment (checksummed) to `remoteIp` in an IP packet with this TTL. */
  readonly send: (remoteIp: number, segment: Buffer, ttl: number) => void;
  readonly accept: (conn: TcpConnection) => ConnHandler;
  readonly mss?: number;
  readonly maxConnections?: number;
}

const WINDOW = 65535;
const RTO_MS = 250;
const MAX_RETRIES = 7;
const IDLE_MS = 60_000;
const MAX_OOO = 32;

type State = 'syn-rcvd' | 'established' | 'closed';

export class TcpConnection {
  state: State = 'syn-rcvd';
  readonly iss = randomInt(0, 2 ** 32 - 1) >>> 0;
  sndUna: number;
  sndNxt: number;
  /** Bytes from sndUna on: unacknowledged, then unsent. */
  private sndBuf: Buffer = Buffer.alloc(0);
  private finQueued = false;
  private finSent = false;
  finAcked = false;
  rcvNxt: number;
  peerFin = false;
  peerWnd = WINDOW;
  ttl = 64;
  handler: ConnHandler | undefined;
  private readonly ooo = new Map<number, { data: Buffer; fin: boolean }>();
  private timer: NodeJS.Timeout | undefined;
  private retries = 0;
  lastSeen = Date.now();

  constructor(
    private readonly ep: TcpEndpoint,
    readonly remoteIp: number,
    readonly remotePort: number,
    readonly irs: number,
    peerMss: number | undefined,
  ) {
    this.sndUna = this.iss;
    this.sndNxt = seqAdd(this.iss, 1);
    this.rcvNxt = seqAdd(irs, 1);
    this.mss = Math.max(64, Math.min(peerMss ?? 536, ep.mss));
  }
  readonly mss: number;

  /** Queues bytes to send; `ttl` sets the IP TTL of this connection's segments from now on. */
  write(data: Buffer, ttl?: number): void {
    if (this.finQueued || this.state === 'closed') return;
    if (ttl !== undefined) this.ttl = ttl;
    this.sndBuf = this.sndBuf.length === 0 ? Buffer.from(data) : Buffer.concat([this.sndBuf, data]);
    this.flush();
  }

  /** Sends FIN after the queued bytes. */
  end(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.flush();
  }

  /** Sends RST and forgets the connection. */
  abort(): void {
    if (this.state === 'closed') return;
    this.segment(TCP_RST | TCP_ACK, this.sndNxt, Buffer.alloc(0));
    this.ep.forget(this);
  }

  private segment(flags: number, seq: number, data: Buffer, mss?: number): void {
    const seg = buildTcp(this.ep.localIp, this.remoteIp, {
      srcPort: this.ep.localPort,
      dstPort: this.remotePort,
      seq,
      ack: this.rcvNxt,
      flags,
      window: WINDOW,
      ...(mss !== undefined ? { mss } : {}),
    }, data);
    this.ep.emit(this.remoteIp, seg, this.ttl);
  }

  sendAck(): void {
    this.segment(TCP_ACK, this.sndNxt, Buffer.alloc(0));
  }

  private dataEnd(): number {
    // The sequence number just past the queued data (SYN is before sndUna once acknowledged).
    return seqAdd(this.state === 'syn-rcvd' ? seqAdd(this.iss, 1) : this.sndUna, this.sndBuf.length);
  }

  /** Sends what the peer's window allows; returns whether anything went out. */
  flush(): boolean {
    if (this.state === 'closed') return false;
    if (this.state === 'syn-rcvd') {
      if (this.sndNxt === seqAdd(this.iss, 1) && !this.timer) this.arm();
      return false;
    }
    let sent = false;
    const base = this.sndUna;
    const limit = seqAdd(base, Math.max(this.peerWnd, 1));
    const end = this.dataEnd();
    while (seqLt(this.sndNxt, end) && seqLt(this.sndNxt, limit)) {
      const off = seqDiff(this.sndNxt, base);
      const n = Math.min(this.mss, seqDiff(end, this.sndNxt), seqDiff(limit, this.sndNxt));
      const chunk = this.sndBuf.subarray(off, off + n);
      const last = seqAdd(this.sndNxt, n) === end;
      this.segment(TCP_ACK | (last ? TCP_PSH : 0), this.sndNxt, chunk);
      this.sndNxt = seqAdd(this.sndNxt, n);
      sent = true;
    }
    if (this.finQueued && !this.finSent && this.sndNxt === end) {
      this.segment(TCP_FIN | TCP_ACK, this.sndNxt, Buffer.alloc(0));
      this.sndNxt = seqAdd(this.sndNxt, 1);
      this.finSent = true;
      sent = true;
    }
    if (sent && !this.timer) this.arm();
    return sent;
  }

  private arm(): void {
    this.timer = setTimeout(() => this.onTimeout(), RTO_MS * 2 ** this.retries);
    this.timer.unref();
  }

  private onTimeout(): void {
    this.timer = undefined;
    if (this.state === 'closed') return;
    if (++this.retries > MAX_RETRIES) {
      this.abort();
      return;
    }
    if (this.state === 'syn-rcvd') {
      this.sendSynAck();
      this.arm();
      return;
    }
    if (this.sndUna === this.sndNxt) return;
    // Go back N: resend everything unacknowledged.
    this.sndNxt = this.sndUna;
    if (this.finSent) this.finSent = false;
    this.flush();
    if (!this.timer) this.arm();
  }

  sendSynAck(): void {
    this.segment(TCP_SYN | TCP_ACK, this.iss, Buffer.alloc(0), this.ep.mss);
  }

  stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Processes an acknowledgement number; returns false when it acknowledges nothing we sent. */
  private onAck(ack: number): void {
    if (this.state === 'syn-rcvd') {
      if (ack !== seqAdd(this.iss, 1)) return;
      this.state = 'established';
      this.sndUna = ack;
      this.stopTimer();
      this.retries = 0;
      return;
    }
    if (!seqLt(this.sndUna, ack) || seqLt(this.sndNxt, ack)) return;
    let acked = seqDiff(ack, this.sndUna);
    const dataAcked = Math.min(acked, this.sndBuf.length);
    this.sndBuf = this.sndBuf.subarray(dataAcked);
    acked -= dataAcked;
    if (acked > 0 && this.finSent) this.finAcked = true;
    this.sndUna = ack;
    this.stopTimer();
    this.retries = 0;
    if (this.sndUna !== this.sndNxt) this.arm();
  }

  input(s: TcpSegment): void {
    this.lastSeen = Date.now();
    if (s.flags & TCP_ACK) this.onAck(s.ack);
    if (this.state === 'syn-rcvd') {
      // Data may ride on the handshake's ACK; anything else waits for a valid ACK.
      if (!(s.flags & TCP_ACK)) return;
      if (this.state === 'syn-rcvd') return;
    }
    this.peerWnd = s.window;
    let consumed = false;
    let dup = false;
    const fin = (s.flags & TCP_FIN) !== 0;
    const len = s.payload.length;
    if (len > 0 || fin) {
      const d = seqDiff(s.seq, this.rcvNxt);
      if (d === 0) {
        consumed = this.accept(s.payload, fin);
        this.drain();
      } else if (d < 0) {
        const overlap = -d;
        if (overlap < len) consumed = this.accept(s.payload.subarray(overlap), fin);
        else if (overlap === len && fin && !this.peerFin) consumed = this.accept(Buffer.alloc(0), true);
        else dup = true;
        if (consumed) this.drain();
      } else if (d < WINDOW) {
        if (this.ooo.size < MAX_OOO && !this.ooo.has(s.seq)) this.ooo.set(s.seq, { data: Buffer.from(s.payload), fin });
        dup = true;
      }
    }
    if (this.finAcked && this.peerFin) {
      if (consumed) this.sendAck();
      this.ep.forget(this);
      return;
    }
    const sent = this.flush();
    if ((consumed || dup) && !sent) this.sendAck();
  }

  private accept(data: Buffer, fin: boolean): boolean {
    if (this.peerFin) return false;
    this.rcvNxt = seqAdd(this.rcvNxt, data.length);
    if (data.length > 0) this.handler?.onData(Buffer.from(data));
    if (fin) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.peerFin = true;
      this.handler?.onPeerClosed();
    }
    return true;
  }

  private drain(): void {
    for (let progress = true; progress && this.ooo.size > 0 && !this.peerFin; ) {
      progress = false;
      for (const [seq, seg] of this.ooo) {
        const d = seqDiff(seq, this.rcvNxt);
        const end = seqAdd(seq, seg.data.length);
        if (d <= 0) {
          this.ooo.delete(seq);
          if (seqLe(end, this.rcvNxt) && !(seg.fin && end === this.rcvNxt)) continue;
          this.accept(seg.data.subarray(-d), seg.fin);
          progress = true;
        }
      }
    }
  }
}

export class TcpEndpoint {
  readonly localIp: number;
  readonly localPort: number;
  readonly mss: number;
  private readonly conns = new Map<string, TcpConnection>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: TcpEndpointOptions) {
    this.localIp = opts.localIp;
    this.localPort = opts.localPort;
    this.mss = opts.mss ?? 1460;
    this.sweeper = setInterval(() => this.sweep(), 5000);
    this.sweeper.unref();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  emit(remoteIp: number, seg: Buffer, ttl: number): void {
    this.opts.send(remoteIp, seg, ttl);
  }

  forget(c: TcpConnection): void {
    c.state = 'closed';
    c.stopTimer();
    const k = `${c.remoteIp}:${c.remotePort}`;
    if (this.conns.get(k) === c) this.conns.delete(k);
  }

  private reset(remoteIp: number, s: TcpSegment): void {
    if (s.flags & TCP_RST) return;
    const len = s.payload.length + (s.flags & TCP_SYN ? 1 : 0) + (s.flags & TCP_FIN ? 1 : 0);
    const seg = s.flags & TCP_ACK
      ? buildTcp(this.localIp, remoteIp, { srcPort: this.localPort, dstPort: s.srcPort, seq: s.ack, ack: 0, flags: TCP_RST, window: 0 })
      : buildTcp(this.localIp, remoteIp, { srcPort: this.localPort, dstPort: s.srcPort, seq: 0, ack: seqAdd(s.seq, len), flags: TCP_RST | TCP_ACK, window: 0 });
    this.emit(remoteIp, seg, 64);
  }

  /** One segment from the guest addressed to this endpoint. */
  input(remoteIp: number, s: TcpSegment): void {
    const k = `${remoteIp}:${s.srcPort}`;
    let c = this.conns.get(k);
    if (s.flags & TCP_RST) {
      if (c && seqDiff(s.seq, c.rcvNxt) >= 0 && seqDiff(s.seq, c.rcvNxt) < 65535) this.forget(c);
      return;
    }
    if (s.flags & TCP_SYN) {
      if (c && s.seq === c.irs) {
        // A retransmitted SYN: answer again with the same SYN-ACK (or an ACK once established).
        if (c.state === 'syn-rcvd') c.sendSynAck();
        else c.sendAck();
        return;
      }
      if (c) this.forget(c);
      if (s.flags & TCP_ACK) {
        this.reset(remoteIp, s);
        return;
      }
      if (this.conns.size >= (this.opts.maxConnections ?? 64)) {
        this.reset(remoteIp, s);
        return;
      }
      c = new TcpConnection(this, remoteIp, s.srcPort, s.seq, s.mss);
      this.conns.set(k, c);
      c.handler = this.opts.accept(c);
      c.sendSynAck();
      c.flush();
      return;
    }
    if (!c) {
      this.reset(remoteIp, s);
      return;
    }
    c.input(s);
  }

  private sweep(): void {
    const now = Date.now();
    for (const c of this.conns.values()) {
      if (now - c.lastSeen > (c.state === 'syn-rcvd' ? 10_000 : IDLE_MS)) c.abort();
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const c of [...this.conns.values()]) this.forget(c);
  }
}
