// The card's switch: takes every frame a guest sends, decides, and hands frames to the
// ports they are for. It answers ARP from its table (never floods), leases addresses by
// DHCP, serves the metadata endpoint, answers ping to the subnet gateway, routes between
// subnets of one VPC through a virtual router (MAC rewrite, TTL decrement), enforces
// security groups with connection tracking and drops spoofed frames. Nothing crosses from
// one VPC to another: lookups are always inside the sender's VPC. No sockets here: frames
// come in through input() and leave through the `deliver` callback.
import { randomInt } from 'node:crypto';
import { answerDhcp } from './dhcp-server.js';
import { DNS_PORT } from './dns/protocol/message.js';
import { DNS_LINK_LOCAL_IP, resolverIpOf } from './dns/names.js';
import { VpcResolver } from './dns/resolver.js';
import { dnsStreamSession } from './dns/stream.js';
import { VpcError } from './errors.js';
import { parseHttpRequest, serializeResponse } from './imds/http.js';
import { ImdsService } from './imds/service.js';
import { TcpEndpoint, type ConnHandler, type TcpConnection } from './imds/tcp.js';
import { validateEni, validateMutable, validateRules, type EniConfig, type EniUpdate, type GroupRules } from './model.js';
import { buildArp, parseArp, ARP_REPLY, ARP_REQUEST } from './protocol/arp.js';
import { cidrContains, intToIp, ipToInt, macToBytes, parseCidr, type Cidr } from './protocol/addr.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, parseDhcp } from './protocol/dhcp.js';
import { buildEthernet, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN, macEquals } from './protocol/ethernet.js';
import { buildIcmp, parseIcmp, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST } from './protocol/icmp.js';
import { buildIpv4, decrementTtl, parseIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, type Ipv4Header } from './protocol/ipv4.js';
import { parseTcp } from './protocol/tcp.js';
import { buildUdp, parseUdp } from './protocol/udp.js';
import { ConnTrack, SecurityGroupTable, type Policy } from './security-groups.js';
import { VpcEdge } from './edge/edge.js';
import { ingressLocal, ingressRemote, newFlow, readFlow } from './edge/nat.js';
import { loadNativeGcm } from './underlay/native.js';

export const IMDS_IP = ipToInt('169.254.169.254');
export const IMDS_PORT = 80;
/** The virtual router's MAC: what every gateway (.1) address resolves to. Locally administered. */
export const ROUTER_MAC = '02:4e:52:00:00:01';
const ROUTER_MAC_BYTES = macToBytes(ROUTER_MAC);
const BROADCAST_IP = 0xffffffff;
/** Entries in each port's flow cache: 2^FLOW_CACHE_BITS, indexed by a multiplicative hash. */
const FLOW_CACHE_BITS = 10;
const FLOW_CACHE_SIZE = 1 << FLOW_CACHE_BITS;
const MUTABLE = new Set(['securityGroups', 'sourceDestCheck', 'hostname', 'mtu', 'dns', 'domainName', 'imds', 'publicIp', 'internetRoute']);

export interface EniCounters {
  rxFrames: number; // from the guest
  rxBytes: number;
  txFrames: number; // to the guest
  txBytes: number;
  droppedSpoofedMac: number;
  droppedSpoofedIp: number;
  droppedSecurityGroupIngress: number;
  droppedSecurityGroupEgress: number;
  droppedMalformed: number;
  droppedNoRoute: number;
  droppedTtlExceeded: number;
  droppedUnsupported: number;
  droppedTxQueueFull: number;
  droppedNotConnected: number;
  // The VPC edge (src/vpc/edge/): datagrams between the ENI's public IP and the public side.
  edgeInFrames: number;
  edgeInBytes: number;
  edgeOutFrames: number;
  edgeOutBytes: number;
  edgeDroppedNoPublicIp: number; // out to the internet without a public IP: no path out
  edgeDroppedNoInternetRoute: number; // either way, without a route to an internet gateway
  edgeDroppedNoPublicSide: number; // out, with no public side attached to the card
  edgeDroppedNoNeighbour: number; // out, the next hop did not answer ARP in time
  /** Queries the VPC resolver answered, forwarded or refused. */
  dnsQueries: number;
  /** Datagrams to the resolver dropped: DNS support off in the VPC, or over 1024 a second. */
  droppedDns: number;
}

