// Reads the signature's parameters out of a request: the Authorization header
//   AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=…
// or a presigned query (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders, X-Amz-Signature). Malformed input is a SigV4Error('malformed').
import { ALGORITHM } from './encoding.js';
import { SigV4Error } from './errors.js';

export interface SigV4Credential {
  readonly accessKeyId: string;
  /** YYYYMMDD */
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

export interface SigV4Presented {
  readonly credential: SigV4Credential;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const SCOPE_DATE = /^[0-9]{8}$/;
const AMZ_DATE = /^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$/;
const MAX_FIELD = 4096;

const malformed = (message: string, context: Record<string, unknown> = {}): SigV4Error => new SigV4Error('malformed', message, context);

export function parseCredential(value: string): SigV4Credential {
  const parts = value.split('/');
  if (parts.length !== 5) throw malformed('The Credential must be AccessKeyId/date/region/service/aws4_request.');
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  if (accessKeyId === '' || region === '' || service === '') throw malformed('The Credential has an empty component.');
  if (!SCOPE_DATE.test(date)) throw malformed('The Credential date must be YYYYMMDD.');
  if (terminator !== 'aws4_request') throw malformed("The Credential must end with 'aws4_request'.");
  return { accessKeyId, date, region, service };
}

export function parseSignedHeaders(value: string): string[] {
  const names = value.split(';');
  for (const n of names) if (!HEADER_NAME.test(n)) throw malformed('SignedHeaders must be lower-case header names separated by semicolons.');
  return names;
}

/** Parses AWS's basic ISO 8601 form (20150830T123600Z) strictly; undefined when invalid. */
export function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || t.getUTCHours() !== h || t.getUTCMinutes() !== mi || t.getUTCSeconds() !== s) {
    return undefined;
  }
  return t;
}

export function formatAmzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.[0-9]{3}/, '');
}

/** Parses an Authorization header value. */
export function parseAuthorizationHeader(value: string): SigV4Presented {
  if (value.length > MAX_FIELD) throw malformed('The Authorization header is too long.');
  const sp = value.indexOf(' ');
  const algorithm = sp < 0 ? value : value.slice(0, sp);
  if (algorithm !== ALGORITHM) throw malformed(`Unsupported Authorization algorithm; only ${ALGORITHM} is accepted.`);
  const fields = new Map<string, string>();
  for (const raw of value.slice(sp + 1).split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw malformed(`Authorization header field '${item.slice(0, 32)}' is not name=value.`);
    const k = item.slice(0, eq);
    if (fields.has(k)) throw malformed(`Authorization header field ${k.slice(0, 32)} is given twice.`);
    fields.set(k, item.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  const absent = [credential === undefined ? 'Credential' : '', signedHeaders === undefined ? 'SignedHeaders' : '', signature === undefined ? 'Signature' : ''].filter((x) => x !== '');
  if (absent.length > 0) throw malformed(`Authorization header requires ${absent.map((a) => `'${a}'`).join(', ')} parameter(s).`);
  return {
    credential: parseCredential(credential as string),
    signedHeaders: parseSignedHeaders(signedHeaders as string),
    signature: signature as string,
  };
}

/** The presigned-query parameter names. */
export const PRESIGN = {
  algorithm: 'X-Amz-Algorithm',
  credential: 'X-Amz-Credential',
  date: 'X-Amz-Date',
  expires: 'X-Amz-Expires',
  signedHeaders: 'X-Amz-SignedHeaders',
  signature: 'X-Amz-Signature',
  securityToken: 'X-Amz-Security-Token',
} as const;

/** The longest a presigned URL may live (7 days), as in AWS. */
export const MAX_PRESIGN_EXPIRES_SECONDS = 604800;

export interface PresignedQuery extends SigV4Presented {
  readonly amzDate: string;
  readonly expiresSeconds: number;
}

/** Parses the X-Amz-* parameters of a presigned request (decoded pairs). */
export function parsePresignedQuery(pairs: readonly (readonly [string, string])[]): PresignedQuery {
  const get = (name: string): string => {
    let found: string | undefined;
    for (const [k, v] of pairs) {
      if (k !== name) continue;
      if (found !== undefined) throw malformed(`The query parameter ${name} is given twice.`);
      found = v;
    }
    if (found === undefined) throw malformed(`A presigned request requires the query parameter ${name}.`);
    if (found.length > MAX_FIELD) throw malformed(`The query parameter ${name} is too long.`);
    return found;
  };
  const algorithm = get(PRESIGN.algorithm);
  if (algorithm !== ALGORITHM) throw malformed(`Unsupported X-Amz-Algorithm; only ${ALGORITHM} is accepted.`);
  const expires = get(PRESIGN.expires);
  if (!/^[0-9]{1,7}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGN_EXPIRES_SECONDS) {
    throw malformed(`X-Amz-Expires must be a number of seconds from 1 to ${MAX_PRESIGN_EXPIRES_SECONDS}.`);
  }
  return {
    credential: parseCredential(get(PRESIGN.credential)),
    signedHeaders: parseSignedHeaders(get(PRESIGN.signedHeaders)),
    signature: get(PRESIGN.signature),
    amzDate: get(PRESIGN.date),
    expiresSeconds: Number(expires),
  };
}
