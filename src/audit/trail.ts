// The region's audit trail: CloudTrail-like events appended to the hash-chained log of
// ./chain.ts ($NITRIDE_HOME/region/audit.log), same file format, same verifier.
//
// Audit before effect. A mutating call is recorded twice:
//   1. begin(event)  → a "request" record (who, what, from where, redacted parameters),
//                      fsynced before the promise resolves; only then does the server act;
//   2. handle.complete(outcome) → an "outcome" record with the same requestID that points
//                      at the request record's eventID (requestEventID) and carries
//                      errorCode/errorMessage, responseElements and resources.
// A call that has no effect — refused by authentication or authorization, rejected as
// malformed, or read-only — may be recorded once, with record(), as a "complete" record,
// still before the response is sent. A request record without an outcome means the region
// died while acting on it; the reconciler decides what happened.
//
// Group commit. record()/begin() assign the sequence number and hash synchronously (so the
// chain order is the call order) and queue the line; one write + one fsync then covers every
// line queued meanwhile, and each promise resolves only after the fsync that covers it. A
// busy server pays one fsync per batch instead of one per request, and the event loop never
// blocks on the disk. If a write or fsync fails the trail refuses every later record: the
// server must then refuse requests rather than act unaudited.
//
// The head file ($path.head) holds the last durable record's seq and hash, rewritten in place
// after each batch. The chain alone cannot show that whole trailing records were cut off;
// the head can: verify() fails when the log ends before the head's seq, or when the head's
// record has another hash.
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, fsync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, write, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NitrideError } from '../lib/errors.js';
import { GENESIS, recordHash, verifyChainText, type ChainRecord } from './chain.js';

export const REDACTED = 'HIDDEN_DUE_TO_SECURITY_REASONS';
export const AUDIT_EVENT_VERSION = '1.08';

export type AuditEventSource = 'ec2.amazonaws.com' | 'kms.amazonaws.com' | 'iam.amazonaws.com' | 'sts.amazonaws.com' | 'nitride.region';

export interface AuditUserIdentity {
  /** 'Root' (an account's root key), 'IAMUser', or 'Unknown' when authentication failed. */
  readonly type: 'Root' | 'IAMUser' | 'Unknown';
  readonly accountId?: string;
  readonly principalId?: string;
  readonly arn?: string;
  readonly userName?: string;
  readonly accessKeyId?: string;
}

export interface AuditResource {
  readonly ARN: string;
  /** CloudTrail's resource type, e.g. 'AWS::EC2::Instance'. */
  readonly type: string;
  readonly accountId?: string;
}

export type AuditPhase = 'request' | 'outcome' | 'complete';

/** What a caller passes: CloudTrail's fields; the trail fills eventVersion, eventTime, eventID, eventType. */
export interface AuditEvent {
  readonly eventSource: AuditEventSource | (string & {});
  readonly eventName: string;
  readonly awsRegion: string;
  readonly sourceIPAddress: string;
  readonly userAgent?: string;
  readonly userIdentity: AuditUserIdentity;
  /** Redacted by the trail (see redact()). */
  readonly requestParameters?: Record<string, unknown> | null;
  /** Redacted by the trail. */
  readonly responseElements?: Record<string, unknown> | null;
  readonly resources?: readonly AuditResource[];
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly requestID: string;
  readonly readOnly: boolean;
  readonly recipientAccountId?: string;
  readonly eventID?: string;
  readonly eventTime?: string;
}

/** What is stored in the chain record's `event`. */
export interface StoredAuditEvent {
  readonly eventVersion: string;
  readonly eventTime: string;
  readonly eventSource: string;
  readonly eventName: string;
  readonly awsRegion: string;
  readonly sourceIPAddress: string;
  readonly userAgent?: string;
  readonly userIdentity: AuditUserIdentity;
  readonly requestParameters: Record<string, unknown> | null;
  readonly responseElements: Record<string, unknown> | null;
  readonly resources?: readonly AuditResource[];
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly requestID: string;
  readonly eventID: string;
  readonly eventType: 'AwsApiCall' | 'NitrideAuditEvent';
  readonly readOnly: boolean;
  readonly recipientAccountId?: string;
  readonly phase: AuditPhase;
  /** On an outcome record: the eventID of its request record. */
  readonly requestEventID?: string;
}

export interface AuditOutcome {
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly responseElements?: Record<string, unknown> | null;
  readonly resources?: readonly AuditResource[];
}

