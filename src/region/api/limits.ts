// The front door's limits, with their defaults and environment overrides (NITRIDE_API_*).
// docs/API-PROTOCOL.md ("Limits") lists each with its reason; RegionOptions.apiLimits
// overrides them programmatically (tests). Rates may be fractional (0.1: one every 10 s);
// a rate or a connection cap of 0 turns that limit off.
import { NitrideError } from '../../lib/errors.js';

export interface ApiLimits {
  /** Open connections in total; more are dropped at accept. */
  readonly maxConnections: number;
  /** Open connections from one source address (an IPv6 source counts by its /64). */
  readonly maxConnectionsPerSource: number;
  /** Bytes of request line and headers (Node's maxHeaderSize); more is answered 431. */
  readonly maxHeaderBytes: number;
  /** Body bytes of a request whose headers present a known, active access key with a fresh date. */
  readonly maxBodyBytes: number;
  /** Body bytes of any other request: it cannot authenticate, so little of it is read. */
  readonly preAuthBodyBytes: number;
  /** From accept (or the previous answer) to the end of the headers: time to first byte and slow headers. */
  readonly headersTimeoutMs: number;
  /** The whole request, headers and body. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection between requests. */
  readonly keepAliveTimeoutMs: number;
  /** Refusals of unauthenticated (and throttled) requests are written as one audit record per interval. */
  readonly refusalIntervalMs: number;
  /** Distinct (minute, source, service, code, key) counters kept per interval; the rest are counted under source "*". */
  readonly refusalMaxKeys: number;
  /** Failed authentications answered promptly per source and second (refill); later ones are answered late. */
  readonly refusalRatePerSource: number;
  /** … and in one burst. */
  readonly refusalBurstPerSource: number;
  /** The longest a refusal is held back. */
  readonly refusalMaxDelayMs: number;
  /** Requests per second (refill) and burst per access key; 0 turns it off. */
  readonly keyRatePerSec: number;
  readonly keyBurst: number;
  /** Requests per second (refill) and burst per account, over all its keys; 0 turns it off. */
  readonly accountRatePerSec: number;
  readonly accountBurst: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  maxConnections: 1024,
  maxConnectionsPerSource: 128,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 1024 * 1024,
  preAuthBodyBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 30_000,
  refusalIntervalMs: 60_000,
  refusalMaxKeys: 1000,
  refusalRatePerSource: 10,
  refusalBurstPerSource: 50,
  refusalMaxDelayMs: 10_000,
  keyRatePerSec: 200,
  keyBurst: 1000,
  accountRatePerSec: 400,
  accountBurst: 2000,
};

/** NITRIDE_API_<NAME> for each limit: camelCase to upper snake case (keyRatePerSec: NITRIDE_API_KEY_RATE_PER_SEC). */
export function apiLimitEnvName(name: keyof ApiLimits): string {
  return `NITRIDE_API_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export class ApiLimitsError extends NitrideError {}

/** The defaults, then the environment, then `overrides`. A malformed value is an error, not a silent default. */
export function apiLimits(overrides: Partial<ApiLimits> = {}, env: NodeJS.ProcessEnv = process.env): ApiLimits {
  const out: Record<string, number> = { ...DEFAULT_API_LIMITS };
  for (const name of Object.keys(DEFAULT_API_LIMITS) as (keyof ApiLimits)[]) {
    const raw = env[apiLimitEnvName(name)];
    if (raw !== undefined && raw !== '') out[name] = parseLimit(apiLimitEnvName(name), raw);
    const o = overrides[name];
    if (o !== undefined) out[name] = parseLimit(name, String(o));
  }
  return out as unknown as ApiLimits;
}

function parseLimit(name: string, raw: string): number {
  const n = Number(raw);
  const fractional = /Rate/.test(name) || /RATE/.test(name);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (!fractional && !Number.isSafeInteger(n))) {
    throw new ApiLimitsError('InvalidApiLimit', 'invalid', `${name} must be a non-negative ${fractional ? 'number' : 'integer'}, not ${JSON.stringify(raw)}.`, { name, raw });
  }
  return n;
}
