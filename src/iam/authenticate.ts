// Authentication: SigV4 (src/iam/sigv4, pure and synchronous) joined with IAM's key store
// (async). The access key id a request presents is read first, its owner and secret are
// looked up (cached in Iam), and only then is the signature verified with that secret.
// Failures are SigV4Errors (map them with err.code/httpStatus for EC2, err.iamWire() for IAM);
// an unknown, deleted or inactive key is 'unknown-key', indistinguishable on the wire from a
// bad signature.
import { parseCredential, parseAuthorizationHeader, PRESIGN } from './sigv4/parse.js';
import { parseQueryPairs } from './sigv4/canonical-request.js';
import { verifySigV4, type SigV4Identity, type SigV4Request, type SigV4VerifyOptions } from './sigv4/verify.js';
import { EXPIRED_TOKEN_MESSAGE, SigV4Error } from './sigv4/errors.js';
import type { IncomingMessage } from 'node:http';
import type { AccessKeyLookup, Iam } from './iam.js';

/** The SigV4 view of an HTTP request: its path and query split from the URL, its headers as sent, its body. */
export function sigV4RequestOf(req: IncomingMessage, body: Uint8Array, defaultMethod = 'POST'): SigV4Request {
  const url = req.url ?? '/';
  const qi = url.indexOf('?');
  return { method: req.method ?? defaultMethod, path: qi < 0 ? url : url.slice(0, qi), query: qi < 0 ? '' : url.slice(qi + 1), headers: req.headersDistinct as Record<string, string[]>, body };
}

/** The access key id a request presents (header or presigned query), unverified; undefined when none is readable. */
export function presentedAccessKeyId(req: SigV4Request): string | undefined {
  const h = req.headers['authorization'];
  const auth = typeof h === 'string' ? h : h?.join(',');
  try {
    if (auth !== undefined) return parseAuthorizationHeader(auth).credential.accessKeyId;
    const cred = parseQueryPairs(req.query).find(([k]) => k === PRESIGN.credential)?.[1];
    return cred === undefined ? undefined : parseCredential(cred).accessKeyId;
  } catch {
    return undefined; // verifySigV4 reports the malformed header with the right code
  }
}

export interface Authenticated {
  readonly identity: SigV4Identity;
  /** The key's owner (principal) and status; secretAccessKey is the plaintext secret. */
  readonly key: AccessKeyLookup;
}

/** The session token a request presents: the X-Amz-Security-Token header, or the presigned query's. */
export function presentedSessionToken(req: SigV4Request): string | undefined {
  const h = req.headers['x-amz-security-token'];
  if (h !== undefined) return typeof h === 'string' ? h : h.join(',');
  try {
    return parseQueryPairs(req.query).find(([k]) => k === PRESIGN.securityToken)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Verifies a request's SigV4 signature against IAM's keys, long-term or session credentials
 * (an ASIA key id with its session token). Throws SigV4Error: 'unknown-key' also for a token
 * that does not open or does not belong to the key id, 'expired-token' for a session past its
 * expiry (checked against iam.now(), after the signature).
 */
export async function authenticate(iam: Iam, req: SigV4Request, opts: SigV4VerifyOptions): Promise<Authenticated> {
  const id = presentedAccessKeyId(req);
  const found = id === undefined ? undefined : await iam.lookupCredentials(id, presentedSessionToken(req));
  const key = found !== undefined && found.status === 'Active' ? found : undefined;
  const identity = verifySigV4(req, (kid) => (key !== undefined && kid === key.accessKeyId ? key : undefined), opts);
  if (key === undefined) throw new Error('unreachable: verifySigV4 accepted a request without a key');
  if (key.expiration !== undefined && iam.now().getTime() >= key.expiration.getTime()) throw new SigV4Error('expired-token', EXPIRED_TOKEN_MESSAGE, { accessKeyId: key.accessKeyId });
  return { identity, key };
}
