// Byte-level helpers SigV4 is defined in terms of: RFC 3986 URI encoding of UTF-8 bytes
// (everything but A-Z a-z 0-9 - _ . ~ becomes %XX, upper-case hex), SHA-256 hex and HMAC-SHA256.
import { createHash, createHmac } from 'node:crypto';

const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;
const HEX = '0123456789ABCDEF';

function isUnreservedByte(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

/** SigV4's UriEncode: percent-encodes every UTF-8 byte outside the unreserved set. */
export function uriEncode(s: string): string {
  if (UNRESERVED.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += isUnreservedByte(b) ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/**
 * Decodes %XX escapes to bytes, then the bytes as UTF-8. Never throws: a malformed escape is
 * kept as literal text (so it is re-encoded as %25…, and simply fails to match a signature).
 */
export function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    const bytes: number[] = [];
    for (let i = 0; i < s.length; ) {
      if (s.charCodeAt(i) === 0x25 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
        bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
        i += 3;
      } else {
        const cp = s.codePointAt(i) as number;
        const ch = String.fromCodePoint(cp);
        for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
        i += ch.length;
      }
    }
    return Buffer.from(bytes).toString('utf8');
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmacSha256(key: string | Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** sha256 of the empty string, the payload hash of a request with no body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const ALGORITHM = 'AWS4-HMAC-SHA256';
