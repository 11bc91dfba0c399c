// Step 1 of SigV4: the canonical request.
//   Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HashedPayload
// CanonicalURI: the path as it appears on the request line, with dot segments resolved and
// empty segments removed (non-S3 services normalise), each segment UriEncoded — so a path that
// arrived percent-encoded is encoded a second time, as AWS specifies for every service but S3.
// CanonicalQueryString: every name=value decoded then UriEncoded, sorted by name then value.
// Decoding is form decoding, '+' included (a space), exactly as the Query parameter parser
// (src/region/protocol/query.ts) reads the same string: the signature covers the values the
// service acts on. Signers encode a space as %20 and '+' as %2B (botocore, the SDKs and
// sign.ts), so a '+' sent literally reads as a space here too and changes the signature.
// CanonicalHeaders: the signed headers, lower-case, values trimmed with inner whitespace runs
// collapsed, repeated headers joined with ','.
import { percentDecode, uriEncode } from './encoding.js';

export type HeaderValue = string | readonly string[] | undefined;
export type HeaderMap = Readonly<Record<string, HeaderValue>>;

/** The canonical URI of a request-line path (no query). */
export function canonicalUri(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  let uri = `/${out.map(uriEncode).join('/')}`;
  if (out.length > 0 && path.endsWith('/')) uri += '/';
  return uri;
}

/** Form-decodes one name or value of a query: '+' is a space, then %XX escapes. */
export function formDecode(s: string): string {
  return percentDecode(s.includes('+') ? s.replace(/\+/g, ' ') : s);
}

/** Splits a raw query string into form-decoded [name, value] pairs (a name without '=' has value ''). */
export function parseQueryPairs(rawQuery: string): [string, string][] {
  const pairs: [string, string][] = [];
  if (rawQuery === '') return pairs;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    pairs.push(eq < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
  }
  return pairs;
}

/** The canonical query string of decoded pairs, leaving out any name in `exclude`. */
export function canonicalQueryString(pairs: readonly (readonly [string, string])[], exclude?: string): string {
  const enc: [string, string][] = [];
  for (const [k, v] of pairs) if (k !== exclude) enc.push([uriEncode(k), uriEncode(v)]);
  enc.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return enc.map(([k, v]) => `${k}=${v}`).join('&');
}

/** One header's canonical value: repeated values joined by ',', each trimmed with whitespace runs collapsed. */
export function canonicalHeaderValue(value: HeaderValue): string {
  const values = value === undefined ? [] : typeof value === 'string' ? [value] : value;
  return values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
}

/** The CanonicalHeaders block (each line ends with \n) for the given signed header names. */
export function canonicalHeaders(headers: HeaderMap, signedHeaders: readonly string[]): string {
  let out = '';
  for (const name of signedHeaders) out += `${name}:${canonicalHeaderValue(headers[name])}\n`;
  return out;
}

export interface CanonicalRequestParts {
  readonly method: string;
  readonly path: string;
  /** Decoded query pairs. */
  readonly query: readonly (readonly [string, string])[];
  /** Header names lower-case. */
  readonly headers: HeaderMap;
  /** Lower-case, in the order they are signed (sorted by the signer). */
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
  /** Query parameter left out (X-Amz-Signature when verifying a presigned request). */
  readonly excludeQuery?: string;
}

export function canonicalRequest(p: CanonicalRequestParts): string {
  return [
    p.method.toUpperCase(),
    canonicalUri(p.path),
    canonicalQueryString(p.query, p.excludeQuery),
    canonicalHeaders(p.headers, p.signedHeaders),
    p.signedHeaders.join(';'),
    p.payloadHash,
  ].join('\n');
}