export function zeroCounters(): EniCounters {
  return {
    rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0,
    droppedSpoofedMac: 0, droppedSpoofedIp: 0, droppedSecurityGroupIngress: 0, droppedSecurityGroupEgress: 0,
    droppedMalformed: 0, droppedNoRoute: 0, droppedTtlExceeded: 0, droppedUnsupported: 0, droppedTxQueueFull: 0, droppedNotConnected: 0,
    edgeInFrames: 0, edgeInBytes: 0, edgeOutFrames: 0, edgeOutBytes: 0, edgeDroppedNoPublicIp: 0, edgeDroppedNoInternetRoute: 0, edgeDroppedNoPublicSide: 0, edgeDroppedNoNeighbour: 0, dnsQueries: 0, droppedDns: 0,
  };
}

export class Port {
  cfg: EniConfig;
  readonly eniId: string;
  readonly mac: Buffer;
  readonly ip: number;
  readonly subnet: Cidr;
  readonly gateway: number;
  /** The VPC resolver's address: the VPC's base + 2 (the subnet's when the VPC's CIDR is not given). */
  readonly dnsIp: number;
  policy: Policy = { ingress: [], egress: [] };
  readonly ct = new ConnTrack();
  readonly counters = zeroCounters();
  imds: ImdsService;
  tcp: TcpEndpoint | undefined;
  /** DNS over TCP, per resolver address (the VPC's .2, 169.254.169.253), made on first use. */
  readonly dnsTcp = new Map<number, TcpEndpoint>();
  /** The card's socket state for this port (opaque to the switch). */
  link: unknown;
  /** The address table of this port's VPC (shared by every port of the VPC). */
  vpc: Map<number, Port> = new Map();
  /**
   * The TCP/UDP flows this port forwarded on the fast path, decided in full (route, both
   * security groups, both connection records refreshed), in a small direct-mapped cache:
   * later frames of a flow skip the lookup and the rules while the switch's generation is
   * unchanged and for at most a second (so the records are still refreshed once a second).
   */
  readonly fcGen = new Int32Array(FLOW_CACHE_SIZE).fill(-1);
  readonly fcDst = new Uint32Array(FLOW_CACHE_SIZE);
  readonly fcPorts = new Uint32Array(FLOW_CACHE_SIZE);
  readonly fcProto = new Uint8Array(FLOW_CACHE_SIZE);
  readonly fcUntil = new Float64Array(FLOW_CACHE_SIZE);
  readonly fcDest: (Port | undefined)[] = new Array<Port | undefined>(FLOW_CACHE_SIZE).fill(undefined);
  /** The destination's MAC (6 bytes per slot) and flags (bit 0: same subnet), for the native fast path. */
  readonly fcMac = new Uint8Array(6 * FLOW_CACHE_SIZE);
  readonly fcFlags = new Uint8Array(FLOW_CACHE_SIZE);

  constructor(cfg: EniConfig) {
    this.cfg = cfg;
    this.eniId = cfg.eniId;
    this.mac = macToBytes(cfg.mac);
    this.ip = ipToInt(cfg.ip);
    this.subnet = parseCidr(cfg.subnetCidr);
    this.gateway = (this.subnet.base + 1) >>> 0;
    this.dnsIp = resolverIpOf(cfg.vpcCidr !== undefined ? parseCidr(cfg.vpcCidr) : this.subnet);
    this.imds = new ImdsService(cfg);
  }
}

/**
 * Hands a frame to a port. `forwarded` frames came from another guest through input() and
 * are still preceded by their 4-byte length in the buffer they arrived in (the card uses
 * that to send them without copying); frames the card makes itself are not.
 */
export type Deliver = (port: Port, buf: Buffer, off: number, len: number, forwarded: boolean) => void;

