// Verifies a SigV4-signed request: Authorization header or presigned query.
//
//   verifySigV4(req, lookup, { now, service: 'ec2', region: 'local-1' }) → SigV4Identity
//
// Checks, in order: exactly one auth mechanism is present (missing); it parses (malformed),
// and 'host' plus every header the service requires (KMS: 'x-amz-target') are signed;
// the credential's scope date matches the request time and its region/service are the ones
// expected (scope, with AWS's own messages); the access key exists (unknown-key); the time is within 15 minutes of
// `now`, or inside the presigned window (expired); x-amz-content-sha256, when present, is the
// body's hash or UNSIGNED-PAYLOAD (payload); the signature matches, compared in constant time
// (bad-signature). Every failure is a SigV4Error; nothing else is thrown for any input.
import { canonicalRequest, parseQueryPairs, type HeaderMap } from './canonical-request.js';
import { EMPTY_SHA256, UNSIGNED_PAYLOAD, sha256Hex } from './encoding.js';
import { AUTH_FAILURE_MESSAGE, SigV4Error } from './errors.js';
import { PRESIGN, formatAmzDate, parseAmzDate, parseAuthorizationHeader, parsePresignedQuery, type SigV4Presented } from './parse.js';
import { deriveSigningKey } from './signing-key.js';
import { signatureBytes, signatureMatches } from './signature.js';
import { credentialScope, stringToSign } from './string-to-sign.js';

export interface SigV4Request {
  readonly method: string;
  /** The path from the request line, not decoded (e.g. '/'). */
  readonly path: string;
  /** The raw query string without '?', not decoded ('' when none). */
  readonly query: string;
  /** Lower-case header names; repeated headers as an array (node's req.headersDistinct) or joined with ','. */
  readonly headers: HeaderMap;
  readonly body: Uint8Array;
}

export type SecretLookup = (accessKeyId: string) => { readonly secretAccessKey: string } | undefined;

export interface SigV4VerifyOptions {
  readonly now: Date;
  /** Expected service in the credential scope (e.g. 'ec2'); any when absent. */
  readonly service?: string;
  /** Expected region in the credential scope (e.g. 'local-1'); any when absent. */
  readonly region?: string;
  /**
   * Headers that must be among the signed ones besides 'host' (lower-case). A JSON-protocol
   * service names its operation in X-Amz-Target, so it requires 'x-amz-target': otherwise a
   * captured request could be replayed as another operation.
   */
  readonly requiredSignedHeaders?: readonly string[];
  /** Allowed clock skew; 15 minutes unless given. */
  readonly maxSkewMs?: number;
  /**
   * Accept UNSIGNED-PAYLOAD for a request that has a body. Off by default: an EC2 request's
   * parameters live in its body, so an unsigned body would be an unauthenticated request.
   */
  readonly allowUnsignedPayload?: boolean;
}

export interface SigV4Identity {
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly presigned: boolean;
  /** False when the body was not covered by the signature (UNSIGNED-PAYLOAD with an empty body). */
  readonly payloadSigned: boolean;
  readonly signedAt: Date;
  /** When a presigned request stops being valid. */
  readonly expiresAt: Date | undefined;
}

export const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

