// An append-only, hash-chained JSON-lines log. Each line is one record:
//   {"seq":N,"prev":"<hex hash of record N-1>","time":"…","event":{…},"hash":"<hex>"}
// where hash = sha256(prev || canonical JSON of {seq, prev, time, event}). The first
// record's prev is 64 zeros. Appends are fsynced before append() returns, so a caller
// that appends before acting has its record on disk before the effect ("audit before
// effect"). verify() replays the chain and names the first record that does not fit:
// an edited, removed, reordered or truncated record breaks the chain at that point.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { NitrideError } from '../lib/errors.js';

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

export function verifyChainText(text: string, opts: { expectedHead?: { seq: number; hash: string } } = {}): VerifyResult {
  const lines = text.split('\n');
  const last = lines.pop();
  let prev = GENESIS;
  let seq = 0;
  const fail = (i: number, s: number | undefined, reason: string): VerifyResult => ({ ok: false, records: seq, badLine: i + 1, badSeq: s, reason });
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    let r: ChainRecord;
    try {
      r = JSON.parse(line) as ChainRecord;
    } catch {
      return fail(i, undefined, 'the line is not valid JSON');
    }
    if (r.seq !== seq + 1) return fail(i, r.seq, `expected seq ${seq + 1}, found ${String(r.seq)} (a record was removed, inserted or reordered)`);
    if (r.prev !== prev) return fail(i, r.seq, 'prev does not match the hash of the record before it');
    if (recordHash(r.seq, r.prev, r.time, r.event) !== r.hash) return fail(i, r.seq, 'the record was edited: its hash does not match its content');
    prev = r.hash;
    seq = r.seq;
  }
  if (last !== undefined && last !== '') return fail(lines.length, undefined, 'the last line is incomplete (the log was truncated mid-record)');
  if (opts.expectedHead) {
    if (seq < opts.expectedHead.seq) return fail(lines.length, seq + 1, `the log ends at seq ${seq} but ${opts.expectedHead.seq} records were written (truncated)`);
  }
  return { ok: true, records: seq, head: prev };
}

/** An open chain file. One writer per file. */
export class AuditChain<E = Record<string, unknown>> {
  private fd: number;
  private seq: number;
  private head: string;

  constructor(readonly path: string) {
    if (existsSync(path)) {
      const res = verifyChainText(readFileSync(path, 'utf8'));
      if (!res.ok) {
        throw new NitrideError('AuditChainBroken', 'internal', `The audit log ${path} fails verification at line ${res.badLine}: ${res.reason}.`, { path, ...res });
      }
      this.seq = res.records;
      this.head = res.head;
    } else {
      this.seq = 0;
      this.head = GENESIS;
    }
    this.fd = openSync(path, 'a', 0o600);
  }

  /** Appends and fsyncs one record; returns it. */
  append(event: E, time: Date = new Date()): ChainRecord<E> {
    const seq = this.seq + 1;
    const t = time.toISOString();
    const hash = recordHash(seq, this.head, t, event);
    const rec: ChainRecord<E> = { seq, prev: this.head, time: t, event, hash };
    writeSync(this.fd, `${JSON.stringify(rec)}\n`);
    fsyncSync(this.fd);
    this.seq = seq;
    this.head = hash;
    return rec;
  }

  get length(): number {
    return this.seq;
  }

  get headHash(): string {
    return this.head;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export function readChain<E = Record<string, unknown>>(path: string): ChainRecord<E>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ChainRecord<E>);
}
