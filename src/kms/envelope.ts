// AES-256-GCM under one version of a KMS key's material, in the blob format of
// ./protocol/ciphertext-blob.ts.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KmsError } from './errors.js';
import { BLOB_IV_BYTES, decodeBlob, encodeBlob, encodeBlobHeader, encodeEncryptionContext, type EncryptionContext, type ParsedBlob } from './protocol/ciphertext-blob.js';

export const MATERIAL_BYTES = 32;

export function sealBlob(material: Buffer, keyId: string, materialVersion: number, plaintext: Buffer, ctx: EncryptionContext | undefined): Buffer {
  const header = encodeBlobHeader({ keyId, materialVersion, iv: randomBytes(BLOB_IV_BYTES) });
  const c = createCipheriv('aes-256-gcm', material, header.subarray(header.length - BLOB_IV_BYTES));
  c.setAAD(Buffer.concat([header, encodeEncryptionContext(ctx)]));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return encodeBlob(header, ct, c.getAuthTag());
}

/** Opens a parsed blob; InvalidCiphertextException when the key, context or bytes do not match. */
export function openBlob(material: Buffer, blob: ParsedBlob, ctx: EncryptionContext | undefined): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', material, blob.iv);
    d.setAAD(Buffer.concat([blob.header, encodeEncryptionContext(ctx)]));
    d.setAuthTag(blob.tag);
    return Buffer.concat([d.update(blob.ciphertext), d.final()]);
  } catch (e) {
    throw new KmsError('InvalidCiphertextException', 'The ciphertext is not valid.', { keyId: blob.keyId }, { cause: e });
  }
}

export { decodeBlob };
