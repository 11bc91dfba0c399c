// COSE_Sign1 (RFC 9052 §4.2) as AWS Nitro attestation documents use it:
//   COSE_Sign1 = #6.18([ protected: bstr .cbor {1: -35}, unprotected: {}, payload: bstr, signature: bstr ])
// and the bytes the signature covers (§4.4):
//   Sig_structure = [ "Signature1", protected, external_aad: h'', payload ]
// ES384 (alg -35) signatures are the raw r || s, 48 bytes each. Pure: no keys, no I/O; the
// caller signs and verifies the Sig_structure bytes.
import { SecurityChipError } from '../errors.js';
import { CborTagged, decodeCbor, encodeCbor, type CborMap, type CborValue } from './cbor.js';

export const COSE_SIGN1_TAG = 18;
export const COSE_HEADER_ALG = 1;
export const COSE_ALG_ES384 = -35;
export const ES384_SIGNATURE_BYTES = 96;

export interface CoseSign1 {
  /** The serialized protected header exactly as carried (and signed). */
  readonly protectedBytes: Buffer;
  readonly protectedHeader: CborMap;
  readonly unprotected: CborMap;
  readonly payload: Buffer;
  readonly signature: Buffer;
  readonly tagged: boolean;
}

function malformed(reason: string, cause?: unknown): SecurityChipError {
  return new SecurityChipError('CoseMalformed', 'invalid', `The COSE_Sign1 structure is malformed: ${reason}.`, { reason }, cause === undefined ? undefined : { cause });
}

/** The protected header {1: alg}, serialized. */
export function protectedHeaderBytes(alg: number = COSE_ALG_ES384): Buffer {
  return encodeCbor(new Map([[COSE_HEADER_ALG, alg]]));
}

/** The bytes a COSE_Sign1 signature covers. */
export function sigStructure(protectedBytes: Buffer, payload: Buffer, externalAad: Buffer = Buffer.alloc(0)): Buffer {
  return encodeCbor(['Signature1', protectedBytes, externalAad, payload]);
}

/** Serializes a COSE_Sign1, tagged 18 unless tagged is false. */
export function encodeSign1(p: { protectedBytes: Buffer; unprotected?: CborMap; payload: Buffer; signature: Buffer }, tagged = true): Buffer {
  const arr: CborValue[] = [p.protectedBytes, p.unprotected ?? new Map(), p.payload, p.signature];
  return encodeCbor(tagged ? new CborTagged(COSE_SIGN1_TAG, arr) : arr);
}

/** Parses a COSE_Sign1 (tagged 18 or untagged). Throws CborMalformed or CoseMalformed. */
export function decodeSign1(bytes: Uint8Array, opts: { maxBytes?: number } = {}): CoseSign1 {
  const top = decodeCbor(bytes, { maxBytes: opts.maxBytes ?? 64 * 1024, maxDepth: 8, allowedTags: [COSE_SIGN1_TAG] });
  const tagged = top instanceof CborTagged;
  const body = top instanceof CborTagged ? top.value : top;
  if (!Array.isArray(body)) throw malformed('the top item is not an array');
  const arr = body as readonly CborValue[];
  if (arr.length !== 4) throw malformed(`the array has ${arr.length} items, not 4`);
  const [prot, unprot, payload, signature] = arr;
  if (!Buffer.isBuffer(prot)) throw malformed('the protected header is not a byte string');
  if (!(unprot instanceof Map)) throw malformed('the unprotected header is not a map');
  if (!Buffer.isBuffer(payload)) throw malformed('the payload is not a byte string (detached payloads are not supported)');
  if (!Buffer.isBuffer(signature)) throw malformed('the signature is not a byte string');
  let protectedHeader: CborValue;
  try {
    protectedHeader = prot.length === 0 ? new Map() : decodeCbor(prot, { maxBytes: 1024, maxDepth: 4, allowedTags: [] });
  } catch (e) {
    throw malformed('the protected header is not a CBOR map', e);
  }
  if (!(protectedHeader instanceof Map)) throw malformed('the protected header is not a CBOR map');
  return { protectedBytes: prot, protectedHeader, unprotected: unprot, payload, signature, tagged };
}
