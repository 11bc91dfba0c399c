// The VPC edge inside the card: the internet gateway's one-to-one NAT between each ENI's public
// (or Elastic) IP and its private address, and the card's presence on the host's public side (a
// TAP device: see public-side.ts). Inbound, a datagram to a public IP mapped here reaches the ENI
// — destination rewritten to the private address, the client's source kept — only when the ENI's
// subnet routes 0.0.0.0/0 to an internet gateway (internetRoute) and its security groups admit it
// (the same rules and connection table as between guests). Outbound, a datagram the guest routes
// through the virtual router to an address outside its VPC leaves with its public IP as source,
// only from the ENI's own private address, with internetRoute, and when its egress rules admit
// it; an ENI without a public IP has no path out. On the public side the card answers ARP for
// the public IPs mapped here (and announces each new mapping with a gratuitous ARP) and resolves
// its next hop (the public side's gateway, or the destination itself when it is on-link) by ARP.
// No sockets here: frames come in through inputChunk()/outbound() and leave through callbacks.
import { randomBytes } from 'node:crypto';
import { buildArp, parseArp, ARP_REPLY, ARP_REQUEST } from '../protocol/arp.js';
import { cidrContains, intToIp, ipToInt, isIp, macToBytes, macToString, parseCidr, type Cidr } from '../protocol/addr.js';
import { buildEthernet, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN, macEquals } from '../protocol/ethernet.js';
import { decrementTtl, parseIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, type Ipv4Header } from '../protocol/ipv4.js';
import { VpcError } from '../errors.js';
import { publicUnicast, type EniConfig, type PublicSideConfig } from '../model.js';
import type { ConnTrack, Policy } from '../security-groups.js';
import { ingressLocal, ingressRemote, isIcmpError, newFlow, readFlow, translate } from './nat.js';

/** The router MAC guests send off-subnet traffic to (switch.ts ROUTER_MAC). */
const ROUTER_MAC_BYTES = macToBytes('02:4e:52:00:00:01');
/** A policy nothing matches: a check against it passes only on an existing connection record. */
const NO_RULES: Policy = { ingress: [], egress: [] };
const NEIGHBOUR_TTL_MS = 60_000;
const ARP_RETRY_MS = 300;
const ARP_TRIES = 3;
/** Frames held per unresolved next hop while its ARP is out. */
const PENDING_PER_HOP = 16;

/** The edge's own counters (per ENI ones are in EniCounters: edgeIn*, edgeOut*, edgeDropped*). */
export interface EdgeCounters {
  rxFrames: number; // from the public side
  rxBytes: number;
  txFrames: number; // to the public side
  txBytes: number;
  arpAnswered: number;
  arpRequestsSent: number;
  gratuitousArpSent: number;
  droppedUnknownAddress: number; // IPv4 for an address not mapped here
  droppedSpoofedSource: number; // from outside with a source inside the ENI's VPC, a public IP of this card, or one never routed
  droppedNotForUs: number; // another destination MAC
  droppedUnsupported: number; // other ethertypes (IPv6, …)
  droppedMalformed: number;
  droppedTxFull: number; // the TAP device's queue was full
  droppedNoNeighbour: number; // the next hop did not answer ARP
}

export interface EdgeInfo {
  readonly attached: boolean;
  readonly iface?: string;
  readonly cidr?: string;
  readonly gateway?: string;
  readonly mac: string;
  readonly mappings: readonly { readonly publicIp: string; readonly eniId: string; readonly privateIp: string }[];
  readonly neighbours: readonly { readonly ip: string; readonly mac: string }[];
  readonly counters: EdgeCounters;
}

type EdgeCounter =
  | 'txFrames' | 'txBytes' | 'droppedNoRoute' | 'droppedSpoofedIp' | 'droppedTtlExceeded' | 'droppedMalformed' | 'droppedSecurityGroupIngress' | 'droppedSecurityGroupEgress'
  | 'edgeInFrames' | 'edgeInBytes' | 'edgeOutFrames' | 'edgeOutBytes' | 'edgeDroppedNoPublicIp' | 'edgeDroppedNoInternetRoute' | 'edgeDroppedNoPublicSide' | 'edgeDroppedNoNeighbour';

