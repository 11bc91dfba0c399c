// Refusals that cost an attacker nothing must not cost the region a durable write each.
// RefusalLedger stands between the front door and the audit trail:
//   - a request that authenticated (its userIdentity has a principal) is passed to the trail
//     exactly as before, unless it was refused by the per-principal throttle;
//   - a request that did not authenticate (userIdentity type 'Unknown': no or a bad
//     signature, an unknown key, an expired date, a body too large before authentication,
//     an unparseable query) and a throttled request are counted by minute, source address,
//     service, error code and presented access key id, and the counters are written as one
//     audit record ('RefusedRequests') per interval and on close;
//   - connections dropped at accept are counted the same way (code ConnectionLimitExceeded).
// The counters of one interval are bounded (refusalMaxKeys); past that, refusals are counted
// under source "*". Each source also has a budget of failed authentications
// (refusalRatePerSource, refusalBurstPerSource): past it, the answer is held back up to
// refusalMaxDelayMs, so a flooding source gets its refusals at the budget's pace and its
// connections (capped per source) wait instead of making the region work.
import type { AuditRecorder } from '../../audit/recorder.js';
import type { AuditEvent, AuditHandle, AuditTrail } from '../../audit/trail.js';
import { describeError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { TokenBucket } from '../../lib/token-bucket.js';
import { REGION_NAME } from '../ec2/model.js';
import { newRequestId } from '../ids.js';
import type { ApiLimits } from './limits.js';

const log = createLogger('region.api.refusals');

/** The throttles' codes in each protocol: EC2, IAM, KMS, EBS direct. */
export const THROTTLE_CODES: ReadonlySet<string> = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'RequestThrottledException', 'TooManyRequestsException']);

export const REFUSALS_EVENT_NAME = 'RefusedRequests';

/** True for a record the ledger counts instead of writing: an unauthenticated or a throttled request. */
export function isCountedRefusal(e: AuditEvent): boolean {
  return e.userIdentity.type === 'Unknown' || (e.errorCode !== undefined && THROTTLE_CODES.has(e.errorCode));
}

/** The address a limit counts by: IPv4 (also when v4-mapped) as is, IPv6 by its /64. */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return '-';
  const a = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (!a.includes(':')) return a;
  const [head = '', tail] = a.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** One counter of the RefusedRequests record. */
export interface RefusalCount {
  /** The minute, e.g. 2026-12-07T20:51Z. */
  readonly minute: string;
  readonly sourceIPAddress: string;
  readonly eventSource: string;
  readonly errorCode: string;
  /** The access key id the request presented (unverified unless the code is a throttle's). */
  readonly accessKeyId?: string;
  count: number;
}

export class RefusalLedger implements AuditRecorder {
  private counts = new Map<string, RefusalCount>();
  private since: number;
  private readonly pace = new Map<string, TokenBucket>();
  private readonly waiting = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly trail: AuditTrail,
    private readonly limits: ApiLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.since = now();
    this.timer = setInterval(() => void this.flush(), Math.max(100, limits.refusalIntervalMs));
    this.timer.unref();
  }

  record(event: AuditEvent): Promise<unknown> {
    if (!isCountedRefusal(event)) return this.trail.record(event);
    this.count({ sourceIPAddress: event.sourceIPAddress, eventSource: event.eventSource, errorCode: event.errorCode ?? 'Unknown', ...(event.userIdentity.accessKeyId !== undefined ? { accessKeyId: event.userIdentity.accessKeyId } : {}) });
    return event.userIdentity.type === 'Unknown' ? this.paced(event.sourceIPAddress) : Promise.resolve();
  }

  begin(event: AuditEvent): Promise<AuditHandle> {
    return this.trail.begin(event);
  }

  /** Counts one refusal that has no audit event of its own (a connection dropped at accept). */
  count(r: Omit<RefusalCount, 'minute' | 'count'>): void {
    const minute = new Date(this.now()).toISOString().slice(0, 16) + 'Z';
    const k = `${minute}|${r.sourceIPAddress}|${r.eventSource}|${r.errorCode}|${r.accessKeyId ?? ''}`;
    const hit = this.counts.get(k);
    if (hit) {
      hit.count++;
      return;
    }
    if (this.counts.size < this.limits.refusalMaxKeys) {
      this.counts.set(k, { minute, ...r, count: 1 });
      return;
    }
    const other = `${minute}|*|*|*|`;
    const o = this.counts.get(other);
    if (o) o.count++;
    else this.counts.set(other, { minute, sourceIPAddress: '*', eventSource: '*', errorCode: '*', count: 1 });
  }

  /** Resolves when the source's budget of failed authentications allows its answer. */
  private paced(address: string): Promise<void> {
    const { refusalRatePerSource: rate, refusalBurstPerSource: burst, refusalMaxDelayMs: maxWait } = this.limits;
    if (rate === 0 || this.closed) return Promise.resolve();
    const key = sourceKey(address);
    const t = this.now();
    let b = this.pace.get(key);
    if (!b) {
      if (this.pace.size >= 10_000) for (const [k, v] of this.pace) if (v.full(t)) this.pace.delete(k);
      b = new TokenBucket(rate, burst, t);
      this.pace.set(key, b);
    }
    const wait = b.reserve(t, maxWait);
    if (wait === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const w = {
        timer: setTimeout(() => {
          this.waiting.delete(w);
          resolve();
        }, wait),
        resolve,
      };
      this.waiting.add(w);
    });
  }

  /** Writes the counters gathered since the last flush as one record (none when there are none). */
  flush(): Promise<void> {
    const counts = [...this.counts.values()];
    const from = new Date(this.since).toISOString();
    const to = new Date(this.now()).toISOString();
    this.counts = new Map();
    this.since = this.now();
    for (const [k, v] of this.pace) if (v.full(this.since)) this.pace.delete(k);
    if (counts.length === 0) return this.writing;
    const total = counts.reduce((n, c) => n + c.count, 0);
    this.writing = this.writing
      .then(() =>
        this.trail.record({
          eventSource: 'nitride.region',
          eventName: REFUSALS_EVENT_NAME,
          awsRegion: REGION_NAME,
          sourceIPAddress: '',
          userIdentity: { type: 'Unknown' },
          requestID: newRequestId(),
          readOnly: true,
          requestParameters: { from, to, total, counts },
        }),
      )
      .then(
        () => undefined,
        (e: unknown) => log.error('the refused-requests record could not be written', { total, error: describeError(e) }),
      );
    return this.writing;
  }

  /** Answers every held-back refusal, stops the interval and writes the last counters. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const w of this.waiting) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.waiting.clear();
    await this.flush();
  }
}
