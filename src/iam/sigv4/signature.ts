// Step 4 of SigV4: the signature, and its constant-time comparison.
import { timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from './encoding.js';

/** Hex(HMAC(signingKey, stringToSign)), as raw bytes. */
export function signatureBytes(signingKey: Uint8Array, stringToSign: string): Buffer {
  return hmacSha256(signingKey, stringToSign);
}

export function signatureHex(signingKey: Uint8Array, stringToSign: string): string {
  return signatureBytes(signingKey, stringToSign).toString('hex');
}

const SIGNATURE_HEX = /^[0-9a-f]{64}$/;

/** Compares a presented hex signature with the expected bytes in constant time. */
export function signatureMatches(presentedHex: string, expected: Buffer): boolean {
  if (!SIGNATURE_HEX.test(presentedHex)) return false;
  const presented = Buffer.from(presentedHex, 'hex');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}