function headerString(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

function toAmzDate(value: string): Date | undefined {
  const basic = parseAmzDate(value);
  if (basic !== undefined) return basic;
  // The Date header (RFC 7231 IMF-fixdate) is allowed in place of X-Amz-Date.
  if (!/^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/.test(value)) return undefined;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

/** 'x-amz-target' → 'X-Amz-Target', as AWS names a header in its messages. */
function signedHeaderDisplayName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

export function verifySigV4(req: SigV4Request, lookup: SecretLookup, opts: SigV4VerifyOptions): SigV4Identity {
  const authorization = headerString(req.headers, 'authorization');
  const pairs = parseQueryPairs(req.query);
  const hasQueryAuth = pairs.some(([k]) => k === PRESIGN.algorithm || k === PRESIGN.signature || k === PRESIGN.credential);
  if (authorization !== undefined && hasQueryAuth) {
    throw new SigV4Error('malformed', 'Only one authentication mechanism is allowed: the Authorization header or the X-Amz-* query parameters.');
  }
  if (authorization === undefined && !hasQueryAuth) {
    throw new SigV4Error('missing', 'The request must contain valid credentials: an Authorization header or a presigned query.');
  }
  const presigned = authorization === undefined;

  let presented: SigV4Presented;
  let amzDateText: string;
  let expiresSeconds: number | undefined;
  if (presigned) {
    const q = parsePresignedQuery(pairs);
    presented = q;
    amzDateText = q.amzDate;
    expiresSeconds = q.expiresSeconds;
  } else {
    presented = parseAuthorizationHeader(authorization);
    const fromHeader = headerString(req.headers, 'x-amz-date') ?? headerString(req.headers, 'date');
    if (fromHeader === undefined) throw new SigV4Error('malformed', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    amzDateText = fromHeader;
  }
  const signedAt = toAmzDate(amzDateText);
  if (signedAt === undefined) throw new SigV4Error('malformed', 'The request date is not in ISO 8601 basic format (YYYYMMDDTHHMMSSZ).');
  const { credential, signedHeaders } = presented;
  for (const name of ['host', ...(opts.requiredSignedHeaders ?? [])]) {
    if (!signedHeaders.includes(name)) throw new SigV4Error('malformed', `'${signedHeaderDisplayName(name)}' must be a signed header.`);
  }
  for (const name of signedHeaders) {
    if (req.headers[name] === undefined) throw new SigV4Error('malformed', `The signed header '${name.slice(0, 64)}' is not in the request.`);
  }

  // The string to sign uses the request time in basic format, whatever header carried it.
  const amzDate = parseAmzDate(amzDateText) !== undefined ? amzDateText : formatAmzDate(signedAt);
  if (credential.date !== amzDate.slice(0, 8)) {
    throw new SigV4Error('scope', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${credential.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`, {
      accessKeyId: credential.accessKeyId,
    });
  }
  // AWS's own messages (Coral's), trailing space included, so SDKs and scripts see what AWS says.
  if (opts.region !== undefined && credential.region !== opts.region) {
    throw new SigV4Error('scope', `Credential should be scoped to a valid region, not '${credential.region.slice(0, 64)}'. `, { accessKeyId: credential.accessKeyId, region: credential.region.slice(0, 64) });
  }
  if (opts.service !== undefined && credential.service !== opts.service) {
    throw new SigV4Error('scope', `Credential should be scoped to correct service: '${opts.service}'. `, { accessKeyId: credential.accessKeyId, service: credential.service.slice(0, 64) });
  }

  const secret = lookup(credential.accessKeyId);
  if (secret === undefined) throw new SigV4Error('unknown-key', AUTH_FAILURE_MESSAGE, { accessKeyId: credential.accessKeyId.slice(0, 128) });

  const now = opts.now.getTime();
  const skew = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  let expiresAt: Date | undefined;
  if (signedAt.getTime() - now > skew) throw new SigV4Error('expired', 'Request is not yet valid: its date is more than 15 minutes in the future.');
  if (expiresSeconds !== undefined) {
    expiresAt = new Date(signedAt.getTime() + expiresSeconds * 1000);
    if (now > expiresAt.getTime()) throw new SigV4Error('expired', 'Request has expired.');
  } else if (now - signedAt.getTime() > skew) {
    throw new SigV4Error('expired', 'Request has expired.');
  }

  // Which payload hashes the signer may have used.
  const bodyHash = req.body.length === 0 ? EMPTY_SHA256 : sha256Hex(req.body);
  const declared = headerString(req.headers, 'x-amz-content-sha256');
  const unsignedOk = req.body.length === 0 || opts.allowUnsignedPayload === true;
  const candidates: { hash: string; signed: boolean }[] = [];
  if (declared !== undefined) {
    if (declared === UNSIGNED_PAYLOAD) {
      if (!unsignedOk) throw new SigV4Error('payload', `${AUTH_FAILURE_MESSAGE}. UNSIGNED-PAYLOAD is not accepted for a request with a body.`);
      candidates.push({ hash: UNSIGNED_PAYLOAD, signed: req.body.length === 0 });
    } else if (declared.toLowerCase() === bodyHash) {
      candidates.push({ hash: declared, signed: true });
    } else {
      throw new SigV4Error('payload', `${AUTH_FAILURE_MESSAGE}. The x-amz-content-sha256 header does not match the body.`);
    }
  } else {
    candidates.push({ hash: bodyHash, signed: true });
    // Presigned URLs are signed over UNSIGNED-PAYLOAD by botocore and the AWS CLI.
    if (presigned && unsignedOk) candidates.push({ hash: UNSIGNED_PAYLOAD, signed: req.body.length === 0 });
  }

  const key = deriveSigningKey(secret.secretAccessKey, credential.date, credential.region, credential.service);
  const scope = credentialScope(credential.date, credential.region, credential.service);
  let match: { hash: string; signed: boolean } | undefined;
  for (const c of candidates) {
    const canonical = canonicalRequest({
      method: req.method,
      path: req.path,
      query: pairs,
      headers: req.headers,
      signedHeaders,
      payloadHash: c.hash,
      ...(presigned ? { excludeQuery: PRESIGN.signature } : {}),
    });
    const expected = signatureBytes(key, stringToSign(amzDate, scope, canonical));
    // Every candidate is compared, so timing does not reveal which one matched.
    if (signatureMatches(presented.signature, expected) && match === undefined) match = c;
  }
  if (match === undefined) throw new SigV4Error('bad-signature', AUTH_FAILURE_MESSAGE, { accessKeyId: credential.accessKeyId });

  return {
    accessKeyId: credential.accessKeyId,
    region: credential.region,
    service: credential.service,
    signedHeaders,
    presigned,
    payloadSigned: match.signed,
    signedAt,
    expiresAt,
  };
}