/** What the edge needs of a switch port (switch.ts Port): its config, addresses, rules, connection table and counters. */
export interface EdgePort {
  readonly cfg: EniConfig;
  readonly eniId: string;
  readonly ip: number;
  readonly mac: Buffer;
  readonly subnet: Cidr;
  readonly policy: Policy;
  readonly ct: ConnTrack;
  readonly counters: Record<EdgeCounter, number>;
}

/** What the edge needs from the switch. */
export interface EdgeHost<Port extends EdgePort> {
  /** The switch's coarse clock (what connection tracking runs on). */
  now(): number;
  /**
   * Hands a frame to a guest: forwarded frames are still preceded by their 4-byte length in
   * buf (see Deliver in switch.ts).
   */
  toGuest(port: Port, buf: Buffer, off: number, len: number, forwarded: boolean): void;
}

/** Writes one frame to the public side: true when written, false when the device queue is full. */
export type PublicWrite = (buf: Buffer, off: number, len: number) => boolean;

interface Pending {
  frames: { frame: Buffer; port: EdgePort | undefined }[];
  tries: number;
  timer: NodeJS.Timeout;
}

function zeroEdgeCounters(): EdgeCounters {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, arpAnswered: 0, arpRequestsSent: 0, gratuitousArpSent: 0, droppedUnknownAddress: 0, droppedSpoofedSource: 0, droppedNotForUs: 0, droppedUnsupported: 0, droppedMalformed: 0, droppedTxFull: 0, droppedNoNeighbour: 0 };
}

/** Validates a PublicSideConfig (InvalidParameterValue otherwise). */
export function validatePublicSide(c: PublicSideConfig): { cidr: Cidr; gateway: number } {
  const bad = (m: string): VpcError => new VpcError('InvalidParameterValue', 'invalid', m, { side: c });
  if (typeof c !== 'object' || c === null) throw bad('side must be {iface, cidr, gateway}.');
  if (typeof c.iface !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(c.iface)) throw bad('side.iface must be an interface name of 1..15 characters.');
  if (typeof c.cidr !== 'string') throw bad('side.cidr must be a CIDR block.');
  const cidr = parseCidr(c.cidr);
  if (typeof c.gateway !== 'string' || !isIp(c.gateway)) throw bad('side.gateway must be an IPv4 address.');
  const gateway = ipToInt(c.gateway);
  if (!cidrContains(cidr, gateway)) throw bad('side.gateway must be inside side.cidr.');
  return { cidr, gateway };
}

/** Each ENI's VPC block, parsed once per configuration. */
const vpcBlocks = new WeakMap<object, Cidr | null>();
function vpcBlockOf(port: EdgePort): Cidr | null {
  let c = vpcBlocks.get(port.cfg);
  if (c === undefined) {
    c = port.cfg.vpcCidr !== undefined ? parseCidr(port.cfg.vpcCidr) : null;
    vpcBlocks.set(port.cfg, c);
  }
  return c;
}

export class VpcEdge<Port extends EdgePort = EdgePort> {
  /** The card's MAC on the public side (locally administered, new on each attach unless carried over). */
  mac: Buffer = VpcEdge.newMac();
  private side: { cfg: PublicSideConfig; cidr: Cidr; gateway: number } | undefined;
  private write: PublicWrite | undefined;
  private readonly byPublic = new Map<number, Port>();
  private readonly neighbours = new Map<number, { mac: Buffer; expires: number }>();
  private readonly pending = new Map<number, Pending>();
  readonly counters = zeroEdgeCounters();
  private readonly flow = newFlow();
  private readonly qflow = newFlow();

  constructor(private readonly host: EdgeHost<Port>) {}