export class VpcSwitch {
  readonly ports = new Map<string, Port>();
  private readonly byVpc = new Map<string, Map<number, Port>>();
  private readonly byMac = new Map<string, Port>();
  readonly groups = new SecurityGroupTable();
  /** The Amazon-provided DNS of every VPC on the card (the card sets its upstream). */
  readonly dns: VpcResolver<Port>;
  private readonly sweeper: NodeJS.Timeout;
  private ipId = randomInt(0, 65535);
  /** A coarse clock for connection tracking (timeouts are seconds to minutes). */
  private now = Date.now();
  private readonly clock: NodeJS.Timeout;
  /**
   * Bumped by everything that could change a forwarding decision (ENIs, rules, members,
   * settings, swept connection records): it invalidates every port's flow cache at once.
   */
  private gen = 0; // an int32: one bump per change, never near 2^31
  /** The native fast path over a chunk, when the addon has it (and NITRIDE_NATIVE is not off). */
  private readonly nativeChunk = loadNativeGcm()?.switchChunk;
  private slotOut = new Int32Array(1024);
  /** Frames decided by the native fast path (the tests check it is used). */
  nativeHits = 0;
  private readonly flow = newFlow();
  /** The internet gateway's NAT and the card's public side (src/vpc/edge/). */
  readonly edge: VpcEdge<Port> = new VpcEdge<Port>({ now: () => this.now, toGuest: (port, buf, off, len, fwd) => this.deliver(port, buf, off, len, fwd) });

  constructor(private readonly deliver: Deliver) {
    this.dns = new VpcResolver<Port>({
      enisOf: (vpcId) => [...(this.byVpc.get(vpcId)?.values() ?? [])].map((p) => p.cfg),
      send: (port, from, to, toPort, payload) => this.sendIp(port, from, to, IPPROTO_UDP, buildUdp(from, to, DNS_PORT, toPort, payload)),
      attached: (port) => this.ports.get(port.eniId) === port,
    });
    this.sweeper = setInterval(() => {
      this.gen++;
      for (const p of this.ports.values()) p.ct.sweep(this.now);
    }, 10_000);
    this.sweeper.unref();
    this.clock = setInterval(() => {
      this.now = Date.now();
    }, 200);
    this.clock.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
    clearInterval(this.clock);
    this.edge.close();
    for (const p of this.ports.values()) this.closeTcp(p);
  }

  private closeTcp(p: Port): void {
    p.tcp?.close();
    p.tcp = undefined;
    for (const t of p.dnsTcp.values()) t.close();
    p.dnsTcp.clear();
  }

  // ---- control ------------------------------------------------------------------------

  addEni(cfg: EniConfig): Port {
    validateEni(cfg);
    if (this.ports.has(cfg.eniId)) throw new VpcError('DuplicateEni', 'conflict', 'An ENI with this id is already attached to the card.', { eniId: cfg.eniId });
    const mac = cfg.mac.toLowerCase();
    if (this.byMac.has(mac)) throw new VpcError('DuplicateMac', 'conflict', 'Another ENI on the card has this MAC address.', { mac });
    const ip = ipToInt(cfg.ip);
    const vpc = this.byVpc.get(cfg.vpcId) ?? new Map<number, Port>();
    if (vpc.has(ip)) throw new VpcError('DuplicateIp', 'conflict', 'Another ENI in this VPC has this address.', { ip: cfg.ip, vpcId: cfg.vpcId });
    this.checkPublicIp(undefined, cfg.publicIp);
    const port = new Port({ ...cfg, mac });
    this.ports.set(cfg.eniId, port);
    this.byMac.set(mac, port);
    vpc.set(ip, port);
    this.byVpc.set(cfg.vpcId, vpc);
    port.vpc = vpc;
    this.edge.remap(port, undefined);
    this.syncImds(port);
    this.recompile();
    this.dns.changed(cfg.vpcId);
    return port;
  }