export interface AuditHandle {
  readonly eventID: string;
  readonly seq: number;
  /** Writes the outcome record (durable when the promise resolves). */
  complete(outcome?: AuditOutcome): Promise<ChainRecord<StoredAuditEvent>>;
}

export class AuditError extends NitrideError {}

// Parameter names whose values never reach the log. Matched case-insensitively against the
// whole name and against each dotted segment of flat Query names (LaunchSpecification.UserData).
const SECRET_NAMES = new Set(
  [
    'userData',
    'secretAccessKey',
    'secretKey',
    'plaintext',
    'password',
    'newPassword',
    'oldPassword',
    'privateKey',
    'privateKeyMaterial',
    'keyMaterial',
    'sessionToken',
    'securityToken',
    'x-amz-security-token',
    'x-amz-signature',
    'signature',
    'authorization',
  ].map((s) => s.toLowerCase()),
);

function isSecretName(name: string): boolean {
  const lower = name.toLowerCase();
  if (SECRET_NAMES.has(lower)) return true;
  if (lower.includes('.')) return lower.split('.').some((seg) => SECRET_NAMES.has(seg));
  return false;
}

/** A deep copy of v with every secret-named member replaced by REDACTED (as CloudTrail does). */
export function redact<T>(v: T): T {
  return redactValue(v, 0) as T;
}

function redactValue(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth > 32) return '[too deep]';
  if (v instanceof Map) return redactValue(Object.fromEntries(v), depth);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x) => redactValue(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    out[k] = isSecretName(k) ? REDACTED : redactValue(x, depth + 1);
  }
  return out;
}

export interface TrailVerifyOk {
  readonly ok: true;
  readonly records: number;
  readonly head: string;
  /** Things that are not tampering but that a reader should know (e.g. no head file). */
  readonly warnings: readonly string[];
}
export interface TrailVerifyBad {
  readonly ok: false;
  readonly records: number;
  /** 1-based line of the first bad record (for a missing record: where it should be). */
  readonly badLine: number;
  readonly badSeq: number | undefined;
  readonly reason: string;
}
export type TrailVerifyResult = TrailVerifyOk | TrailVerifyBad;

export interface TrailHead {
  readonly seq: number;
  readonly hash: string;
}

const HEAD_BYTES = 128;

/** $NITRIDE_HOME/region/audit.log */
export function regionTrailPath(home: string): string {
  return join(home, 'region', 'audit.log');
}

/** $NITRIDE_HOME/host/audit.log (the host controller's AuditChain log). */
export function hostAuditPath(home: string): string {
  return join(home, 'host', 'audit.log');
}

export function headPathFor(path: string): string {
  return `${path}.head`;
}

/** Reads $path.head: undefined when absent; throws AuditError when unreadable. */
export function readHead(path: string): TrailHead | undefined {
  const hp = headPathFor(path);
  if (!existsSync(hp)) return undefined;
  const text = readFileSync(hp, 'utf8').trim();
  try {
    const h = JSON.parse(text) as { seq?: unknown; hash?: unknown };
    if (typeof h.seq === 'number' && Number.isSafeInteger(h.seq) && h.seq >= 0 && typeof h.hash === 'string' && /^[0-9a-f]{64}$/.test(h.hash)) return { seq: h.seq, hash: h.hash };
  } catch {
    // fall through
  }
  throw new AuditError('AuditHeadUnreadable', 'internal', `The audit head file ${hp} is not a valid head record.`, { path: hp });
}

/**
 * Verifies a log and its head file. Names the first bad record: an edited record (hash),
 * a removed/inserted/reordered one (seq/prev), a line truncated mid-record, or records cut
 * off the end (head). `requireHead` makes a missing head file itself a failure once the log
 * has records (the region's trail always writes one; the host's AuditChain log does not).
 */
