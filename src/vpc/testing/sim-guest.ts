// A synthetic guest for tests and the benchmark: it connects to an ENI socket exactly as
// QEMU's `-netdev stream,server=off` does (4-byte big-endian length per frame) and speaks
// just enough ARP, DHCP, ICMP, UDP and TCP through the card's own codecs to drive it.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildArp, parseArp, ARP_REPLY, ARP_REQUEST } from '../protocol/arp.js';
import { intToIp, ipToInt, macToBytes } from '../protocol/addr.js';
import { buildDhcp, parseDhcp, messageType, optionIp, u32, DHCPDISCOVER, DHCPREQUEST, OPT_MESSAGE_TYPE, OPT_REQUESTED_IP, OPT_SERVER_ID } from '../protocol/dhcp.js';
import { buildEthernet, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN } from '../protocol/ethernet.js';
import { buildIcmp, parseIcmp, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST } from '../protocol/icmp.js';
import { buildIpv4, parseIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../protocol/ipv4.js';
import { encodeFrame, FrameDecoder } from '../protocol/stream-framing.js';
import { buildTcp, parseTcp, seqAdd, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpSegment } from '../protocol/tcp.js';
import { buildUdp, parseUdp } from '../protocol/udp.js';

export interface IpFrame {
  readonly frame: Buffer;
  readonly src: number;
  readonly dst: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly l4: Buffer;
}

export class SimGuest {
  readonly frames: Buffer[] = [];
  private waiters: { pred: (f: Buffer) => boolean; resolve: (f: Buffer) => void }[] = [];
  readonly mac: Buffer;
  ip: number;
  private ipId = 1;

  private constructor(readonly socket: Socket, mac: string, ip: string) {
    this.mac = macToBytes(mac);
    this.ip = ipToInt(ip);
    const dec = new FrameDecoder();
    socket.on('data', (c: Buffer) =>
      dec.push(c, (f) => {
        const copy = Buffer.from(f);
        const i = this.waiters.findIndex((w) => w.pred(copy));
        if (i >= 0) {
          const [w] = this.waiters.splice(i, 1);
          w?.resolve(copy);
        } else {
          this.frames.push(copy);
          if (this.frames.length > 10_000) this.frames.shift();
        }
      }),
    );
    socket.on('error', () => undefined);
  }

  static connect(path: string, mac: string, ip: string): Promise<SimGuest> {
    return new Promise((resolve, reject) => {
      const s = connect(path, () => resolve(new SimGuest(s, mac, ip)));
      s.once('error', reject);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(frame: Buffer): void {
    this.socket.write(encodeFrame(frame));
  }

  /** Resolves with the first frame (queued or future) matching `pred`. */
  waitFrame(pred: (f: Buffer) => boolean, timeoutMs = 3000, what = 'a frame'): Promise<Buffer> {
    const i = this.frames.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0] as Buffer);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (f: Buffer) => { clearTimeout(t); resolve(f); } };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Whether a frame matching `pred` arrives within `ms`. */
  async receives(pred: (f: Buffer) => boolean, ms: number): Promise<boolean> {
    try {
      await this.waitFrame(pred, ms);
      return true;
    } catch {
      return false;
    }
  }

  static ip(f: Buffer): IpFrame | undefined {
    if (f.length < 34 || f.readUInt16BE(12) !== ETHERTYPE_IPV4) return undefined;
    try {
      const h = parseIpv4(f, ETH_HEADER_LEN);
      return { frame: f, src: h.src, dst: h.dst, ttl: h.ttl, protocol: h.protocol, l4: f.subarray(ETH_HEADER_LEN + h.headerLen, ETH_HEADER_LEN + h.totalLen) };
    } catch {
      return undefined;
    }
  }

  ipFrame(dstMac: Uint8Array, dst: number, protocol: number, payload: Buffer, opts: { src?: number; ttl?: number; srcMac?: Uint8Array } = {}): Buffer {
    const ip = buildIpv4({ src: opts.src ?? this.ip, dst, protocol, ttl: opts.ttl ?? 64, id: this.ipId++ }, payload);
    return buildEthernet(dstMac, opts.srcMac ?? this.mac, ETHERTYPE_IPV4, ip);
  }

  async arp(target: string, timeoutMs = 1000): Promise<Buffer | undefined> {
    const t = ipToInt(target);
    const req = buildArp({ op: ARP_REQUEST, senderMac: this.mac, senderIp: this.ip, targetMac: Buffer.alloc(6), targetIp: t });
    this.send(buildEthernet(BROADCAST_MAC, this.mac, ETHERTYPE_ARP, req));
    try {
      const f = await this.waitFrame((f) => {
        if (f.readUInt16BE(12) !== ETHERTYPE_ARP) return false;
        const a = parseArp(f.subarray(14));
        return a.op === ARP_REPLY && a.senderIp === t;
      }, timeoutMs, `ARP reply for ${target}`);
      return Buffer.from(parseArp(f.subarray(14)).senderMac);
    } catch {
      return undefined;
    }
  }

  private dhcpMessage(type: number, xid: number, extra: (readonly [number, Uint8Array])[]): Buffer {
    const body = buildDhcp({ op: 1, xid, flags: 0, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: this.mac, options: [[OPT_MESSAGE_TYPE, Buffer.from([type])], ...extra] });
    const udp = buildUdp(0, 0xffffffff, 68, 67, body);
    return buildEthernet(BROADCAST_MAC, this.mac, ETHERTYPE_IPV4, buildIpv4({ src: 0, dst: 0xffffffff, protocol: IPPROTO_UDP, ttl: 64 }, udp));
  }

  private async dhcpReply(xid: number): Promise<ReturnType<typeof parseDhcp>> {
    const f = await this.waitFrame((f) => {
      const ip = SimGuest.ip(f);
      return ip !== undefined && ip.protocol === IPPROTO_UDP && ip.l4.readUInt16BE(2) === 68 && ip.l4.readUInt32BE(12) === xid;
    }, 3000, 'a DHCP reply');
    const ip = SimGuest.ip(f) as IpFrame;
    parseUdp(ip.l4, 0, ip.l4.length, ip.src, ip.dst);
    return parseDhcp(ip.l4.subarray(8));
  }

  /** DISCOVER → OFFER → REQUEST → ACK; returns the ACK (or NAK) and the offer. */
  async dhcp(requestIp?: string): Promise<{ offer: ReturnType<typeof parseDhcp>; ack: ReturnType<typeof parseDhcp>; ackType: number | undefined }> {
    const xid = (Math.random() * 2 ** 32) >>> 0;
    this.send(this.dhcpMessage(DHCPDISCOVER, xid, []));
    const offer = await this.dhcpReply(xid);
    const server = optionIp(offer, OPT_SERVER_ID) ?? 0;
    const want = requestIp !== undefined ? ipToInt(requestIp) : offer.yiaddr;
    this.send(this.dhcpMessage(DHCPREQUEST, xid, [[OPT_REQUESTED_IP, u32(want)], [OPT_SERVER_ID, u32(server)]]));
    const ack = await this.dhcpReply(xid);
    return { offer, ack, ackType: messageType(ack) };
  }

  /** One echo request; resolves with the reply frame or undefined. */
  async ping(dstMac: Uint8Array, dst: string, id: number, seq: number, timeoutMs = 1000, opts: { src?: number; srcMac?: Uint8Array; ttl?: number } = {}): Promise<IpFrame | undefined> {
    const d = ipToInt(dst);
    const rest = Buffer.alloc(4);
    rest.writeUInt16BE(id, 0);
    rest.writeUInt16BE(seq, 2);
    this.send(this.ipFrame(dstMac, d, IPPROTO_ICMP, buildIcmp(ICMP_ECHO_REQUEST, 0, rest, Buffer.from('nitride-ping')), opts));
    try {
      const f = await this.waitFrame((f) => {
        const ip = SimGuest.ip(f);
        if (!ip || ip.protocol !== IPPROTO_ICMP || ip.src !== d) return false;
        const m = parseIcmp(ip.l4, 0, ip.l4.length);
        return m.type === ICMP_ECHO_REPLY && m.id === id && ip.l4.readUInt16BE(6) === seq;
      }, timeoutMs, `echo reply from ${dst}`);
      return SimGuest.ip(f);
    } catch {
      return undefined;
    }
  }

  /** Answers echo requests addressed to this guest (as a guest kernel would). */
  answerPings(): void {
    this.socket.on('data', () => {
      for (let i = 0; i < this.frames.length; i++) {
        const f = this.frames[i] as Buffer;
        const ip = SimGuest.ip(f);
        if (!ip || ip.protocol !== IPPROTO_ICMP || ip.dst !== this.ip || ip.l4[0] !== ICMP_ECHO_REQUEST) continue;
        this.frames.splice(i--, 1);
        const reply = buildIcmp(ICMP_ECHO_REPLY, 0, ip.l4.subarray(4, 8), ip.l4.subarray(8));
        this.send(this.ipFrame(f.subarray(6, 12), ip.src, IPPROTO_ICMP, reply));
      }
    });
  }

  udp(dstMac: Uint8Array, dst: string, sport: number, dport: number, payload: Buffer, opts: { src?: number; srcMac?: Uint8Array } = {}): void {
    const d = ipToInt(dst);
    this.send(this.ipFrame(dstMac, d, IPPROTO_UDP, buildUdp(opts.src ?? this.ip, d, sport, dport, payload), opts));
  }

  tcpSegment(dstMac: Uint8Array, dst: number, s: { sport: number; dport: number; seq: number; ack: number; flags: number; window?: number }, data: Buffer = Buffer.alloc(0)): Buffer {
    const seg = buildTcp(this.ip, dst, { srcPort: s.sport, dstPort: s.dport, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window ?? 65535 }, data);
    return this.ipFrame(dstMac, dst, IPPROTO_TCP, seg);
  }

  static tcp(f: Buffer): (TcpSegment & { ttl: number; src: number }) | undefined {
    const ip = SimGuest.ip(f);
    if (!ip || ip.protocol !== IPPROTO_TCP) return undefined;
    return { ...parseTcp(ip.l4, 0, ip.l4.length, ip.src, ip.dst), ttl: ip.ttl, src: ip.src };
  }

  /**
   * A small, well-behaved HTTP exchange with the IMDS over TCP: handshake, one request,
   * read until FIN. Returns the raw response and the TTLs seen on data segments. With
   * `finWithRequest` the request carries FIN (a client that has nothing more to say, as a DNS
   * client over TCP may).
   */
  async http(gatewayMac: Uint8Array, request: string | Buffer, opts: { dst?: string; dport?: number; timeoutMs?: number; finWithRequest?: boolean } = {}): Promise<{ raw: string; ttls: number[]; status: number }> {
    const dst = ipToInt(opts.dst ?? '169.254.169.254');
    const dport = opts.dport ?? 80;
    const sport = 20000 + Math.floor(Math.random() * 40000);
    const timeout = opts.timeoutMs ?? 3000;
    const mine = (f: Buffer): boolean => {
      const t = SimGuest.tcp(f);
      return t !== undefined && t.src === dst && t.dstPort === sport;
    };
    let seq = (Math.random() * 2 ** 32) >>> 0;
    this.send(this.tcpSegment(gatewayMac, dst, { sport, dport, seq, ack: 0, flags: TCP_SYN }));
    const synack = SimGuest.tcp(await this.waitFrame(mine, timeout, 'SYN-ACK')) as TcpSegment;
    if (!(synack.flags & TCP_SYN)) throw new Error(`expected SYN-ACK, got flags ${synack.flags}`);
    seq = seqAdd(seq, 1);
    let ack = seqAdd(synack.seq, 1);
    const req = Buffer.from(request);
    this.send(this.tcpSegment(gatewayMac, dst, { sport, dport, seq, ack, flags: TCP_ACK | TCP_PSH | (opts.finWithRequest ? TCP_FIN : 0) }, req));
    seq = seqAdd(seq, req.length + (opts.finWithRequest ? 1 : 0));
    const chunks: Buffer[] = [];
    const ttls: number[] = [];
    for (;;) {
      const t = SimGuest.tcp(await this.waitFrame(mine, timeout, 'response data')) as TcpSegment & { ttl: number };
      if (t.flags & TCP_RST) throw new Error('connection reset');
      if (t.seq === ack && t.payload.length > 0) {
        chunks.push(Buffer.from(t.payload));
        ttls.push(t.ttl);
        ack = seqAdd(ack, t.payload.length);
      }
      if (t.flags & TCP_FIN && seqAdd(t.seq, t.payload.length) === ack) {
        ack = seqAdd(ack, 1);
        this.send(this.tcpSegment(gatewayMac, dst, { sport, dport, seq, ack, flags: opts.finWithRequest ? TCP_ACK : TCP_ACK | TCP_FIN }));
        break;
      }
      this.send(this.tcpSegment(gatewayMac, dst, { sport, dport, seq, ack, flags: TCP_ACK }));
      // A keep-alive answer ends at its Content-Length, not at a FIN: close from our side.
      const sofar = Buffer.concat(chunks).toString('latin1');
      const head = sofar.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(sofar.slice(0, head))?.[1];
      if (head >= 0 && len !== undefined && sofar.length >= head + 4 + Number(len)) {
        this.send(this.tcpSegment(gatewayMac, dst, { sport, dport, seq, ack, flags: TCP_ACK | TCP_RST }));
        break;
      }
    }
    await sleep(5);
    const raw = Buffer.concat(chunks).toString('latin1');
    return { raw, ttls, status: Number(raw.split(' ')[1]) };
  }

  get ipString(): string {
    return intToIp(this.ip);
  }
}
