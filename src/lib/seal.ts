// Sealing a small secret (a volume's data key) to one recipient's X25519 public key,
// HPKE-style (base mode, one shot): an ephemeral X25519 key pair, the shared secret
// through HKDF-SHA256 into an AES-256-GCM key, the additional data authenticated. Whoever
// relays the blob (the controller) cannot open it; only the holder of the private key
// (the EBS card, which never writes it anywhere) can.
//
//   blob = 0x01 | ephemeral public key (32) | nonce (12) | ciphertext | tag (16)
//   key  = HKDF-SHA256(ikm = X25519(eph, recipient), salt = eph_pub | recipient_pub, info = "nitride-seal-v1")
import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { NitrideError } from './errors.js';

const VERSION = 1;
const INFO = Buffer.from('nitride-seal-v1');
const HEADER = 1 + 32 + 12;
const TAG = 16;

export class SealError extends NitrideError {}

export interface SealKeyPair {
  /** Raw 32-byte X25519 public key. */
  readonly publicKey: Buffer;
  readonly privateKey: KeyObject;
}

export function generateSealKeyPair(): SealKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: rawPublic(publicKey), privateKey };
}

function rawPublic(k: KeyObject): Buffer {
  const jwk = k.export({ format: 'jwk' });
  return Buffer.from(String(jwk.x), 'base64url');
}

function publicFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new SealError('SEAL_BAD_KEY', 'invalid', 'An X25519 public key is 32 bytes.', { length: raw.length });
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function derive(shared: Buffer, eph: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([eph, recipient]), INFO, 32));
}

/** Seals plaintext to the recipient's raw X25519 public key; aad is authenticated, not hidden. */
export function sealTo(recipientPublicKey: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = Buffer.alloc(0)): Buffer {
  const recipient = Buffer.from(recipientPublicKey);
  const recipientKey = publicFromRaw(recipient);
  const eph = generateKeyPairSync('x25519');
  const ephRaw = rawPublic(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipientKey });
  const key = derive(shared, ephRaw, recipient);
  shared.fill(0);
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  key.fill(0);
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([Buffer.from([VERSION]), ephRaw, nonce, body, c.getAuthTag()]);
}

/** Opens a blob sealed to this key pair; throws SEAL_OPEN_FAILED when it was not, or was altered. */
export function openSealed(pair: SealKeyPair, blob: Uint8Array, aad: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.from(blob);
  if (b.length < HEADER + TAG || b[0] !== VERSION) throw new SealError('SEAL_MALFORMED', 'invalid', 'The sealed blob is malformed.', { length: b.length });
  const ephRaw = b.subarray(1, 33);
  const nonce = b.subarray(33, HEADER);
  const body = b.subarray(HEADER, b.length - TAG);
  const tag = b.subarray(b.length - TAG);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: pair.privateKey, publicKey: publicFromRaw(ephRaw) });
  } catch (e) {
    throw new SealError('SEAL_OPEN_FAILED', 'denied', 'The sealed blob cannot be opened with this key.', {}, { cause: e });
  }
  const key = derive(shared, Buffer.from(ephRaw), pair.publicKey);
  shared.fill(0);
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]);
  } catch (e) {
    throw new SealError('SEAL_OPEN_FAILED', 'denied', 'The sealed blob cannot be opened with this key (wrong recipient, altered blob or wrong additional data).', {}, { cause: e });
  } finally {
    key.fill(0);
  }
}

/** A key pair from a PKCS#8 private key (tests). */
export function sealKeyPairFrom(privateKey: KeyObject): SealKeyPair {
  return { publicKey: rawPublic(createPublicKey(privateKey)), privateKey };
}

