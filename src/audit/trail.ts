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
// Protection against rewriting (./keeper.ts, docs/AUDIT.md): after each batch the head file
// ($path.head) is rewritten in place; a sealed checkpoint is written at open, every N records
// or T seconds, at rotation and at close; the active segment rotates by size and age, and
// old segments are pruned after a sealed anchor when retention says so.
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, fsync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, write } from 'node:fs';
import { dirname, join } from 'node:path';
import { AuditError } from './errors.js';
import { headPathFor } from './head.js';
import { completeRotation, LogKeeper, type AuditLogOptions } from './keeper.js';
import { recordHash, type ChainRecord } from './record.js';
import { proveLog } from './verify.js';

export { headPathFor, readHead, type TrailHead } from './head.js';
export type { AuditLogOptions } from './keeper.js';

export const REDACTED = 'HIDDEN_DUE_TO_SECURITY_REASONS';
export const AUDIT_EVENT_VERSION = '1.08';

export type AuditEventSource = 'ec2.amazonaws.com' | 'kms.amazonaws.com' | 'iam.amazonaws.com' | 'sts.amazonaws.com' | 'nitride.region';

export interface AuditUserIdentity {
  /** 'Root' (an account's root key), 'IAMUser', 'AssumedRole' (a role session), or 'Unknown' when authentication failed. */
  readonly type: 'Root' | 'IAMUser' | 'AssumedRole' | 'Unknown';
  readonly accountId?: string;
  readonly principalId?: string;
  readonly arn?: string;
  readonly userName?: string;
  readonly accessKeyId?: string;
  /** Session credentials (STS): when the session was made, and for a role session the role (CloudTrail's shape). */
  readonly sessionContext?: {
    readonly sessionIssuer?: { readonly type: 'Role'; readonly principalId: string; readonly arn: string; readonly accountId: string; readonly userName: string };
    readonly attributes: { readonly creationDate: string; readonly mfaAuthenticated: string };
    readonly sourceIdentity?: string;
  };
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

export { AuditError };

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
    'token', // a host's enrolment token (NitrideAddHost)
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

/** $NITRIDE_HOME/region/audit.log */
export function regionTrailPath(home: string): string {
  return join(home, 'region', 'audit.log');
}

/** $NITRIDE_HOME/host/audit.log (the host controller's AuditChain log). */
export function hostAuditPath(home: string): string {
  return join(home, 'host', 'audit.log');
}

/**
 * Verifies a log's chain across its segments, its head file and the structure of its
 * checkpoints (not their seals: that needs the verification key, see proveLog in
 * ./verify.ts). Names the first bad record: an edited record (hash), a removed, inserted or
 * reordered one (seq/prev), a line truncated mid-record, records cut off the end (head,
 * checkpoints), a missing or swapped segment. `requireHead` makes a missing head file itself
 * a failure once the log has records.
 */
export function verifyTrail(path: string, opts: { requireHead?: boolean } = {}): TrailVerifyResult {
  const p = proveLog(path, opts.requireHead === undefined ? {} : { requireHead: opts.requireHead });
  if (p.tamper) return { ok: false, records: p.records, badLine: p.tamper.line, badSeq: p.tamper.seq, reason: p.tamper.reason };
  return { ok: true, records: p.records, head: p.head, warnings: [...p.warnings] };
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
  private readonly keeper: LogKeeper;
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
  constructor(
    readonly path: string,
    opts: AuditLogOptions = {},
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const notes: Record<string, unknown>[] = [];
    completeRotation(path);
    let found = proveLog(path);
    const torn = found.tamper ? undefined : found.warnings.map((w) => /^line (\d+) is an unfinished write/.exec(w)).find((m) => m !== null);
    if (torn) {
      const text = readFileSync(path, 'utf8');
      const keep = Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1), 'utf8');
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, keep);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      notes.push({ repair: 'torn-tail', discardedBytes: Buffer.byteLength(text, 'utf8') - keep, line: Number(torn[1]) });
      found = proveLog(path);
    }
    if (found.tamper) {
      const t = found.tamper;
      throw new AuditError('AuditTrailBroken', 'internal', `The audit trail ${t.file} fails verification at line ${t.line}: ${t.reason}.`, { path, file: t.file, badLine: t.line, badSeq: t.seq, reason: t.reason });
    }
    if (found.records > 0 && !existsSync(headPathFor(path))) notes.push({ repair: 'head-recreated' });
    this.seq = found.records;
    this.head = found.head;
    this.keeper = new LogKeeper(path, found, opts);
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
    this.keeper.close();
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
          const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
          await writeAll(this.keeper.fd, buf);
          await fsyncAsync(this.keeper.fd);
          const last = batch[batch.length - 1];
          // the head, and a checkpoint or a rotation when one is due (between batches)
          if (last) this.keeper.durable(last.rec.seq, last.rec.hash, buf.length);
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