  updateEni(eniId: string, patch: EniUpdate): Port {
    const port = this.port(eniId);
    const unknown = Object.keys(patch).filter((k) => !MUTABLE.has(k));
    if (unknown.length > 0) {
      throw new VpcError('InvalidParameterValue', 'invalid', 'Only security groups, the source/destination check, host name, MTU, DNS, domain, metadata options, the public IP and the internet route can change on an attached ENI.', { fields: unknown });
    }
    validateMutable(patch);
    this.checkPublicIp(port, patch.publicIp ?? undefined);
    this.gen++;
    // publicIp: null removes the public address (the patch's only removal).
    const { publicIp, ...rest } = patch;
    const before = port.cfg.publicIp;
    const next: EniConfig = { ...port.cfg, ...rest };
    if (publicIp === null) delete (next as { publicIp?: string }).publicIp;
    else if (publicIp !== undefined) (next as { publicIp?: string }).publicIp = publicIp;
    port.cfg = next;
    this.edge.remap(port, before);
    port.imds.reconfigure(next);
    if (patch.mtu !== undefined) {
      // The metadata and DNS endpoints' MSS follows the MTU: new connections get the new one.
      this.closeTcp(port);
    }
    this.syncImds(port);
    this.dns.changed(next.vpcId);
    if (patch.securityGroups !== undefined) this.recompile();
    return port;
  }

  removeEni(eniId: string): Port {
    const port = this.port(eniId);
    this.closeTcp(port);
    this.edge.remap(port, port.cfg.publicIp, true);
    this.ports.delete(eniId);
    this.byMac.delete(port.cfg.mac);
    const vpc = this.byVpc.get(port.cfg.vpcId);
    vpc?.delete(port.ip);
    if (vpc && vpc.size === 0) this.byVpc.delete(port.cfg.vpcId);
    this.dns.changed(port.cfg.vpcId);
    this.recompile();
    return port;
  }

  setRules(groupId: string, rules: GroupRules): void {
    validateRules(rules);
    this.groups.setRules(groupId, rules);
    this.recompile();
  }

  deleteGroup(groupId: string): void {
    this.groups.deleteGroup(groupId);
    this.recompile();
  }

  setGroupMembers(groupId: string, ips: readonly string[]): void {
    this.groups.setRemoteMembers(groupId, ips.map(ipToInt));
    this.recompile();
  }

  /** A public IP maps onto one ENI of the card at most. */
  private checkPublicIp(self: Port | undefined, publicIp: string | undefined): void {
    if (publicIp === undefined) return;
    const holder = this.edge.portOf(ipToInt(publicIp));
    if (holder !== undefined && holder !== self) throw new VpcError('DuplicatePublicIp', 'conflict', 'Another ENI on the card has this public IP.', { publicIp, eniId: holder.eniId });
  }

  port(eniId: string): Port {
    const p = this.ports.get(eniId);
    if (!p) throw new VpcError('UnknownEni', 'not-found', 'No ENI with this id is attached to the card.', { eniId });
    return p;
  }

  private membersOf = (groupId: string): number[] => {
    const out = [...this.groups.remoteMembersOf(groupId)];
    for (const p of this.ports.values()) if (p.cfg.securityGroups.includes(groupId)) out.push(p.ip);
    return out;
  };

  private recompile(): void {
    this.gen++;
    for (const p of this.ports.values()) {
      p.policy = this.groups.compile(p.cfg.securityGroups, this.membersOf);
      p.ct.revalidate(p.policy);
    }
  }

  private syncImds(port: Port): void {
    const m = port.cfg.imds;
    const want = m !== undefined && m.endpoint === 'enabled';
    if (!want && port.tcp) {
      port.tcp.close();
      port.tcp = undefined;
    } else if (want && !port.tcp) {
      port.tcp = new TcpEndpoint({
        localIp: IMDS_IP,
        localPort: IMDS_PORT,
        mss: port.cfg.mtu - 40,
        send: (remoteIp, seg, ttl) => this.sendIp(port, IMDS_IP, remoteIp, IPPROTO_TCP, seg, ttl),
        accept: (conn) => this.httpSession(port, conn),
      });
    }
  }

