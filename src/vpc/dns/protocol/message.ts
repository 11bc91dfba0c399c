// DNS messages (RFC 1035 §4, EDNS0 OPT of RFC 6891 §6.1): the header, questions and
// resource records a stub resolver sends and a server answers. Pure: bytes in, typed
// messages out, and back. Names may be compressed (§4.1.4); a pointer must point strictly
// backwards, so no pointer chain can loop, and a name is at most 255 octets.
import { malformed } from '../../errors.js';

export const DNS_PORT = 53;
export const DNS_HEADER_LEN = 12;
/** What a UDP client takes without EDNS (RFC 1035 §4.2.1). */
export const DNS_UDP_MIN = 512;

export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;

export const OPCODE_QUERY = 0;
export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const MAX_NAME = 255;

export interface DnsHeader {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly rcode: number;
  readonly qdcount: number;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
}

export interface DnsQuestion {
  /** Lower case, without the trailing dot ('' is the root). */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  readonly data: Buffer;
}

export interface DnsMessage {
  readonly header: DnsHeader;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly authority: readonly DnsRecord[];
  readonly additional: readonly DnsRecord[];
  /** The EDNS UDP payload size the sender takes (its OPT record's class), if it sent one. */
  readonly ednsUdpSize: number | undefined;
  /** Bytes [12, questionEnd) hold the question section as sent. */
  readonly questionEnd: number;
}

export function parseHeader(b: Buffer): DnsHeader {
  if (b.length < DNS_HEADER_LEN) throw malformed('DNS header', { length: b.length });
  const f = b.readUInt16BE(2);
  return {
    id: b.readUInt16BE(0),
    qr: (f & FLAG_QR) !== 0,
    opcode: (f >>> 11) & 0xf,
    aa: (f & FLAG_AA) !== 0,
    tc: (f & FLAG_TC) !== 0,
    rd: (f & FLAG_RD) !== 0,
    ra: (f & FLAG_RA) !== 0,
    rcode: f & 0xf,
    qdcount: b.readUInt16BE(4),
    ancount: b.readUInt16BE(6),
    nscount: b.readUInt16BE(8),
    arcount: b.readUInt16BE(10),
  };
}

/** Reads the name at `off`; returns it (lower case, no trailing dot) and where the bytes after it start. */
export function readName(b: Buffer, off: number): { name: string; next: number } {
  const labels: string[] = [];
  let at = off;
  let next = -1;
  let octets = 1;
  for (;;) {
    if (at >= b.length) throw malformed('DNS name', { offset: at });
    const len = b[at] as number;
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= b.length) throw malformed('DNS name', { offset: at });
      const ptr = ((len & 0x3f) << 8) | (b[at + 1] as number);
      // Strictly backwards, and before the start of the current name: no loop is possible.
      if (ptr >= at || ptr >= off) throw malformed('DNS name', { reason: 'pointer', offset: at, pointer: ptr });
      if (next < 0) next = at + 2;
      off = ptr;
      at = ptr;
      continue;
    }
    if ((len & 0xc0) !== 0) throw malformed('DNS name', { reason: 'label type', offset: at });
    if (len === 0) {
      if (next < 0) next = at + 1;
      return { name: labels.join('.'), next };
    }
    octets += len + 1;
    if (octets > MAX_NAME || at + 1 + len > b.length) throw malformed('DNS name', { offset: at, octets });
    labels.push(b.toString('latin1', at + 1, at + 1 + len).toLowerCase());
    at += 1 + len;
  }
}

function readRecord(b: Buffer, off: number): { rr: DnsRecord; next: number } {
  const { name, next } = readName(b, off);
  if (next + 10 > b.length) throw malformed('DNS record', { offset: next });
  const len = b.readUInt16BE(next + 8);
  const end = next + 10 + len;
  if (end > b.length) throw malformed('DNS record', { offset: next, length: len });
  return { rr: { name, type: b.readUInt16BE(next), class: b.readUInt16BE(next + 2), ttl: b.readUInt32BE(next + 4), data: b.subarray(next + 10, end) }, next: end };
}

/** Where the question section ends (the header and questions alone are read). */
export function questionSectionEnd(b: Buffer): number {
  const h = parseHeader(b);
  let at = DNS_HEADER_LEN;
  for (let i = 0; i < h.qdcount; i++) {
    at = readName(b, at).next + 4;
    if (at > b.length) throw malformed('DNS question', { offset: at });
  }
  return at;
}

