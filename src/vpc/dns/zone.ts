// What the Amazon-provided DNS of one VPC knows, and how it answers one query. Pure.
// The names come from the ENIs the card has in the VPC (its own and those of other hosts
// the underlay brought) and from the records the region pushes (dns.records): private names
// (and their PTR) always, public names only with enableDnsHostnames. A name under one of the
// VPC's zones, or a PTR for an address of the VPC's CIDR, is answered here, authoritatively
// (NXDOMAIN when unknown); any other question goes upstream when the operator configured one,
// else gets REFUSED. Nothing of another VPC is ever in the table.
import { malformed } from '../errors.js';
import { cidrContains, ipToInt, type Cidr } from '../protocol/addr.js';
import type { EniConfig } from '../protocol/config.js';
import {
  buildResponse, encodeName, parseDnsMessage, parseHeader, questionSectionEnd, rdataA, truncateForUdp,
  CLASS_IN, DNS_HEADER_LEN, DNS_UDP_MIN, OPCODE_QUERY, RCODE_FORMERR, RCODE_NOERROR, RCODE_NOTIMP, RCODE_NXDOMAIN, RCODE_REFUSED,
  TYPE_A, TYPE_ANY, TYPE_PTR, type AnswerRecord,
} from './protocol/message.js';
import type { DnsRecordKind, VpcDnsSettings } from './protocol/records.js';
export type { DnsRecordKind, VpcDnsRecord, VpcDnsSettings } from './protocol/records.js';
import { privateNameOf, publicDomainFor, publicNameOf, reverseNameToIp } from './names.js';

/** The TTL of the answers the resolver makes itself (EC2's private names carry 60 s). */
export const DNS_TTL = 60;


export const DEFAULT_DNS_SETTINGS: VpcDnsSettings = { enableDnsSupport: true, enableDnsHostnames: true, records: [] };

export interface ZoneTable {
  /** Lower-case domains the resolver answers for, authoritatively. */
  readonly zones: readonly string[];
  readonly a: ReadonlyMap<string, number>;
  readonly ptr: ReadonlyMap<number, string>;
  /** PTR questions for addresses in these blocks are answered here. */
  readonly reverse: readonly Cidr[];
}

/** The table of one VPC from its ENIs (as the card has them) and the region's settings. */
export function buildZoneTable(enis: Iterable<Pick<EniConfig, 'ip' | 'domainName' | 'publicIp'>>, settings: VpcDnsSettings, reverse: readonly Cidr[]): ZoneTable {
  const zones = new Set<string>();
  const a = new Map<string, number>();
  const ptr = new Map<number, string>();
  const add = (name: string, ip: number, kind: DnsRecordKind): void => {
    const n = name.toLowerCase();
    a.set(n, ip);
    if (kind === 'private' && !ptr.has(ip)) ptr.set(ip, n);
  };
  for (const e of enis) {
    if (!e.domainName) continue;
    const domain = e.domainName.toLowerCase();
    zones.add(domain);
    const ip = ipToInt(e.ip);
    add(privateNameOf(e.ip, domain), ip, 'private');
    const pub = publicDomainFor(domain);
    if (pub && settings.enableDnsHostnames) {
      zones.add(pub);
      if (e.publicIp) add(publicNameOf(e.publicIp, pub), ip, 'public');
    }
  }
  for (const r of settings.records) {
    if (r.kind === 'public' && !settings.enableDnsHostnames) continue;
    const dot = r.name.indexOf('.');
    if (dot > 0) zones.add(r.name.slice(dot + 1).toLowerCase());
    add(r.name, ipToInt(r.ip), r.kind);
  }
  return { zones: [...zones], a, ptr, reverse };
}

const inZone = (name: string, zone: string): boolean => name === zone || name.endsWith(`.${zone}`);

/** What to do with one datagram sent to the resolver. */
export type DnsDecision =
  | { readonly kind: 'reply'; readonly msg: Buffer }
  | { readonly kind: 'forward'; readonly udpLimit: number; readonly questionEnd: number }
  | { readonly kind: 'drop' };