export function verifyTrail(path: string, opts: { requireHead?: boolean } = {}): TrailVerifyResult {
  // The head first, then the log: the writer updates the head only after the log's fsync,
  // so a log read after its head holds at least the head's records even while it grows.
  let head: TrailHead | undefined;
  try {
    head = readHead(path);
  } catch (e) {
    return { ok: false, records: 0, badLine: 0, badSeq: undefined, reason: e instanceof Error ? e.message : String(e) };
  }
  let text = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (text === undefined) {
    if (head !== undefined && head.seq > 0) return { ok: false, records: 0, badLine: 1, badSeq: 1, reason: `the log file is missing but its head records ${head.seq} records` };
    return { ok: true, records: 0, head: GENESIS, warnings: ['the log does not exist yet'] };
  }
  const warnings: string[] = [];
  let res = verifyChainText(text);
  if (!res.ok && res.reason.startsWith('the last line is incomplete') && head !== undefined && head.seq <= res.records) {
    // A partial last line past the head is a write not yet acknowledged: in flight now, or
    // torn by a crash (the writer drops it on its next start). A record cut mid-line that
    // had been acknowledged is caught below: the head is then beyond the complete records.
    warnings.push(`line ${res.badLine} is an unfinished write that was never acknowledged`);
    text = text.slice(0, text.lastIndexOf('\n') + 1);
    res = verifyChainText(text);
  }
  if (!res.ok) return res;
  if (head === undefined) {
    if (opts.requireHead && res.records > 0) return { ok: false, records: res.records, badLine: res.records + 1, badSeq: undefined, reason: `the head file ${headPathFor(path)} is missing, so truncation cannot be ruled out` };
    warnings.push('no head file: the removal of whole records at the end cannot be detected');
    return { ok: true, records: res.records, head: res.head, warnings };
  }
  if (head.seq > res.records) {
    const missing = res.records + 1;
    return { ok: false, records: res.records, badLine: missing, badSeq: missing, reason: `record ${missing} is missing: the log ends at seq ${res.records} but its head records seq ${head.seq} (records were cut off the end)` };
  }
  if (head.seq > 0) {
    const rec = lineRecord(text, head.seq);
    if (rec?.hash !== head.hash) return { ok: false, records: res.records, badLine: head.seq, badSeq: head.seq, reason: `record ${head.seq} does not match the head's hash (the log was rewritten)` };
  }
  if (head.seq < res.records) warnings.push(`${res.records - head.seq} record(s) after the head (being written, or written just before a crash)`);
  return { ok: true, records: res.records, head: res.head, warnings };
}

function lineRecord(text: string, seq: number): ChainRecord | undefined {
  let start = 0;
  for (let i = 1; i < seq; i++) {
    start = text.indexOf('\n', start) + 1;
    if (start === 0) return undefined;
  }
  const end = text.indexOf('\n', start);
  try {
    return JSON.parse(text.slice(start, end < 0 ? undefined : end)) as ChainRecord;
  } catch {
    return undefined;
  }
}

