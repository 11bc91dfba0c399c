// Single-use nonces for attestation requests. The verifier (the region) issues a fresh random
// nonce per request and consumes it when the document comes back: a document carrying a
// nonce that was never issued, already consumed, or has expired is refused, so a recorded
// document cannot be replayed.
import { randomBytes } from 'node:crypto';
import { SecurityChipError } from './errors.js';

export interface NonceBookOptions {
  /** How long an issued nonce may be answered (default 60 s). */
  readonly ttlMs?: number;
  /** Most nonces outstanding at once; the oldest are dropped past it (default 10000). */
  readonly max?: number;
  readonly now?: () => number;
}

export class NonceBook {
  private readonly issued = new Map<string, number>(); // hex -> expiry
  private readonly used = new Map<string, number>(); // hex -> expiry, for a precise replay error
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(o: NonceBookOptions = {}) {
    this.ttlMs = o.ttlMs ?? 60_000;
    this.max = o.max ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  /** A fresh 32-byte nonce, recorded as outstanding. */
  issue(): Buffer {
    this.prune();
    const n = randomBytes(32);
    this.issued.set(n.toString('hex'), this.now() + this.ttlMs);
    while (this.issued.size > this.max) {
      const oldest = this.issued.keys().next().value;
      if (oldest === undefined) break;
      this.issued.delete(oldest);
    }
    return n;
  }

  /** Consumes a nonce; throws AttestationNonceReplayed (used before) or AttestationNonceMismatch (never issued or expired). */
  consume(nonce: Buffer | null | undefined): void {
    this.prune();
    if (!nonce || nonce.length === 0) throw new SecurityChipError('AttestationNonceMismatch', 'denied', 'The attestation document carries no nonce, but the verifier asked for one.', {});
    const hex = nonce.toString('hex');
    if (this.used.has(hex)) throw new SecurityChipError('AttestationNonceReplayed', 'denied', 'The attestation document answers a nonce that was already used: it is a replay.', { nonce: hex.slice(0, 128) });
    const exp = this.issued.get(hex);
    if (exp === undefined) throw new SecurityChipError('AttestationNonceMismatch', 'denied', 'The attestation document carries a nonce this verifier did not issue or that has expired.', { nonce: hex.slice(0, 128) });
    this.issued.delete(hex);
    this.used.set(hex, exp);
  }

  /** Outstanding nonces. */
  get size(): number {
    this.prune();
    return this.issued.size;
  }

  private prune(): void {
    const t = this.now();
    for (const m of [this.issued, this.used]) for (const [k, exp] of m) if (exp < t) m.delete(k);
  }
}