export interface DecideOptions {
  readonly upstream: boolean;
  /** The most a UDP answer may carry to this client (its MTU less the IP and UDP headers). */
  readonly pathLimit: number;
  /** The query came over TCP: answers are never cut. */
  readonly stream?: boolean;
}

/**
 * Answers one query against the table. A message that is not a query (QR set) or has no
 * header is dropped; one whose body cannot be read gets FORMERR. Throws nothing.
 */
export function decide(query: Buffer, t: ZoneTable, o: DecideOptions): DnsDecision {
  let h;
  try {
    h = parseHeader(query);
  } catch {
    return { kind: 'drop' };
  }
  if (h.qr) return { kind: 'drop' };
  const reply = (rcode: number, question: Buffer, aa = false, answers: AnswerRecord[] = []): DnsDecision => ({
    kind: 'reply',
    msg: buildResponse({ id: h.id, opcode: h.opcode, rd: h.rd, ra: o.upstream, aa, rcode, question, answers }),
  });
  if (h.opcode !== OPCODE_QUERY) return reply(RCODE_NOTIMP, Buffer.alloc(0));
  let m;
  try {
    m = parseDnsMessage(query);
  } catch {
    return reply(RCODE_FORMERR, Buffer.alloc(0));
  }
  const q = m.questions[0];
  if (m.questions.length !== 1 || q === undefined) return reply(RCODE_FORMERR, Buffer.alloc(0));
  const question = query.subarray(DNS_HEADER_LEN, m.questionEnd);
  const udpLimit = o.stream ? 0xffff : Math.max(DNS_UDP_MIN, Math.min(m.ednsUdpSize ?? DNS_UDP_MIN, o.pathLimit));
  const ours = q.class === CLASS_IN || q.class === TYPE_ANY;
  const rev = reverseNameToIp(q.name);
  if (ours && rev !== undefined && t.reverse.some((c) => cidrContains(c, rev))) {
    const target = t.ptr.get(rev);
    if (target === undefined) return reply(RCODE_NXDOMAIN, question, true);
    const answers = q.type === TYPE_PTR || q.type === TYPE_ANY ? [{ type: TYPE_PTR, ttl: DNS_TTL, data: encodeName(target) }] : [];
    return reply(RCODE_NOERROR, question, true, answers);
  }
  if (ours && t.zones.some((z) => inZone(q.name, z))) {
    const ip = t.a.get(q.name);
    if (ip !== undefined) {
      const answers = q.type === TYPE_A || q.type === TYPE_ANY ? [{ type: TYPE_A, ttl: DNS_TTL, data: rdataA(ip) }] : [];
      return reply(RCODE_NOERROR, question, true, answers);
    }
    // A zone's own name, or a name above a record, exists without records (NODATA).
    if (t.zones.includes(q.name) || [...t.a.keys()].some((n) => n.endsWith(`.${q.name}`))) return reply(RCODE_NOERROR, question, true);
    return reply(RCODE_NXDOMAIN, question, true);
  }
  if (o.upstream) return { kind: 'forward', udpLimit, questionEnd: m.questionEnd };
  return reply(RCODE_REFUSED, question);
}

/** An upstream answer for the client: the client's id back in place, cut to what its UDP path takes. */
export function answerForClient(answer: Buffer, clientId: number, udpLimit: number): Buffer {
  if (answer.length < DNS_HEADER_LEN) throw malformed('DNS answer', { length: answer.length });
  const out = Buffer.from(answer);
  out.writeUInt16BE(clientId, 0);
  let questionEnd = DNS_HEADER_LEN;
  try {
    questionEnd = questionSectionEnd(out);
  } catch {
    // An answer we cannot read is still the upstream's to give; only its size is ours to bound.
  }
  return truncateForUdp(out, questionEnd, udpLimit);
}