/** The last n records of a chain log among its first `end` bytes (default: all); reads only the end of a large file. */
export function readLastRecords<E = Record<string, unknown>>(path: string, n: number, end?: number): ChainRecord<E>[] {
  if (n <= 0 || !existsSync(path)) return [];
  const fd = openSync(path, 'r');
  try {
    const size = Math.min(end ?? Infinity, fstatSync(fd).size);
    let pos = size;
    let text = '';
    const chunk = 64 * 1024;
    while (pos > 0) {
      const len = Math.min(chunk, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      text = buf.toString('latin1') + text;
      if (text.split('\n').length > n + 1) break;
    }
    const lines = Buffer.from(text, 'latin1').toString('utf8').split('\n').filter((l) => l !== '');
    if (pos > 0) lines.shift(); // possibly a partial first line
    const out: ChainRecord<E>[] = [];
    for (const l of lines.slice(-n)) {
      try {
        out.push(JSON.parse(l) as ChainRecord<E>);
      } catch {
        // an incomplete last line is reported by verify, not by tail
      }
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

interface Pending {
  readonly line: string;
  readonly rec: ChainRecord<StoredAuditEvent>;
  readonly resolve: (r: ChainRecord<StoredAuditEvent>) => void;
  readonly reject: (e: unknown) => void;
}

function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number): void => {
      write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) reject(err);
        else if (off + n < buf.length) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** The region's audit trail. One writer per file; open it once per process. */
export class AuditTrail {
  private readonly fd: number;
  private readonly headFd: number;
  private seq: number;
  private head: string;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failed: unknown;
  private closed = false;

  /**
   * Opens (creating if needed) the trail at `path`. Refuses a log that fails verification.
   * Two situations are repaired, each leaving a record in the chain that says so: a torn
   * last line that was never acknowledged (the head is behind it: a crash mid-write), and a
   * missing head file next to a valid log.
   */
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const notes: Record<string, unknown>[] = [];
    let head: TrailHead | undefined;
    try {
      head = readHead(path);
    } catch (e) {
      throw new AuditError('AuditTrailBroken', 'internal', `The audit trail ${path} cannot be opened.`, { path }, { cause: e });
    }
    if (existsSync(path)) {
      let text = readFileSync(path, 'utf8');
      const chain = verifyChainText(text);
      if (!chain.ok && chain.reason.startsWith('the last line is incomplete') && head !== undefined && head.seq <= chain.records) {
        const keep = Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1), 'utf8');
        const fd = openSync(path, 'r+');
        try {
          ftruncateSync(fd, keep);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        notes.push({ repair: 'torn-tail', discardedBytes: Buffer.byteLength(text, 'utf8') - keep, line: chain.badLine });
        text = readFileSync(path, 'utf8');
      }
      if (head === undefined && verifyChainText(text).ok && text.length > 0) notes.push({ repair: 'head-recreated' });
      const res = verifyTrail(path);
      if (!res.ok) {
        throw new AuditError('AuditTrailBroken', 'internal', `The audit trail ${path} fails verification at line ${res.badLine}: ${res.reason}.`, { path, badLine: res.badLine, badSeq: res.badSeq, reason: res.reason });
      }
      this.seq = res.records;
      this.head = res.head;
    } else {
      if (head !== undefined && head.seq > 0) throw new AuditError('AuditTrailBroken', 'internal', `The audit trail ${path} is missing but its head records ${head.seq} records.`, { path });
      this.seq = 0;
      this.head = GENESIS;
    }
    this.fd = openSync(path, 'a', 0o600);
    this.headFd = openSync(headPathFor(path), existsSync(headPathFor(path)) ? 'r+' : 'w+', 0o600);
    this.writeHead();
    for (const note of notes) {
      void this.append(this.systemEvent('AuditTrailRepaired', note)).catch(() => undefined);
    }
  }

  get length(): number {
    return this.seq;
  }

  get headHash(): string {
    return this.head;
  }

  /** Records a whole call in one record (phase 'complete'); resolves once it is on disk. */
  record(event: AuditEvent): Promise<ChainRecord<StoredAuditEvent>> {
    return this.append(this.stored(event, 'complete'));
  }

  /** Records a call before it takes effect (phase 'request'); resolves once it is on disk. */
  async begin(event: AuditEvent): Promise<AuditHandle> {
    const { errorCode: _c, errorMessage: _m, responseElements: _r, ...rest } = event;
    const stored = this.stored({ ...rest, responseElements: null }, 'request');
    const rec = await this.append(stored);
    return {
      eventID: stored.eventID,
      seq: rec.seq,
      complete: (outcome: AuditOutcome = {}) => {
        const out = clean<StoredAuditEvent>({
          ...stored,
          eventTime: new Date().toISOString(),
          eventID: randomUUID(),
          phase: 'outcome',
          requestEventID: stored.eventID,
          errorCode: outcome.errorCode,
          errorMessage: outcome.errorMessage,
          responseElements: outcome.responseElements === undefined ? null : (redact(outcome.responseElements) ?? null),
          resources: outcome.resources ?? stored.resources,
          requestParameters: null,
        });
        return this.append(out);
      },
    };
  }

  /** Waits for every queued record to be durable. */
  async flush(): Promise<void> {
    while (this.flushing !== undefined || this.queue.length > 0) {
      if (this.flushing === undefined) this.flushing = this.drain();
      await this.flushing;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => undefined);
    this.closed = true;
    closeSync(this.fd);
    closeSync(this.headFd);
  }

  private stored(event: AuditEvent, phase: AuditPhase): StoredAuditEvent {
    return clean<StoredAuditEvent>({
      eventVersion: AUDIT_EVENT_VERSION,
      eventTime: event.eventTime ?? new Date().toISOString(),
      eventSource: event.eventSource,
      eventName: event.eventName,
      awsRegion: event.awsRegion,
      sourceIPAddress: event.sourceIPAddress,
      userAgent: event.userAgent,
      userIdentity: redact(event.userIdentity),
      requestParameters: event.requestParameters == null ? null : redact(event.requestParameters),
      responseElements: event.responseElements == null ? null : redact(event.responseElements),
      resources: event.resources,
      errorCode: event.errorCode,
      errorMessage: event.errorMessage,
      requestID: event.requestID,
      eventID: event.eventID ?? randomUUID(),
      eventType: 'AwsApiCall',
      readOnly: event.readOnly,
      recipientAccountId: event.recipientAccountId ?? event.userIdentity.accountId,
      phase,
    });
  }

  private systemEvent(name: string, params: Record<string, unknown>): StoredAuditEvent {
    const id = randomUUID();
    return {
      eventVersion: AUDIT_EVENT_VERSION,
      eventTime: new Date().toISOString(),
      eventSource: 'nitride.region',
      eventName: name,
      awsRegion: '',
      sourceIPAddress: '',
      userIdentity: { type: 'Unknown' },
      requestParameters: params,
      responseElements: null,
      requestID: id,
      eventID: id,
      eventType: 'NitrideAuditEvent',
      readOnly: false,
      phase: 'complete',
    };
  }

  private append(event: StoredAuditEvent): Promise<ChainRecord<StoredAuditEvent>> {
    if (this.closed) return Promise.reject(new AuditError('AuditTrailClosed', 'internal', 'The audit trail is closed.', { path: this.path }));
    if (this.failed !== undefined) return Promise.reject(new AuditError('AuditTrailFailed', 'unavailable', 'The audit trail failed to write an earlier record and accepts no more.', { path: this.path }, { cause: this.failed }));
    const seq = this.seq + 1;
    const time = event.eventTime;
    const hash = recordHash(seq, this.head, time, event);
    const rec: ChainRecord<StoredAuditEvent> = { seq, prev: this.head, time, event, hash };
    const line = `${JSON.stringify(rec)}\n`;
    this.seq = seq;
    this.head = hash;
    return new Promise((resolve, reject) => {
      this.queue.push({ line, rec, resolve, reject });
      if (this.flushing === undefined) this.flushing = this.drain();
    });
  }

  private async drain(): Promise<void> {
    try {
      // Let the current tick's other records join this batch.
      await new Promise<void>((r) => setImmediate(r));
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          if (this.failed !== undefined) throw this.failed;
          await writeAll(this.fd, Buffer.from(batch.map((p) => p.line).join(''), 'utf8'));
          await fsyncAsync(this.fd);
          const last = batch[batch.length - 1];
          if (last) this.writeHead(last.rec.seq, last.rec.hash);
        } catch (e) {
          this.failed ??= e;
          const err = new AuditError('AuditTrailFailed', 'unavailable', 'An audit record could not be written to disk.', { path: this.path }, { cause: e });
          for (const p of batch) p.reject(err);
          for (const p of this.queue.splice(0)) p.reject(err);
          continue;
        }
        for (const p of batch) p.resolve(p.rec);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private durableSeq = 0;
  private durableHash = GENESIS;

  /** Rewrites the fixed-size head record in place (one small pwrite, after the log's fsync). */
  private writeHead(seq?: number, hash?: string): void {
    if (seq !== undefined && hash !== undefined) {
      this.durableSeq = seq;
      this.durableHash = hash;
    } else {
      this.durableSeq = this.seq;
      this.durableHash = this.head;
    }
    const body = JSON.stringify({ seq: this.durableSeq, hash: this.durableHash });
    const buf = Buffer.from(`${body.padEnd(HEAD_BYTES - 1, ' ')}\n`, 'utf8');
    writeSync(this.headFd, buf, 0, buf.length, 0);
  }
}


/** Drops undefined members (exactOptionalPropertyTypes: absent, not undefined). */
function clean<T extends object>(o: { [K in keyof T]?: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** One line for `nitride audit tail`: time, seq, source, event, principal, ip, result. */
export function formatRecord(rec: ChainRecord<Record<string, unknown>>): string {
  const e = rec.event;
  if (typeof e['eventName'] === 'string') {
    const ev = e as unknown as StoredAuditEvent;
    const who = ev.userIdentity?.type === 'Root' ? `root@${ev.userIdentity.accountId ?? '?'}` : ev.userIdentity?.userName !== undefined ? `${ev.userIdentity.userName}@${ev.userIdentity.accountId ?? '?'}` : (ev.userIdentity?.accessKeyId ?? 'anonymous');
    const result = ev.phase === 'request' ? 'request' : ev.errorCode !== undefined ? `error=${ev.errorCode}` : 'ok';
    const src = (ev.eventSource ?? '').replace('.amazonaws.com', '');
    return `${rec.time} #${rec.seq} ${src}:${ev.eventName} ${who} ${ev.sourceIPAddress || '-'} ${result} ${ev.requestID ?? ''}`.trimEnd();
  }
  const type = typeof e['type'] === 'string' ? e['type'] : 'event';
  const rest = JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'type')));
  return `${rec.time} #${rec.seq} ${type} ${rest.length > 200 ? `${rest.slice(0, 197)}...` : rest}`;
}
