// The Amazon-provided DNS inside the card: UDP port 53 at each VPC's base + 2 and at
// 169.254.169.253. Per VPC it keeps the region's settings (enableDnsSupport,
// enableDnsHostnames, records) and a zone table built from them and the VPC's ENIs; a query
// is answered from that table (zone.ts), forwarded to the operator's upstream, or REFUSED.
// As on EC2, each ENI may send at most 1024 packets a second to the resolver (the rest are
// dropped and counted), and security groups do not apply to this traffic. No sockets here:
// the card hands in the upstream (forwarder.ts) and the switch the way out to the guest.
import { VpcError } from '../errors.js';
import { isIp, parseCidr, type Cidr } from '../protocol/addr.js';
import type { EniConfig } from '../protocol/config.js';
import { buildResponse, parseHeader, DNS_HEADER_LEN, RCODE_SERVFAIL } from './protocol/message.js';
import { answerForClient, buildZoneTable, decide, DEFAULT_DNS_SETTINGS, type VpcDnsSettings, type ZoneTable } from './zone.js';

/** Packets per second per ENI the resolver takes (EC2's limit). */
export const DNS_PACKETS_PER_SECOND = 1024;
/** Queries of one ENI waiting on the upstream at once; more get SERVFAIL at once (the table is shared). */
export const DNS_PENDING_PER_ENI = 128;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const MAX_RECORDS = 65_536;

export interface DnsUpstream {
  forward(query: Buffer, questionEnd: number, reply: (answer: Buffer | undefined) => void): boolean;
}

export interface ResolverPort {
  readonly eniId: string;
  readonly cfg: EniConfig;
  readonly counters: { dnsQueries: number; droppedDns: number; droppedMalformed: number };
}

export interface ResolverHooks<P extends ResolverPort> {
  /** The ENIs the card has in the VPC (local and remote). */
  enisOf(vpcId: string): Iterable<EniConfig>;
  /** A UDP payload from `from`:53 to the guest behind `port`. */
  send(port: P, from: number, to: number, toPort: number, payload: Buffer): void;
  /** Whether `port` is still attached (an upstream answer may come after it left). */
  attached(port: P): boolean;
}

export function validateDnsSettings(s: VpcDnsSettings): void {
  const bad = (message: string): VpcError => new VpcError('InvalidParameterValue', 'invalid', message);
  if (typeof s.enableDnsSupport !== 'boolean' || typeof s.enableDnsHostnames !== 'boolean') throw bad('enableDnsSupport and enableDnsHostnames must be booleans.');
  if (!Array.isArray(s.records) || s.records.length > MAX_RECORDS) throw bad(`records must be a list of at most ${MAX_RECORDS}.`);
  for (const r of s.records) {
    if (typeof r.name !== 'string' || !HOST_RE.test(r.name) || r.name.split('.').some((l: string) => l.length === 0 || l.length > 63)) throw bad('each record needs a host name.');
    if (typeof r.ip !== 'string' || !isIp(r.ip)) throw bad('each record needs an IPv4 address.');
    if (r.kind !== 'private' && r.kind !== 'public') throw bad('each record is private or public.');
  }
}

export class VpcResolver<P extends ResolverPort> {
  private readonly settings = new Map<string, VpcDnsSettings>();
  private readonly tables = new Map<string, ZoneTable>();
  private readonly buckets = new WeakMap<P, { tokens: number; at: number }>();
  private readonly pending = new WeakMap<P, number>();
  /** Where questions outside the VPC's zones go; undefined: they get REFUSED. */
  upstream: DnsUpstream | undefined;

  constructor(private readonly hooks: ResolverHooks<P>) {}

  /** The region's settings and records for a VPC (replacing what it said before). */
  setVpc(vpcId: string, s: VpcDnsSettings): void {
    validateDnsSettings(s);
    this.settings.set(vpcId, { enableDnsSupport: s.enableDnsSupport, enableDnsHostnames: s.enableDnsHostnames, records: s.records.map((r) => ({ name: r.name, ip: r.ip, kind: r.kind })) });
    this.tables.delete(vpcId);
  }

