// The payload of an attestation document, shaped like AWS Nitro's (the CBOR map inside the
// COSE_Sign1):
//   { module_id: tstr, digest: "SHA384", timestamp: uint (ms since the epoch),
//     pcrs: { uint => bstr .size 48 }, certificate: bstr (DER), cabundle: [+ bstr (DER)],
//     public_key: bstr / null, user_data: bstr / null, nonce: bstr / null }
// Encoded in AWS's key order, with absent optional fields as null as AWS does. The decoder
// is strict: unknown or missing keys, wrong types and out-of-range sizes are refused with
// AttestationMalformed naming the field. Pure.
import { SecurityChipError } from '../errors.js';
import { decodeCbor, encodeCbor, type CborMap, type CborValue } from './cbor.js';

export const PCR_COUNT = 32; // indices 0..31 as in Nitro
export const PCR_BYTES = 48; // sha384
export const MAX_USER_DATA = 512;
export const MAX_NONCE = 512;
export const MAX_PUBLIC_KEY = 1024;
export const MAX_CERT = 4096;
export const MAX_CABUNDLE = 8;

export interface AttestationPayload {
  readonly moduleId: string;
  readonly digest: 'SHA384';
  readonly timestamp: number;
  /** PCR index → 48-byte value, in ascending index order. */
  readonly pcrs: ReadonlyMap<number, Buffer>;
  readonly certificate: Buffer;
  readonly cabundle: readonly Buffer[];
  readonly publicKey: Buffer | null;
  readonly userData: Buffer | null;
  readonly nonce: Buffer | null;
}

const KEYS = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'] as const;

function malformed(field: string, reason: string, cause?: unknown): SecurityChipError {
  return new SecurityChipError('AttestationMalformed', 'invalid', `The attestation document's ${field} ${reason}.`, { field, reason }, cause === undefined ? undefined : { cause });
}

function checkBytes(field: string, v: Buffer | null, min: number, max: number): void {
  if (v !== null && (v.length < min || v.length > max)) throw malformed(field, `is ${v.length} bytes; ${min}..${max} are allowed`);
}

/** Checks a payload's invariants (also used before encoding, so a bad one is never signed). */
export function validatePayload(p: AttestationPayload): void {
  if (p.moduleId.length === 0 || p.moduleId.length > 256) throw malformed('module_id', 'must be 1..256 characters');
  if (p.digest !== 'SHA384') throw malformed('digest', 'must be "SHA384"');
  if (!Number.isSafeInteger(p.timestamp) || p.timestamp <= 0) throw malformed('timestamp', 'must be a positive integer of milliseconds');
  if (p.pcrs.size === 0 || p.pcrs.size > PCR_COUNT) throw malformed('pcrs', `must hold 1..${PCR_COUNT} registers`);
  for (const [i, v] of p.pcrs) {
    if (!Number.isInteger(i) || i < 0 || i >= PCR_COUNT) throw malformed('pcrs', `has the index ${i}, outside 0..${PCR_COUNT - 1}`);
    if (v.length !== PCR_BYTES) throw malformed('pcrs', `has PCR ${i} of ${v.length} bytes, not ${PCR_BYTES}`);
  }
  checkBytes('certificate', p.certificate, 1, MAX_CERT);
  if (p.cabundle.length === 0 || p.cabundle.length > MAX_CABUNDLE) throw malformed('cabundle', `must hold 1..${MAX_CABUNDLE} certificates`);
  for (const c of p.cabundle) checkBytes('cabundle', c, 1, MAX_CERT);
  checkBytes('public_key', p.publicKey, 1, MAX_PUBLIC_KEY);
  checkBytes('user_data', p.userData, 0, MAX_USER_DATA);
  checkBytes('nonce', p.nonce, 0, MAX_NONCE);
}

export function encodeAttestationPayload(p: AttestationPayload): Buffer {
  validatePayload(p);
  const pcrs = new Map([...p.pcrs].sort(([a], [b]) => a - b));
  const m: CborMap = new Map<string, CborValue>([
    ['module_id', p.moduleId],
    ['digest', p.digest],
    ['timestamp', p.timestamp],
    ['pcrs', pcrs],
    ['certificate', p.certificate],
    ['cabundle', [...p.cabundle]],
    ['public_key', p.publicKey],
    ['user_data', p.userData],
    ['nonce', p.nonce],
  ]);
  return encodeCbor(m);
}

function bytesOrNull(m: CborMap, k: string): Buffer | null {
  const v = m.get(k);
  if (v === undefined || v === null) return null;
  if (!Buffer.isBuffer(v)) throw malformed(k, 'is not a byte string or null');
  return v;
}

export function decodeAttestationPayload(bytes: Uint8Array): AttestationPayload {
  let top: CborValue;
  try {
    top = decodeCbor(bytes, { maxBytes: 64 * 1024, maxDepth: 4, allowedTags: [] });
  } catch (e) {
    throw malformed('payload', 'is not valid CBOR', e);
  }
  if (!(top instanceof Map)) throw malformed('payload', 'is not a CBOR map');
  for (const k of top.keys()) {
    if (typeof k !== 'string' || !(KEYS as readonly string[]).includes(k)) throw malformed('payload', `has the unknown key ${JSON.stringify(String(k)).slice(0, 80)}`);
  }
  const moduleId = top.get('module_id');
  if (typeof moduleId !== 'string') throw malformed('module_id', 'is missing or not a text string');
  const digest = top.get('digest');
  if (digest !== 'SHA384') throw malformed('digest', 'is not "SHA384"');
  const timestamp = top.get('timestamp');
  if (typeof timestamp !== 'number') throw malformed('timestamp', 'is missing or not an unsigned integer that fits');
  const pcrsRaw = top.get('pcrs');
  if (!(pcrsRaw instanceof Map)) throw malformed('pcrs', 'is missing or not a map');
  const pcrs = new Map<number, Buffer>();
  for (const [i, v] of pcrsRaw) {
    if (typeof i !== 'number') throw malformed('pcrs', 'has a key that is not an unsigned integer');
    if (!Buffer.isBuffer(v)) throw malformed('pcrs', `has PCR ${i} that is not a byte string`);
    pcrs.set(i, v);
  }
  const certificate = top.get('certificate');
  if (!Buffer.isBuffer(certificate)) throw malformed('certificate', 'is missing or not a byte string');
  const cab = top.get('cabundle');
  if (!Array.isArray(cab)) throw malformed('cabundle', 'is missing or not an array');
  const cabundle = (cab as readonly CborValue[]).map((c) => {
    if (!Buffer.isBuffer(c)) throw malformed('cabundle', 'holds an item that is not a byte string');
    return c;
  });
  const p: AttestationPayload = {
    moduleId,
    digest,
    timestamp,
    pcrs,
    certificate,
    cabundle,
    publicKey: bytesOrNull(top, 'public_key'),
    userData: bytesOrNull(top, 'user_data'),
    nonce: bytesOrNull(top, 'nonce'),
  };
  validatePayload(p);
  return p;
}