  private dnsTcpOf(port: Port, local: number): TcpEndpoint {
    let t = port.dnsTcp.get(local);
    if (!t) {
      t = new TcpEndpoint({
        localIp: local,
        localPort: DNS_PORT,
        mss: port.cfg.mtu - 40,
        send: (remoteIp, seg, ttl) => this.sendIp(port, local, remoteIp, IPPROTO_TCP, seg, ttl),
        accept: (conn) => dnsStreamSession(conn, (q, reply) => this.dns.answer(port, q, true, reply)),
      });
      port.dnsTcp.set(local, t);
    }
    return t;
  }

  private httpSession(port: Port, conn: TcpConnection): ConnHandler {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    return {
      onData: (d) => {
        if (done) return;
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        for (;;) {
          const r = parseHttpRequest(buf);
          if (r.kind === 'incomplete') return;
          if (r.kind === 'error') {
            conn.write(serializeResponse({ status: r.status, body: '' }, false), 64);
            conn.end();
            done = true;
            return;
          }
          buf = buf.subarray(r.consumed);
          const ans = port.imds.handle(r.request);
          conn.write(serializeResponse(ans.response, r.request.keepAlive, r.request.method === 'HEAD'), ans.ttl ?? 64);
          if (!r.request.keepAlive) {
            conn.end();
            done = true;
            return;
          }
        }
      },
      onPeerClosed: () => {
        done = true;
        conn.end();
      },
    };
  }

  // ---- data path ----------------------------------------------------------------------

  private emit(port: Port, frame: Buffer, forwarded = false): void {
    port.counters.txFrames++;
    port.counters.txBytes += frame.length;
    this.deliver(port, frame, 0, frame.length, forwarded);
  }

  private sendIp(port: Port, src: number, dst: number, proto: number, payload: Buffer, ttl = 64, dstMac: Uint8Array = port.mac): void {
    this.ipId = (this.ipId + 1) & 0xffff;
    const ip = buildIpv4({ src, dst, protocol: proto, ttl, id: this.ipId }, payload);
    this.emit(port, buildEthernet(dstMac, ROUTER_MAC_BYTES, ETHERTYPE_IPV4, ip));
  }

  /** Whether chunks go through the native fast path (the addon has it and is not switched off). */
  get nativeFastPath(): boolean {
    return this.nativeChunk !== undefined;
  }

  /**
   * The frames of one chunk from the guest behind `port`: frame i at
   * buf[idx[2i], idx[2i] + idx[2i + 1]), each preceded by its 4-byte length. With the native
   * addon, frames of cached flows are decided in one native call over the chunk (the same
   * checks as forwardFast's cached case) and only the rest take the path below; without it,
   * or with NITRIDE_NATIVE=off, every frame does. Never throws.
   */
  inputChunk(port: Port, buf: Buffer, idx: Int32Array, count: number): void {
    const nat = this.nativeChunk;
    if (nat === undefined || count < 2) {
      for (let i = 0; i < count; i++) this.inputAt(port, buf, idx[2 * i] as number, idx[2 * i + 1] as number);
      return;
    }
    if (this.slotOut.length < count) this.slotOut = new Int32Array(Math.max(count, 2 * this.slotOut.length));
    const out = this.slotOut;
    this.nativeHits += nat(buf, idx, count, port.mac, port.ip, port.cfg.sourceDestCheck, this.gen, this.now, port.fcGen, port.fcDst, port.fcPorts, port.fcProto, port.fcUntil, port.fcMac, port.fcFlags, out);
    const c = port.counters;
    for (let i = 0; i < count; i++) {
      const off = idx[2 * i] as number;
      const len = idx[2 * i + 1] as number;
      const slot = out[i] as number;
      if (slot < 0) {
        this.inputAt(port, buf, off, len);
        continue;
      }
      c.rxFrames++;
      c.rxBytes += len;
      const dest = port.fcDest[slot] as Port;
      dest.counters.txFrames++;
      dest.counters.txBytes += len;
      this.deliver(dest, buf, off, len, true);
    }
  }

  /** One frame sent by the guest behind `port`. Never throws. */
  input(port: Port, frame: Buffer): void {
    this.inputAt(port, frame, 0, frame.length);
  }

