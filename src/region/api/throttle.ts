// Per-principal throttling: one token bucket per access key and one per account (over all
// its keys); a request is admitted when both have a token. The services answer a refusal in
// their own words: EC2 RequestLimitExceeded (503), IAM Throttling (400), KMS
// ThrottlingException (400), EBS direct RequestThrottledException (400). Buckets that have
// refilled are forgotten, so the maps hold only principals active in the last seconds.
import { TokenBucket } from '../../lib/token-bucket.js';
import type { ApiLimits } from './limits.js';

export interface ThrottledPrincipal {
  readonly accessKeyId: string;
  readonly accountId: string;
}

export class PrincipalThrottle {
  private readonly keys = new Map<string, TokenBucket>();
  private readonly accounts = new Map<string, TokenBucket>();
  private calls = 0;

  constructor(
    private readonly limits: Pick<ApiLimits, 'keyRatePerSec' | 'keyBurst' | 'accountRatePerSec' | 'accountBurst'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spends the principal's tokens; false when it is over its rate (nothing is spent then). */
  admit(p: ThrottledPrincipal): boolean {
    const t = this.now();
    if (++this.calls % 1024 === 0) this.forgetFull(t);
    const { keyRatePerSec, keyBurst, accountRatePerSec, accountBurst } = this.limits;
    const key = keyRatePerSec > 0 ? bucket(this.keys, p.accessKeyId, keyRatePerSec, keyBurst, t) : undefined;
    const account = accountRatePerSec > 0 ? bucket(this.accounts, p.accountId, accountRatePerSec, accountBurst, t) : undefined;
    if (key && !key.take(t)) return false;
    if (account && !account.take(t)) {
      key?.refund();
      return false;
    }
    return true;
  }

  private forgetFull(t: number): void {
    for (const m of [this.keys, this.accounts]) for (const [k, b] of m) if (b.full(t)) m.delete(k);
  }
}

function bucket(m: Map<string, TokenBucket>, id: string, rate: number, burst: number, t: number): TokenBucket {
  let b = m.get(id);
  if (!b) {
    b = new TokenBucket(rate, Math.max(1, burst), t);
    m.set(id, b);
  }
  return b;
}