/** Parses a whole message. Each count is bounded by the bytes present (no allocation from a count alone). */
export function parseDnsMessage(b: Buffer): DnsMessage {
  const header = parseHeader(b);
  let at = DNS_HEADER_LEN;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < header.qdcount; i++) {
    const { name, next } = readName(b, at);
    if (next + 4 > b.length) throw malformed('DNS question', { offset: next });
    questions.push({ name, type: b.readUInt16BE(next), class: b.readUInt16BE(next + 2) });
    at = next + 4;
  }
  const questionEnd = at;
  const sections: DnsRecord[][] = [[], [], []];
  const counts = [header.ancount, header.nscount, header.arcount];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < (counts[s] as number); i++) {
      const { rr, next } = readRecord(b, at);
      (sections[s] as DnsRecord[]).push(rr);
      at = next;
    }
  }
  const [answers, authority, additional] = sections as [DnsRecord[], DnsRecord[], DnsRecord[]];
  const opt = additional.find((r) => r.type === TYPE_OPT);
  return { header, questions, answers, authority, additional, ednsUdpSize: opt ? Math.max(DNS_UDP_MIN, opt.class) : undefined, questionEnd };
}

/** The wire form of a name (no compression). Throws on a label over 63 octets or a name over 255. */
export function encodeName(name: string): Buffer {
  const labels = name === '' ? [] : name.split('.');
  const parts: Buffer[] = [];
  for (const l of labels) {
    const bytes = Buffer.from(l, 'latin1');
    if (bytes.length === 0 || bytes.length > 63) throw malformed('DNS name', { name });
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > MAX_NAME) throw malformed('DNS name', { name });
  return out;
}

export interface AnswerRecord {
  readonly type: number;
  readonly ttl: number;
  readonly data: Buffer;
}

export interface ResponseFields {
  readonly id: number;
  readonly opcode: number;
  readonly rd: boolean;
  readonly aa: boolean;
  readonly ra: boolean;
  readonly rcode: number;
  /** The question section exactly as the query had it (empty when it could not be read). */
  readonly question: Buffer;
  /** Records owned by the (first) question's name: written with a pointer to it. */
  readonly answers?: readonly AnswerRecord[];
}

/** A response: header, the question echoed, then answers named by a pointer to the question. */
export function buildResponse(f: ResponseFields): Buffer {
  const answers = f.answers ?? [];
  const qd = f.question.length > 0 ? 1 : 0;
  const h = Buffer.alloc(DNS_HEADER_LEN);
  h.writeUInt16BE(f.id, 0);
  h.writeUInt16BE(FLAG_QR | ((f.opcode & 0xf) << 11) | (f.aa ? FLAG_AA : 0) | (f.rd ? FLAG_RD : 0) | (f.ra ? FLAG_RA : 0) | (f.rcode & 0xf), 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(qd ? answers.length : 0, 6);
  const parts = [h, f.question];
  if (qd) {
    for (const a of answers) {
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc000 | DNS_HEADER_LEN, 0);
      rr.writeUInt16BE(a.type, 2);
      rr.writeUInt16BE(CLASS_IN, 4);
      rr.writeUInt32BE(a.ttl >>> 0, 6);
      rr.writeUInt16BE(a.data.length, 10);
      parts.push(rr, a.data);
    }
  }
  return Buffer.concat(parts);
}

/** A query (tests, the guest side): one question, RD set. */
export function buildQuery(id: number, name: string, type: number, opts: { rd?: boolean; ednsUdpSize?: number } = {}): Buffer {
  const h = Buffer.alloc(DNS_HEADER_LEN);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(opts.rd === false ? 0 : FLAG_RD, 2);
  h.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(CLASS_IN, 2);
  const parts = [h, encodeName(name), q];
  if (opts.ednsUdpSize !== undefined) {
    h.writeUInt16BE(1, 10);
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(TYPE_OPT, 1);
    opt.writeUInt16BE(opts.ednsUdpSize, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

/**
 * The message cut to `limit` bytes for a UDP client: unchanged when it fits, else its header
 * and question section alone with TC set (RFC 1035 §4.2.1, RFC 2181 §9), so the client asks
 * again over TCP.
 */
export function truncateForUdp(msg: Buffer, questionEnd: number, limit: number): Buffer {
  if (msg.length <= limit) return msg;
  const end = questionEnd <= limit ? questionEnd : DNS_HEADER_LEN;
  const out = Buffer.from(msg.subarray(0, end));
  out.writeUInt16BE(out.readUInt16BE(2) | FLAG_TC, 2);
  out.writeUInt16BE(end === DNS_HEADER_LEN ? 0 : out.readUInt16BE(4), 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  return out;
}

export const rdataA = (ip: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ip >>> 0, 0);
  return b;
};