  static newMac(): Buffer {
    const m = randomBytes(6);
    m[0] = 0x02; // locally administered, unicast
    m[1] = 0x4e;
    return m;
  }

  get attached(): boolean {
    return this.side !== undefined;
  }

  /** Starts using a public side: frames leave through `write`. Announces every mapping. */
  attach(cfg: PublicSideConfig, write: PublicWrite, mac?: string): void {
    const { cidr, gateway } = validatePublicSide(cfg);
    this.detach();
    if (mac !== undefined) this.mac = macToBytes(mac);
    this.side = { cfg: { iface: cfg.iface, cidr: cfg.cidr, gateway: cfg.gateway }, cidr, gateway };
    this.write = write;
    for (const ip of this.byPublic.keys()) this.announce(ip);
  }

  detach(): void {
    this.side = undefined;
    this.write = undefined;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    this.neighbours.clear();
  }

  close(): void {
    this.detach();
  }

  get sideConfig(): PublicSideConfig | undefined {
    return this.side?.cfg;
  }

  /** The ENI holding a public IP here, if any. */
  portOf(publicIp: number): Port | undefined {
    return this.byPublic.get(publicIp);
  }

  /** Follows an ENI's publicIp after add/update/remove (the switch checked it is not taken). */
  remap(port: Port, before: string | undefined, removed = false): void {
    const now = removed ? undefined : port.cfg.publicIp;
    if (before !== undefined && before !== now) {
      const b = ipToInt(before);
      if (this.byPublic.get(b) === port) this.byPublic.delete(b);
    }
    if (now !== undefined) {
      const ip = ipToInt(now);
      const had = this.byPublic.get(ip) === port;
      this.byPublic.set(ip, port);
      if (!had) this.announce(ip);
    }
  }

  info(): EdgeInfo {
    const s = this.side;
    return {
      attached: s !== undefined,
      ...(s ? { iface: s.cfg.iface, cidr: s.cfg.cidr, gateway: s.cfg.gateway } : {}),
      mac: macToString(this.mac),
      mappings: [...this.byPublic].map(([ip, p]) => ({ publicIp: intToIp(ip), eniId: p.eniId, privateIp: intToIp(p.ip) })),
      neighbours: [...this.neighbours].map(([ip, n]) => ({ ip: intToIp(ip), mac: macToString(n.mac) })),
      counters: { ...this.counters },
    };
  }

  /** The neighbours to carry over a live update. */
  exportNeighbours(): [string, string][] {
    const now = Date.now();
    return [...this.neighbours].filter(([, n]) => n.expires > now).map(([ip, n]) => [intToIp(ip), macToString(n.mac)]);
  }

  importNeighbours(list: readonly unknown[]): void {
    const now = Date.now();
    for (const x of list) {
      if (!Array.isArray(x) || typeof x[0] !== 'string' || typeof x[1] !== 'string' || !isIp(x[0])) continue;
      try {
        this.neighbours.set(ipToInt(x[0]), { mac: macToBytes(x[1]), expires: now + NEIGHBOUR_TTL_MS });
      } catch {
        // skipped: not a MAC
      }
    }
  }

  // ---- public side → guests ----------------------------------------------------------

