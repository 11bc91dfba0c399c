// The ciphertext blob: what Encrypt and GenerateDataKey return and Decrypt takes (base64 on
// the JSON wire). Nitride's own versioned binary format; it names its key and material
// version, so Decrypt needs no KeyId and rotated keys still open old blobs.
//
//   offset   size  field
//   0        4     magic "NKMS"
//   4        1     format version (1)
//   5        1     L = key id length (1..64, ASCII)
//   6        L     key id
//   6+L      4     key material version, uint32 big-endian (≥ 1)
//   10+L     12    AES-256-GCM IV
//   22+L     n     ciphertext (n ≥ 0)
//   end-16   16    GCM tag
//
// The GCM additional authenticated data is the header (bytes 0 .. 22+L, IV included)
// followed by the canonical encoding of the encryption context, so changing any header byte
// or the context makes Decrypt fail. Canonical context encoding: uint32 BE pair count, then
// for each pair in UTF-8 byte order of its key: uint16 BE key length, key bytes, uint16 BE
// value length, value bytes.
//
// Pure: bytes in, fields out. The cryptography is in ../envelope.ts.
import { KmsError } from '../errors.js';

export const BLOB_MAGIC = Buffer.from('NKMS', 'ascii');
export const BLOB_FORMAT_V1 = 1;
export const BLOB_IV_BYTES = 12;
export const BLOB_TAG_BYTES = 16;
export const MAX_KEY_ID_BYTES = 64;

export interface BlobHeader {
  readonly keyId: string;
  readonly materialVersion: number;
  readonly iv: Buffer;
}

export interface ParsedBlob extends BlobHeader {
  /** The header bytes, the first part of the AAD. */
  readonly header: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

const invalid = (why: string): KmsError => new KmsError('InvalidCiphertextException', 'The ciphertext is not valid.', { why });

/** The header bytes for a new blob. */
export function encodeBlobHeader(h: BlobHeader): Buffer {
  const id = Buffer.from(h.keyId, 'ascii');
  if (id.length < 1 || id.length > MAX_KEY_ID_BYTES || !/^[\x21-\x7e]+$/.test(h.keyId)) throw new RangeError('A blob key id must be 1..64 printable ASCII characters.');
  if (!Number.isInteger(h.materialVersion) || h.materialVersion < 1 || h.materialVersion > 0xffffffff) throw new RangeError('A material version must be a uint32 ≥ 1.');
  if (h.iv.length !== BLOB_IV_BYTES) throw new RangeError(`The IV must be ${BLOB_IV_BYTES} bytes.`);
  const out = Buffer.alloc(6 + id.length + 4 + BLOB_IV_BYTES);
  BLOB_MAGIC.copy(out, 0);
  out[4] = BLOB_FORMAT_V1;
  out[5] = id.length;
  id.copy(out, 6);
  out.writeUInt32BE(h.materialVersion, 6 + id.length);
  h.iv.copy(out, 10 + id.length);
  return out;
}

export function encodeBlob(header: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
  if (tag.length !== BLOB_TAG_BYTES) throw new RangeError(`The tag must be ${BLOB_TAG_BYTES} bytes.`);
  return Buffer.concat([header, ciphertext, tag]);
}

/** Splits a blob into its fields; InvalidCiphertextException for anything that is not a v1 blob. */
export function decodeBlob(blob: Uint8Array): ParsedBlob {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < 6) throw invalid('too short');
  if (!b.subarray(0, 4).equals(BLOB_MAGIC)) throw invalid('bad magic');
  if (b[4] !== BLOB_FORMAT_V1) throw invalid('unknown format version');
  const L = b[5] ?? 0;
  if (L < 1 || L > MAX_KEY_ID_BYTES) throw invalid('bad key id length');
  const headerLen = 6 + L + 4 + BLOB_IV_BYTES;
  if (b.length < headerLen + BLOB_TAG_BYTES) throw invalid('too short');
  const keyId = b.toString('latin1', 6, 6 + L);
  if (!/^[\x21-\x7e]+$/.test(keyId)) throw invalid('bad key id');
  const materialVersion = b.readUInt32BE(6 + L);
  if (materialVersion < 1) throw invalid('bad material version');
  return {
    keyId,
    materialVersion,
    iv: Buffer.from(b.subarray(10 + L, headerLen)),
    header: Buffer.from(b.subarray(0, headerLen)),
    ciphertext: Buffer.from(b.subarray(headerLen, b.length - BLOB_TAG_BYTES)),
    tag: Buffer.from(b.subarray(b.length - BLOB_TAG_BYTES)),
  };
}

export type EncryptionContext = Readonly<Record<string, string>>;

/** The canonical bytes of an encryption context (order-independent). */
export function encodeEncryptionContext(ctx: EncryptionContext | undefined): Buffer {
  const pairs = Object.entries(ctx ?? {}).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(pairs.length);
  parts.push(count);
  for (const [k, v] of pairs) {
    if (k.length > 0xffff || v.length > 0xffff) throw new RangeError('An encryption context entry is too long.');
    const kl = Buffer.alloc(2);
    kl.writeUInt16BE(k.length);
    const vl = Buffer.alloc(2);
    vl.writeUInt16BE(v.length);
    parts.push(kl, k, vl, v);
  }
  return Buffer.concat(parts);
}
