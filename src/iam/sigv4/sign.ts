// A SigV4 signer for our own tests and benchmarks (the real clients use their SDKs' signers).
//   signRequest(req, creds, { region, service, now })     → headers with x-amz-date and authorization
//   presignRequest(req, creds, { …, expiresIn })           → the query string with X-Amz-* parameters
import { canonicalRequest, parseQueryPairs } from './canonical-request.js';
import { ALGORITHM, EMPTY_SHA256, UNSIGNED_PAYLOAD, sha256Hex, uriEncode } from './encoding.js';
import { PRESIGN, formatAmzDate } from './parse.js';
import { deriveSigningKey } from './signing-key.js';
import { signatureHex } from './signature.js';
import { credentialScope, stringToSign } from './string-to-sign.js';

export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Session credentials' token (STS): presignRequest puts it in the query as X-Amz-Security-Token, signed. */
  readonly sessionToken?: string;
}

export interface SignableRequest {
  readonly method: string;
  /** Request-line path, as it will be sent. */
  readonly path: string;
  /** Raw query string without '?' ('' when none). */
  readonly query: string;
  /** Headers to send and sign; must include host. Names in any case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

export interface SignOptions {
  readonly region: string;
  readonly service: string;
  readonly now?: Date;
  /** Add and sign x-amz-content-sha256 (its value is the body hash, or UNSIGNED-PAYLOAD when unsignedPayload). */
  readonly contentSha256Header?: boolean;
  readonly unsignedPayload?: boolean;
}

export interface SignedRequest {
  /** All headers to send (lower-case names): the inputs plus x-amz-date, authorization (and x-amz-content-sha256). */
  readonly headers: Record<string, string>;
  readonly authorization: string;
  readonly signature: string;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
}

function lowerHeaders(h: Readonly<Record<string, string>>): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of Object.entries(h)) (out[k.toLowerCase()] ??= []).push(v);
  return out;
}

function bodyBytes(body: string | Uint8Array | undefined): Uint8Array {
  if (body === undefined) return new Uint8Array(0);
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

export function signRequest(req: SignableRequest, creds: SigningCredentials, opts: SignOptions): SignedRequest {
  const now = opts.now ?? new Date();
  const amzDate = formatAmzDate(now);
  const date = amzDate.slice(0, 8);
  const headers = lowerHeaders(req.headers);
  if (headers['host'] === undefined) throw new TypeError('signRequest needs a host header');
  const body = bodyBytes(req.body);
  const payloadHash = opts.unsignedPayload === true ? UNSIGNED_PAYLOAD : body.length === 0 ? EMPTY_SHA256 : sha256Hex(body);
  headers['x-amz-date'] = [amzDate];
  if (opts.contentSha256Header === true) headers['x-amz-content-sha256'] = [payloadHash];
  delete headers['authorization'];
  const signedHeaders = Object.keys(headers).sort();
  const canonical = canonicalRequest({ method: req.method, path: req.path, query: parseQueryPairs(req.query), headers, signedHeaders, payloadHash });
  const scope = credentialScope(date, opts.region, opts.service);
  const sts = stringToSign(amzDate, scope, canonical);
  const signature = signatureHex(deriveSigningKey(creds.secretAccessKey, date, opts.region, opts.service), sts);
  const authorization = `${ALGORITHM} Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) flat[k] = v.join(',');
  flat['authorization'] = authorization;
  return { headers: flat, authorization, signature, canonicalRequest: canonical, stringToSign: sts };
}

export interface PresignOptions extends SignOptions {
  readonly expiresIn: number;
}

export interface PresignedRequest {
  /** The full query string to send (the original parameters plus the X-Amz-* ones). */
  readonly query: string;
  readonly signature: string;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
}

/** Presigns like botocore does: only host (and any given headers) signed, payload UNSIGNED-PAYLOAD unless signedPayload. */
export function presignRequest(req: SignableRequest, creds: SigningCredentials, opts: PresignOptions & { signedPayload?: boolean }): PresignedRequest {
  const now = opts.now ?? new Date();
  const amzDate = formatAmzDate(now);
  const date = amzDate.slice(0, 8);
  const headers = lowerHeaders(req.headers);
  if (headers['host'] === undefined) throw new TypeError('presignRequest needs a host header');
  const signedHeaders = Object.keys(headers).sort();
  const scope = credentialScope(date, opts.region, opts.service);
  const added: [string, string][] = [
    [PRESIGN.algorithm, ALGORITHM],
    [PRESIGN.credential, `${creds.accessKeyId}/${scope}`],
    [PRESIGN.date, amzDate],
    [PRESIGN.expires, String(opts.expiresIn)],
    [PRESIGN.signedHeaders, signedHeaders.join(';')],
    ...(creds.sessionToken !== undefined ? ([[PRESIGN.securityToken, creds.sessionToken]] as [string, string][]) : []),
  ];
  const pairs = [...parseQueryPairs(req.query), ...added];
  const body = bodyBytes(req.body);
  const payloadHash = opts.signedPayload === true ? (body.length === 0 ? EMPTY_SHA256 : sha256Hex(body)) : UNSIGNED_PAYLOAD;
  const canonical = canonicalRequest({ method: req.method, path: req.path, query: pairs, headers, signedHeaders, payloadHash });
  const sts = stringToSign(amzDate, scope, canonical);
  const signature = signatureHex(deriveSigningKey(creds.secretAccessKey, date, opts.region, opts.service), sts);
  const extra = [...added, [PRESIGN.signature, signature]].map(([k, v]) => `${uriEncode(k as string)}=${uriEncode(v as string)}`).join('&');
  return { query: req.query === '' ? extra : `${req.query}&${extra}`, signature, canonicalRequest: canonical, stringToSign: sts };
}