  /**
   * Frames read from the public side: frame i at buf[idx[2i], +idx[2i+1]), each preceded by
   * its 4-byte length (tapRead's layout). Never throws.
   */
  inputChunk(buf: Buffer, idx: Int32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const off = idx[2 * i] as number;
      const len = idx[2 * i + 1] as number;
      try {
        this.inputAt(buf, off, len, true);
      } catch {
        this.counters.droppedMalformed++;
      }
    }
  }

  private inputAt(buf: Buffer, off: number, len: number, framed: boolean): void {
    const c = this.counters;
    c.rxFrames++;
    c.rxBytes += len;
    if (len < ETH_HEADER_LEN) {
      c.droppedMalformed++;
      return;
    }
    const ethertype = buf.readUInt16BE(off + 12);
    const toUs = macEquals(buf, this.mac, off);
    if (ethertype === ETHERTYPE_ARP) {
      if (toUs || macEquals(buf, BROADCAST_MAC, off)) this.arp(buf.subarray(off + ETH_HEADER_LEN, off + len));
      else c.droppedNotForUs++;
      return;
    }
    if (ethertype !== ETHERTYPE_IPV4) {
      c.droppedUnsupported++;
      return;
    }
    if (!toUs) {
      c.droppedNotForUs++;
      return;
    }
    const frame = buf.subarray(off, off + len);
    const ip = parseIpv4(frame, ETH_HEADER_LEN);
    const port = this.byPublic.get(ip.dst);
    if (port === undefined) {
      c.droppedUnknownAddress++;
      return;
    }
    // The gateway's anti-spoofing: nothing from outside may claim an address of the VPC (rules
    // that admit the VPC's own block would let it in), of this card's public IPs, or one that
    // is never routed.
    const vpc = vpcBlockOf(port);
    if (!publicUnicast(ip.src) || cidrContains(port.subnet, ip.src) || (vpc !== null && cidrContains(vpc, ip.src)) || this.byPublic.has(ip.src)) {
      c.droppedSpoofedSource++;
      return;
    }
    this.inbound(port, frame, ip, framed ? buf : undefined, off);
  }

  /** A datagram for `port`'s public IP (frame starts at its Ethernet header). */
  private inbound(port: Port, frame: Buffer, ip: Ipv4Header, chunk: Buffer | undefined, off: number): void {
    const pc = port.counters;
    if (port.cfg.internetRoute !== true) {
      pc.edgeDroppedNoInternetRoute++;
      return;
    }
    if (ip.ttl <= 1) {
      pc.droppedTtlExceeded++;
      return;
    }
    const ip0 = ETH_HEADER_LEN;
    const l4 = ip0 + ip.headerLen;
    const end = ip0 + ip.totalLen;
    if (!this.admit(port, 'ingress', frame, ip, l4, end)) return;
    if (translate(frame, ip0, ip.totalLen, 'dst', port.ip) !== 'ok') {
      pc.droppedMalformed++;
      return;
    }
    decrementTtl(frame, ip0);
    frame.set(port.mac, 0);
    frame.set(ROUTER_MAC_BYTES, 6);
    pc.edgeInFrames++;
    pc.edgeInBytes += frame.length;
    pc.txFrames++;
    pc.txBytes += frame.length;
    if (chunk !== undefined) this.host.toGuest(port, chunk, off, frame.length, true);
    else this.host.toGuest(port, frame, 0, frame.length, false);
  }

  /**
   * The ENI's security groups for a datagram crossing the edge (`dir` as seen from the ENI): the
   * rules and connection table the switch uses. An ICMP error passes when the flow it quotes is
   * tracked (the way EC2 admits related errors), else by the rules for its type and code.
   */
  private admit(port: Port, dir: 'ingress' | 'egress', frame: Buffer, ip: Ipv4Header, l4: number, end: number): boolean {
    const f = this.flow;
    const pc = port.counters;
    if (!readFlow(frame, ip.protocol, ip.laterFragment, l4, end, f)) {
      pc.droppedMalformed++;
      return false;
    }
    const now = this.host.now();
    const remote = dir === 'ingress' ? ip.src : ip.dst;
    if (ip.protocol === IPPROTO_ICMP && !ip.fragment && isIcmpError(f.rulePort) && this.relatedTracked(port, dir, frame, l4 + 8, end, now)) return true;
    const ok = dir === 'ingress'
      ? port.ct.check(port.policy, 'ingress', ip.protocol, remote, ingressLocal(ip.protocol, f), ingressRemote(ip.protocol, f), f.rulePort, f.code, now)
      : port.ct.check(port.policy, 'egress', ip.protocol, remote, f.sport, f.dport, f.rulePort, f.code, now);
    if (!ok) {
      if (dir === 'ingress') pc.droppedSecurityGroupIngress++;
      else pc.droppedSecurityGroupEgress++;
    }
    return ok;
  }

  /** Whether the datagram an ICMP error quotes (at q) belongs to a flow the ENI's table tracks. */
  private relatedTracked(port: Port, dir: 'ingress' | 'egress', frame: Buffer, q: number, end: number, now: number): boolean {
    if (end - q < 20 || (frame[q] as number) >> 4 !== 4) return false;
    const qihl = ((frame[q] as number) & 15) * 4;
    const qproto = frame[q + 9] as number;
    if (qproto !== IPPROTO_TCP && qproto !== IPPROTO_UDP && qproto !== IPPROTO_ICMP) return false;
    const qlater = (frame.readUInt16BE(q + 6) & 0x1fff) !== 0;
    const qf = this.qflow;
    if (qlater || !readFlow(frame, qproto, false, q + qihl, end, qf) || qf.sport < 0) return false;
    // Inbound: the quote is a datagram the ENI sent (src = its public IP, dst = the peer).
    // Outbound: one it received (src = the peer, dst = its private IP).
    const peer = frame.readUInt32BE(q + (dir === 'ingress' ? 16 : 12));
    const local = dir === 'ingress' ? qf.sport : ingressLocal(qproto, qf);
    const remote = dir === 'ingress' ? qf.dport : ingressRemote(qproto, qf);
    return port.ct.check(NO_RULES, dir, qproto, peer, local, remote, -1, 0, now);
  }

  private arp(body: Buffer): void {
    const s = this.side;
    if (!s) return;
    const a = parseArp(body);
    if (cidrContains(s.cidr, a.senderIp) && a.senderIp !== 0 && !this.byPublic.has(a.senderIp)) {
      this.neighbours.set(a.senderIp, { mac: Buffer.from(a.senderMac), expires: Date.now() + NEIGHBOUR_TTL_MS });
      this.flushPending(a.senderIp);
    }
    if (a.op !== ARP_REQUEST || !this.byPublic.has(a.targetIp)) return;
    this.counters.arpAnswered++;
    const reply = buildArp({ op: ARP_REPLY, senderMac: this.mac, senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp });
    this.send(buildEthernet(a.senderMac, this.mac, ETHERTYPE_ARP, reply));
  }

  // ---- guests → public side ----------------------------------------------------------

  /**
   * A datagram a guest sent to an address no ENI of its VPC has. Returns false when it is not
   * the edge's (not routed through the virtual router, or to an address inside the VPC or one
   * never routed): the switch then counts it as no route. Otherwise the edge has sent or
   * dropped (and counted) it.
   */
  outbound(port: Port, frame: Buffer, ip: Ipv4Header): boolean {
    if (!macEquals(frame, ROUTER_MAC_BYTES, 0) || !publicUnicast(ip.dst) || cidrContains(port.subnet, ip.dst)) return false;
    const vpc = vpcBlockOf(port);
    if (vpc !== null && cidrContains(vpc, ip.dst)) return false;
    const pc = port.counters;
    const pub = port.cfg.publicIp;
    if (pub === undefined) {
      pc.droppedNoRoute++;
      pc.edgeDroppedNoPublicIp++;
      return true;
    }
    if (ip.src !== port.ip) {
      // Only the ENI's own private address is translated (even with the source/destination check off).
      pc.droppedSpoofedIp++;
      return true;
    }
    if (port.cfg.internetRoute !== true) {
      pc.droppedNoRoute++;
      pc.edgeDroppedNoInternetRoute++;
      return true;
    }
    if (ip.ttl <= 1) {
      pc.droppedTtlExceeded++;
      return true;
    }
    const ip0 = ETH_HEADER_LEN;
    const l4 = ip0 + ip.headerLen;
    const end = ip0 + ip.totalLen;
    if (!this.admit(port, 'egress', frame, ip, l4, end)) return true;
    // Hairpin: another public IP of this card comes straight back in (as from outside).
    const target = this.byPublic.get(ip.dst);
    const s = this.side;
    if (!s && target === undefined) {
      pc.edgeDroppedNoPublicSide++;
      return true;
    }
    if (translate(frame, ip0, ip.totalLen, 'src', ipToInt(pub)) !== 'ok') {
      pc.droppedMalformed++;
      return true;
    }
    decrementTtl(frame, ip0);
    pc.edgeOutFrames++;
    pc.edgeOutBytes += frame.length;
    if (target !== undefined) {
      frame.set(this.mac, 0);
      this.inbound(target, frame, parseIpv4(frame, ETH_HEADER_LEN), undefined, 0);
      return true;
    }
    const hop = s && cidrContains(s.cidr, ip.dst) ? ip.dst : (s as { gateway: number }).gateway;
    this.toNextHop(port, hop, frame);
    return true;
  }

  private toNextHop(port: EdgePort | undefined, hop: number, frame: Buffer): void {
    const n = this.neighbours.get(hop);
    if (n !== undefined && n.expires > Date.now()) {
      frame.set(n.mac, 0);
      frame.set(this.mac, 6);
      this.send(frame);
      return;
    }
    let p = this.pending.get(hop);
    if (p === undefined) {
      p = { frames: [], tries: 0, timer: setTimeout(() => this.retryArp(hop), ARP_RETRY_MS) };
      p.timer.unref();
      this.pending.set(hop, p);
      this.requestArp(hop);
    }
    if (p.frames.length >= PENDING_PER_HOP) {
      this.counters.droppedNoNeighbour++;
      if (port) port.counters.edgeDroppedNoNeighbour++;
      return;
    }
    p.frames.push({ frame: Buffer.from(frame), port });
  }

  private retryArp(hop: number): void {
    const p = this.pending.get(hop);
    if (!p) return;
    if (++p.tries >= ARP_TRIES) {
      this.pending.delete(hop);
      this.counters.droppedNoNeighbour += p.frames.length;
      for (const f of p.frames) if (f.port) f.port.counters.edgeDroppedNoNeighbour++;
      return;
    }
    this.requestArp(hop);
    p.timer = setTimeout(() => this.retryArp(hop), ARP_RETRY_MS);
    p.timer.unref();
  }

  private flushPending(hop: number): void {
    const p = this.pending.get(hop);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(hop);
    for (const f of p.frames) this.toNextHop(f.port, hop, f.frame);
  }

  private requestArp(target: number): void {
    const s = this.side;
    if (!s) return;
    // The card has no address of its own on the public side: it asks from the first public IP
    // mapped here (any address it answers for), or from 0.0.0.0 (an ARP probe) when none is.
    const from = this.byPublic.keys().next().value ?? 0;
    this.counters.arpRequestsSent++;
    const req = buildArp({ op: ARP_REQUEST, senderMac: this.mac, senderIp: from, targetMac: Buffer.alloc(6), targetIp: target });
    this.send(buildEthernet(BROADCAST_MAC, this.mac, ETHERTYPE_ARP, req));
  }

  /** A gratuitous ARP for a public IP now answered here (neighbours update their caches). */
  private announce(ip: number): void {
    if (!this.side) return;
    this.counters.gratuitousArpSent++;
    const g = buildArp({ op: ARP_REQUEST, senderMac: this.mac, senderIp: ip, targetMac: Buffer.alloc(6), targetIp: ip });
    this.send(buildEthernet(BROADCAST_MAC, this.mac, ETHERTYPE_ARP, g));
  }

  private send(frame: Buffer): void {
    const w = this.write;
    if (!w) return;
    if (!w(frame, 0, frame.length)) {
      this.counters.droppedTxFull++;
      return;
    }
    this.counters.txFrames++;
    this.counters.txBytes += frame.length;
  }
}