  settingsOf(vpcId: string): VpcDnsSettings {
    return this.settings.get(vpcId) ?? DEFAULT_DNS_SETTINGS;
  }

  /** Every VPC the region configured (a live update carries them to the next card). */
  exportVpcs(): { vpcId: string; settings: VpcDnsSettings }[] {
    return [...this.settings].map(([vpcId, settings]) => ({ vpcId, settings }));
  }

  /** The VPC's ENIs changed: its table is built again on the next query. */
  changed(vpcId: string): void {
    this.tables.delete(vpcId);
  }

  tableOf(vpcId: string): ZoneTable {
    let t = this.tables.get(vpcId);
    if (!t) {
      const enis = [...this.hooks.enisOf(vpcId)];
      const reverse = new Map<string, Cidr>();
      for (const e of enis) {
        const c = parseCidr(e.vpcCidr ?? e.subnetCidr);
        reverse.set(`${c.base}/${c.prefix}`, c);
      }
      t = buildZoneTable(enis, this.settingsOf(vpcId), [...reverse.values()]);
      this.tables.set(vpcId, t);
    }
    return t;
  }

  private admit(port: P, now: number): boolean {
    const b = this.buckets.get(port) ?? { tokens: DNS_PACKETS_PER_SECOND, at: now };
    b.tokens = Math.min(DNS_PACKETS_PER_SECOND, b.tokens + ((now - b.at) * DNS_PACKETS_PER_SECOND) / 1000);
    b.at = now;
    this.buckets.set(port, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Whether the VPC's resolver answers at all (enableDnsSupport). */
  enabled(vpcId: string): boolean {
    return this.settingsOf(vpcId).enableDnsSupport;
  }

  /** One UDP datagram from the guest behind `port` (src:srcPort) to the resolver at `dst`:53. */
  query(port: P, dst: number, src: number, srcPort: number, payload: Buffer): void {
    this.answer(port, payload, false, (msg) => this.hooks.send(port, dst, src, srcPort, msg));
  }

  /**
   * One message from the guest behind `port`, over UDP or (stream) TCP; `reply` gets the
   * answer, at once or when the upstream answers. false: the message was dropped (counted),
   * and `reply` is never called.
   */
  answer(port: P, payload: Buffer, stream: boolean, reply: (msg: Buffer) => void): boolean {
    const c = port.counters;
    if (!this.enabled(port.cfg.vpcId) || !this.admit(port, Date.now())) {
      c.droppedDns++;
      return false;
    }
    const up = this.upstream;
    const d = decide(payload, this.tableOf(port.cfg.vpcId), { upstream: up !== undefined, pathLimit: port.cfg.mtu - 28, stream });
    if (d.kind === 'drop') {
      c.droppedMalformed++;
      return false;
    }
    c.dnsQueries++;
    if (d.kind === 'reply') {
      reply(d.msg);
      return true;
    }
    const h = parseHeader(payload);
    const servfail = (): Buffer => buildResponse({ id: h.id, opcode: h.opcode, rd: h.rd, ra: true, aa: false, rcode: RCODE_SERVFAIL, question: payload.subarray(DNS_HEADER_LEN, d.questionEnd) });
    const waiting = this.pending.get(port) ?? 0;
    const sent = waiting < DNS_PENDING_PER_ENI && up?.forward(payload, d.questionEnd, (answer) => {
      this.pending.set(port, (this.pending.get(port) ?? 1) - 1);
      if (!this.hooks.attached(port)) return;
      let out: Buffer;
      try {
        out = answer ? answerForClient(answer, h.id, d.udpLimit) : servfail();
      } catch {
        out = servfail();
      }
      reply(out);
    });
    if (sent) this.pending.set(port, waiting + 1);
    else reply(servfail());
    return true;
  }
}
