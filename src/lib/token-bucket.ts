// A token bucket: `burst` tokens at most, refilled at `ratePerSec`. take() spends one token
// when there is one; reserve() always spends one, letting the balance go negative down to a
// floor, and answers how long the caller should wait for the token it spent (0 when there
// was one). Time is passed in (milliseconds) so callers and tests share one clock.
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.ratePerSec);
      this.at = now;
    }
  }

  /** Spends a token if one is there. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Gives back a token take() spent (the caller refused the work after all). */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  /** Spends a token (owing it when there is none, down to maxWaitMs of debt); the wait in ms until it is paid. */
  reserve(now: number, maxWaitMs: number): number {
    this.refill(now);
    const floor = -(maxWaitMs / 1000) * this.ratePerSec;
    this.tokens = Math.max(floor, this.tokens - 1);
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSec) * 1000);
  }

  /** True when the bucket has refilled completely (it can be forgotten). */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }
}
