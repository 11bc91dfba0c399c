// The record format of Nitride's audit logs: append-only, hash-chained JSON lines. Each line is one record:
//   {"seq":N,"prev":"<hex hash of record N-1>","time":"…","event":{…},"hash":"<hex>"}
// where hash = sha256(prev || canonical JSON of {seq, prev, time, event}). The first
// record's prev is 64 zeros; a later segment's first record chains to the last record of
// the segment before. verifyChainText() replays the chain and names the first record that
// does not fit: an edited, removed, reordered or truncated record breaks it at that point.
// What the chain alone cannot show (records cut off the end, a whole log rewritten and
// re-chained) is for the head and the sealed checkpoints: ./head.ts, ./seal.ts, ./verify.ts.
import { createHash } from 'node:crypto';

export const GENESIS = '0'.repeat(64);

export interface ChainRecord<E = Record<string, unknown>> {
  readonly seq: number;
  readonly prev: string;
  readonly time: string;
  readonly event: E;
  readonly hash: string;
}

/** JSON with object keys sorted at every level, so the hash does not depend on key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

export function recordHash(seq: number, prev: string, time: string, event: unknown): string {
  return createHash('sha256').update(prev).update(canonicalJson({ seq, prev, time, event })).digest('hex');
}

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly head: string }
  | { readonly ok: false; readonly records: number; readonly badLine: number; readonly badSeq: number | undefined; readonly reason: string };

export interface ChainTextOptions {
  readonly expectedHead?: { seq: number; hash: string };
  /** Where the text continues a chain (a later segment): the seq and hash of the record before its first line. */
  readonly start?: { seq: number; hash: string };
  /** Called with each record that fits the chain, and its 1-based line. */
  readonly onRecord?: (r: ChainRecord, line: number) => void;
}

export function verifyChainText(text: string, opts: ChainTextOptions = {}): VerifyResult {
  const lines = text.split('\n');
  const last = lines.pop();
  let prev = opts.start?.hash ?? GENESIS;
  let seq = opts.start?.seq ?? 0;
  const fail = (i: number, s: number | undefined, reason: string): VerifyResult => ({ ok: false, records: seq, badLine: i + 1, badSeq: s, reason });
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    let r: ChainRecord;
    try {
      r = JSON.parse(line) as ChainRecord;
    } catch {
      return fail(i, undefined, 'the line is not valid JSON');
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return fail(i, undefined, 'the line is not a record');
    if (r.seq !== seq + 1) return fail(i, r.seq, `expected seq ${seq + 1}, found ${String(r.seq)} (a record was removed, inserted or reordered)`);
    if (r.prev !== prev) return fail(i, r.seq, 'prev does not match the hash of the record before it');
    if (recordHash(r.seq, r.prev, r.time, r.event) !== r.hash) return fail(i, r.seq, 'the record was edited: its hash does not match its content');
    prev = r.hash;
    seq = r.seq;
    opts.onRecord?.(r, i + 1);
  }
  if (last !== undefined && last !== '') return fail(lines.length, undefined, 'the last line is incomplete (the log was truncated mid-record)');
  if (opts.expectedHead) {
    if (seq < opts.expectedHead.seq) return fail(lines.length, seq + 1, `the log ends at seq ${seq} but ${opts.expectedHead.seq} records were written (truncated)`);
  }
  return { ok: true, records: seq, head: prev };
}