  /**
   * The frame at buf[off, off + len), preceded in `buf` by its 4-byte length (QEMU's stream
   * framing). Never throws.
   */
  inputAt(port: Port, buf: Buffer, off: number, len: number): void {
    const c = port.counters;
    c.rxFrames++;
    c.rxBytes += len;
    if (len < ETH_HEADER_LEN) {
      c.droppedMalformed++;
      return;
    }
    if (port.cfg.sourceDestCheck && !macEquals(buf, port.mac, off + 6)) {
      c.droppedSpoofedMac++;
      return;
    }
    const ethertype = ((buf[off + 12] as number) << 8) | (buf[off + 13] as number);
    try {
      if (ethertype === ETHERTYPE_IPV4) {
        if (!this.forwardFast(port, buf, off, len)) this.ipv4(port, buf.subarray(off, off + len));
      } else if (ethertype === ETHERTYPE_ARP) this.arp(port, buf.subarray(off, off + len));
      else c.droppedUnsupported++;
    } catch (e) {
      c.droppedMalformed++;
      if (!(e instanceof VpcError && e.code === 'MalformedFrame')) {
        process.emitWarning(`vpc: unexpected error on a frame from ${port.eniId}: ${String(e)}`);
      }
    }
  }

  /**
   * The common case without allocating: a whole IPv4 datagram (no options, no fragment)
   * from the guest's own address to another guest of its VPC. Returns false, having done
   * nothing, for anything else; the general path then decides (and counts).
   */
  private forwardFast(port: Port, b: Buffer, off: number, len: number): boolean {
    const ip0 = off + ETH_HEADER_LEN;
    if (len < ETH_HEADER_LEN + 20 || b[ip0] !== 0x45) return false;
    const totalLen = ((b[ip0 + 2] as number) << 8) | (b[ip0 + 3] as number);
    if (totalLen < 28 || totalLen > len - ETH_HEADER_LEN) return false;
    if ((((b[ip0 + 6] as number) & 0x3f) | (b[ip0 + 7] as number)) !== 0) return false;
    const src = (((b[ip0 + 12] as number) << 24) | ((b[ip0 + 13] as number) << 16) | ((b[ip0 + 14] as number) << 8) | (b[ip0 + 15] as number)) >>> 0;
    const dst = (((b[ip0 + 16] as number) << 24) | ((b[ip0 + 17] as number) << 16) | ((b[ip0 + 18] as number) << 8) | (b[ip0 + 19] as number)) >>> 0;
    if (port.cfg.sourceDestCheck && src !== port.ip) return false;
    const proto = b[ip0 + 9] as number;
    const l4 = ip0 + 20;
    const ports = ((((b[l4] as number) << 24) | ((b[l4 + 1] as number) << 16) | ((b[l4 + 2] as number) << 8) | (b[l4 + 3] as number)) >>> 0);
    const slot = Math.imul(dst ^ Math.imul(ports ^ proto, 0x85ebca6b), 0x9e3779b1) >>> (32 - FLOW_CACHE_BITS);
    const cached = port.fcGen[slot] === this.gen && port.fcDst[slot] === dst && port.fcPorts[slot] === ports && port.fcProto[slot] === proto && this.now < (port.fcUntil[slot] as number);
    const dest = cached ? port.fcDest[slot] : port.vpc.get(dst);
    if (dest === undefined || dest === port) return false;
    // The header checksum is not verified here (as in most virtual switches): it protects
    // nothing a guest could not forge, and the receiving kernel drops a bad one. The fields
    // the decision uses are bounds-checked above.
    const routed = macEquals(b, ROUTER_MAC_BYTES, off);
    if (!routed && !(macEquals(b, dest.mac, off) && dest.subnet.base === port.subnet.base)) return false;
    if (routed && (b[ip0 + 8] as number) <= 1) return false;
    if (!cached) {
      if (!this.allowed(port, dest, b, proto, false, l4, ip0 + totalLen)) return true;
      if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
        port.fcGen[slot] = this.gen;
        port.fcDst[slot] = dst;
        port.fcProto[slot] = proto;
        port.fcPorts[slot] = ports;
        port.fcUntil[slot] = this.now + 1_000;
        port.fcDest[slot] = dest;
        port.fcMac.set(dest.mac, 6 * slot);
        port.fcFlags[slot] = dest.subnet.base === port.subnet.base ? 1 : 0;
      }
    }
    if (routed) {
      decrementTtl(b, ip0);
      b.set(dest.mac, off);
      b.set(ROUTER_MAC_BYTES, off + 6);
    }
    dest.counters.txFrames++;
    dest.counters.txBytes += len;
    this.deliver(dest, b, off, len, true);
    return true;
  }

  private arp(port: Port, frame: Buffer): void {
    const a = parseArp(frame.subarray(ETH_HEADER_LEN));
    const c = port.counters;
    if (port.cfg.sourceDestCheck && (!macEquals(a.senderMac, port.mac) || (a.senderIp !== port.ip && a.senderIp !== 0))) {
      c.droppedSpoofedIp++;
      return;
    }
    if (a.op !== ARP_REQUEST) return; // nobody here asked; the card never learns from replies
    let answer: Uint8Array | undefined;
    if (a.targetIp === port.gateway || (a.targetIp === port.dnsIp && cidrContains(port.subnet, a.targetIp))) answer = ROUTER_MAC_BYTES;
    else if (a.targetIp !== port.ip && cidrContains(port.subnet, a.targetIp)) {
      const peer = this.byVpc.get(port.cfg.vpcId)?.get(a.targetIp);
      if (peer && peer.subnet.base === port.subnet.base) answer = peer.mac;
    }
    if (!answer) return;
    const reply = buildArp({ op: ARP_REPLY, senderMac: Buffer.from(answer), senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp });
    this.emit(port, buildEthernet(a.senderMac, answer, ETHERTYPE_ARP, reply));
  }

  private ipv4(port: Port, frame: Buffer): void {
    const c = port.counters;
    const ip = parseIpv4(frame, ETH_HEADER_LEN);
    const l4 = ETH_HEADER_LEN + ip.headerLen;
    const end = ETH_HEADER_LEN + ip.totalLen;
    // DHCP comes from 0.0.0.0 before the guest has its address.
    if (ip.protocol === IPPROTO_UDP && !ip.fragment && end - l4 >= 8 && frame.readUInt16BE(l4 + 2) === DHCP_SERVER_PORT) {
      if (ip.dst === BROADCAST_IP || ip.dst === port.gateway) {
        this.dhcp(port, frame, ip, l4, end);
        return;
      }
    }
    if (port.cfg.sourceDestCheck && ip.src !== port.ip) {
      c.droppedSpoofedIp++;
      return;
    }
    if ((ip.dst === port.dnsIp || ip.dst === DNS_LINK_LOCAL_IP) && !ip.fragment) {
      // The VPC resolver (src/vpc/dns): outside the security groups, as on EC2.
      if (ip.protocol === IPPROTO_UDP) {
        const udp = parseUdp(frame, l4, end, ip.src, ip.dst);
        if (udp.dstPort === DNS_PORT) {
          this.dns.query(port, ip.dst, ip.src, udp.srcPort, frame.subarray(l4 + 8, l4 + udp.length));
          return;
        }
      } else if (ip.protocol === IPPROTO_TCP && this.dns.enabled(port.cfg.vpcId)) {
        const seg = parseTcp(frame, l4, end, ip.src, ip.dst);
        if (seg.dstPort === DNS_PORT) {
          this.dnsTcpOf(port, ip.dst).input(ip.src, seg);
          return;
        }
      }
    }
    if (ip.dst === IMDS_IP) {
      if (ip.protocol === IPPROTO_TCP && port.tcp && !ip.fragment) {
        const seg = parseTcp(frame, l4, end, ip.src, ip.dst);
        if (seg.dstPort === IMDS_PORT) {
          port.tcp.input(ip.src, seg);
          return;
        }
      }
      c.droppedNoRoute++;
      return;
    }
    if (ip.dst === port.gateway) {
      if (ip.protocol === IPPROTO_ICMP && !ip.fragment) {
        const m = parseIcmp(frame, l4, end);
        if (m.type === ICMP_ECHO_REQUEST) {
          const reply = buildIcmp(ICMP_ECHO_REPLY, 0, frame.subarray(l4 + 4, l4 + 8), frame.subarray(l4 + 8, end));
          this.sendIp(port, port.gateway, ip.src, IPPROTO_ICMP, reply);
          return;
        }
      }
      c.droppedNoRoute++;
      return;
    }
    const dest = this.byVpc.get(port.cfg.vpcId)?.get(ip.dst);
    if (!dest && this.edge.outbound(port, frame, ip)) return;
    if (!dest || dest === port) {
      c.droppedNoRoute++;
      return;
    }
    const routed = macEquals(frame, ROUTER_MAC_BYTES, 0);
    if (!routed && !(macEquals(frame, dest.mac, 0) && dest.subnet.base === port.subnet.base)) {
      c.droppedNoRoute++;
      return;
    }
    if (routed && ip.ttl <= 1) {
      c.droppedTtlExceeded++;
      return;
    }
    if (!this.allowed(port, dest, frame, ip.protocol, ip.laterFragment, l4, end)) return;
    if (routed) {
      decrementTtl(frame, ETH_HEADER_LEN);
      frame.set(dest.mac, 0);
      frame.set(ROUTER_MAC_BYTES, 6);
    }
    this.emit(dest, frame, true);
  }

  /** Security groups: the sender's egress, then the receiver's ingress. */
  private allowed(src: Port, dst: Port, frame: Buffer, proto: number, laterFragment: boolean, l4: number, end: number): boolean {
    const f = this.flow;
    if (!readFlow(frame, proto, laterFragment, l4, end, f)) {
      src.counters.droppedMalformed++;
      return false;
    }
    const now = this.now;
    if (!src.ct.check(src.policy, 'egress', proto, dst.ip, f.sport, f.dport, f.rulePort, f.code, now)) {
      src.counters.droppedSecurityGroupEgress++;
      return false;
    }
    if (!dst.ct.check(dst.policy, 'ingress', proto, src.ip, ingressLocal(proto, f), ingressRemote(proto, f), f.rulePort, f.code, now)) {
      dst.counters.droppedSecurityGroupIngress++;
      return false;
    }
    return true;
  }

  private dhcp(port: Port, frame: Buffer, ip: Ipv4Header, l4: number, end: number): void {
    const udp = parseUdp(frame, l4, end, ip.src, ip.dst);
    if (udp.srcPort !== DHCP_CLIENT_PORT) {
      port.counters.droppedUnsupported++;
      return;
    }
    const msg = parseDhcp(frame.subarray(l4 + 8, l4 + udp.length));
    if (port.cfg.sourceDestCheck && !macEquals(msg.chaddr, port.mac)) {
      port.counters.droppedSpoofedMac++;
      return;
    }
    const ans = answerDhcp(msg, {
      ip: port.ip,
      mask: port.subnet.mask,
      gateway: port.gateway,
      mtu: port.cfg.mtu,
      hostname: port.cfg.hostname,
      ...(port.cfg.dns ? { dns: port.cfg.dns } : {}),
      ...(port.cfg.domainName ? { domainName: port.cfg.domainName } : {}),
    });
    if (!ans) return;
    const dst = ans.broadcast ? BROADCAST_IP : msg.ciaddr !== 0 ? msg.ciaddr : port.ip;
    const udpOut = buildUdp(port.gateway, dst, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, ans.reply);
    this.sendIp(port, port.gateway, dst, IPPROTO_UDP, udpOut, 64, ans.broadcast ? BROADCAST_MAC : msg.chaddr);
  }

  describe(port: Port): { eniId: string; mac: string; ip: string; gateway: string; vpcId: string; conntrack: number; imdsConnections: number } {
    return {
      eniId: port.eniId,
      mac: port.cfg.mac,
      ip: intToIp(port.ip),
      gateway: intToIp(port.gateway),
      vpcId: port.cfg.vpcId,
      conntrack: port.ct.size,
      imdsConnections: port.tcp?.connectionCount ?? 0,
    };
  }
}
