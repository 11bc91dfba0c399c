// Admission at the region's front door, before and around authentication:
//   - connections: at most maxConnections in total (Node drops the rest at accept) and
//     maxConnectionsPerSource from one address (reset at once); both counted as refusals;
//   - time: headersTimeout bounds the time from accept (or the previous answer) to the end
//     of the headers — a connection that sends nothing gets 408 and is closed —,
//     requestTimeout the whole request, keepAliveTimeout an idle connection;
//   - size: maxHeaderSize for the headers (431); the body may be maxBodyBytes only when the
//     headers present a known, active access key (or session credentials) and a date within the skew window, and
//     preAuthBodyBytes otherwise, so a request that cannot authenticate is never buffered
//     beyond a few KiB (a larger Content-Length is refused before any byte is read);
//   - after authentication, the per-principal throttle (throttle.ts);
//   - refusals of unauthenticated and throttled requests are counted, not written one by one
//     (refusals.ts), which is the recorder the front door audits through.
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { AuditTrail } from '../../audit/trail.js';
import { presentedAccessKeyId, presentedSessionToken, sigV4RequestOf } from '../../iam/authenticate.js';
import type { Iam } from '../../iam/iam.js';
import { DEFAULT_MAX_SKEW_MS, MAX_PRESIGN_EXPIRES_SECONDS, PRESIGN, parseAmzDate, parseQueryPairs } from '../../iam/sigv4/index.js';
import type { ApiLimits } from './limits.js';
import { RefusalLedger, sourceKey } from './refusals.js';
import { PrincipalThrottle } from './throttle.js';

const EMPTY = Buffer.alloc(0);

export class Admission {
  readonly refusals: RefusalLedger;
  readonly throttle: PrincipalThrottle;
  private readonly perSource = new Map<string, number>();

  constructor(
    readonly limits: ApiLimits,
    trail: AuditTrail,
    private readonly iam: Pick<Iam, 'lookupCredentials'>,
  ) {
    this.refusals = new RefusalLedger(trail, limits);
    this.throttle = new PrincipalThrottle(limits);
  }

  /** Options for http.createServer. */
  serverOptions(): ServerOptions {
    const { maxHeaderBytes, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = this.limits;
    return {
      keepAlive: true,
      keepAliveTimeout: keepAliveTimeoutMs,
      maxHeaderSize: maxHeaderBytes,
      headersTimeout: requestTimeoutMs > 0 ? Math.min(headersTimeoutMs, requestTimeoutMs) : headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      // How often Node looks for connections past headersTimeout/requestTimeout.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    };
  }

  /** Connection limits on a server made with serverOptions(). */
  attach(server: Server): void {
    server.keepAliveTimeout = this.limits.keepAliveTimeoutMs;
    if (this.limits.maxConnections > 0) server.maxConnections = this.limits.maxConnections;
    server.on('drop', (d?: { remoteAddress?: string }) => this.refusals.count({ sourceIPAddress: d?.remoteAddress ?? '', eventSource: 'nitride.region', errorCode: 'ConnectionLimitExceeded' }));
    server.prependListener('connection', (socket: Socket) => this.onConnection(socket));
  }

  /** Open connections from the address's source. */
  connectionsFrom(address: string): number {
    return this.perSource.get(sourceKey(address)) ?? 0;
  }

  private onConnection(socket: Socket): void {
    const max = this.limits.maxConnectionsPerSource;
    if (max === 0) return;
    const key = sourceKey(socket.remoteAddress);
    const n = this.perSource.get(key) ?? 0;
    if (n >= max) {
      this.refusals.count({ sourceIPAddress: socket.remoteAddress ?? '', eventSource: 'nitride.region', errorCode: 'ConnectionLimitExceeded' });
      socket.resetAndDestroy();
      return;
    }
    this.perSource.set(key, n + 1);
    socket.once('close', () => {
      const left = (this.perSource.get(key) ?? 1) - 1;
      if (left <= 0) this.perSource.delete(key);
      else this.perSource.set(key, left);
    });
  }

  /**
   * How many body bytes this request may send: maxBodyBytes when its headers (or presigned
   * query) present an active access key and a fresh date, else preAuthBodyBytes. The
   * signature itself is checked after the body is read (it covers the body's hash).
   */
  async bodyLimit(req: IncomingMessage): Promise<number> {
    const { maxBodyBytes, preAuthBodyBytes } = this.limits;
    const sigReq = sigV4RequestOf(req, EMPTY);
    const query = sigReq.query;
    const keyId = presentedAccessKeyId(sigReq);
    if (keyId === undefined) return preAuthBodyBytes;
    if (!freshDate(req, query)) return preAuthBodyBytes;
    const key = await this.iam.lookupCredentials(keyId, presentedSessionToken(sigReq));
    return key !== undefined && key.status === 'Active' ? maxBodyBytes : preAuthBodyBytes;
  }

  /** Answers held-back refusals and writes the last refusal counters. */
  close(): Promise<void> {
    return this.refusals.close();
  }
}

/** Whether the request's signing date (x-amz-date, Date, or a presigned X-Amz-Date) could still verify. */
function freshDate(req: IncomingMessage, query: string): boolean {
  const now = Date.now();
  const amz = req.headers['x-amz-date'];
  if (typeof amz === 'string') return Math.abs((parseAmzDate(amz)?.getTime() ?? NaN) - now) <= DEFAULT_MAX_SKEW_MS;
  const date = req.headers['date'];
  if (req.headers['authorization'] !== undefined) return typeof date === 'string' && Math.abs(Date.parse(date) - now) <= DEFAULT_MAX_SKEW_MS;
  let presigned: string | undefined;
  try {
    presigned = parseQueryPairs(query).find(([k]) => k === PRESIGN.date)?.[1];
  } catch {
    return false;
  }
  const t = presigned === undefined ? NaN : (parseAmzDate(presigned)?.getTime() ?? NaN);
  return t - now <= DEFAULT_MAX_SKEW_MS && now - t <= MAX_PRESIGN_EXPIRES_SECONDS * 1000;
}
