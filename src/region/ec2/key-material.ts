// Key pair material as EC2 makes and reads it. Pure but for node:crypto's randomness.
//
// CreateKeyPair: a fresh key, returned once in the chosen format and never kept:
//   rsa/pem      2048-bit RSA, unencrypted PKCS#1 PEM ("BEGIN RSA PRIVATE KEY");
//   ed25519/pem  OpenSSH's own container ("BEGIN OPENSSH PRIVATE KEY");
//   */ppk        a PuTTY private key file, version 2, unencrypted.
// ImportKeyPair: a public key in any format EC2 accepts: an OpenSSH line, an RFC 4716 file,
//   or a DER SubjectPublicKeyInfo / PKCS#1 RSAPublicKey, base64 or PEM.
// Fingerprints exactly as EC2 computes them (user guide, "Verify the fingerprint of your key pair"):
//   RSA created by EC2    SHA-1 of the DER PKCS#8 private key, hex pairs joined by ':'
//                         (openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c);
//   RSA imported          MD5 of the DER SubjectPublicKeyInfo, hex pairs joined by ':'
//                         (RFC 4716 §4; openssl pkey -pubout -outform DER | openssl md5 -c);
//   Ed25519 (both)        SHA-256 of the OpenSSH public key blob, base64 with its '=' padding
//                         (ssh-keygen -l prints the same digest as "SHA256:…" without padding).
import { createHash, createPublicKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { Ec2Error } from '../protocol/errors.js';
import { openSshLine, openSshPrivateKeyEd25519, parseOpenSshLine, parseRfc4716, ppkV2, publicBlob, type SshPublicKey } from '../protocol/ssh-keys.js';

export type KeyType = 'rsa' | 'ed25519';
export type KeyFormat = 'pem' | 'ppk';

/** EC2 creates 2048-bit RSA keys. */
export const CREATED_RSA_BITS = 2048;
/** RSA sizes ImportKeyPair takes (EC2 documents 1024, 2048 and 4096; OpenSSH's default 3072 is taken too). */
export const IMPORT_RSA_MIN_BITS = 1024;
export const IMPORT_RSA_MAX_BITS = 16384;

export interface CreatedKeyMaterial {
  readonly keyType: KeyType;
  /** The OpenSSH public key line, with the key name as its comment. */
  readonly publicKey: string;
  readonly fingerprint: string;
  /** The private key: shown once, never stored. */
  readonly keyMaterial: string;
}

export interface ImportedKeyMaterial {
  readonly keyType: KeyType;
  /** The OpenSSH public key line (the comment as given, or the key name when none was given). */
  readonly publicKey: string;
  readonly fingerprint: string;
}

const hexPairs = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1:');
const b64u = (b: Buffer): string => b.toString('base64url');
const fromB64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

/** RSA created by EC2: SHA-1 of the DER PKCS#8 private key. */
export function createdRsaFingerprint(pkcs8Der: Buffer): string {
  return hexPairs(createHash('sha1').update(pkcs8Der).digest());
}

/** RSA imported: MD5 of the DER SubjectPublicKeyInfo. */
export function importedRsaFingerprint(spkiDer: Buffer): string {
  return hexPairs(createHash('md5').update(spkiDer).digest());
}

/** Ed25519: base64 (padded) SHA-256 of the OpenSSH public key blob. */
export function ed25519Fingerprint(blob: Buffer): string {
  return createHash('sha256').update(blob).digest('base64');
}

function rsaSshKey(k: KeyObject): SshPublicKey & { type: 'rsa' } {
  const jwk = k.export({ format: 'jwk' });
  return { type: 'rsa', e: fromB64u(jwk.e), n: fromB64u(jwk.n) };
}

function rsaKeyObject(k: SshPublicKey & { type: 'rsa' }): KeyObject {
  try {
    return createPublicKey({ key: { kty: 'RSA', e: b64u(k.e), n: b64u(k.n) }, format: 'jwk' });
  } catch (e) {
    throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format: the RSA key cannot be read.', { cause: e });
  }
}

const generate = promisify(generateKeyPair);

/** A new key pair of `type` (made off the event loop), its private key rendered in `format`; `name` is the comment. */
export async function createKeyMaterial(type: KeyType, format: KeyFormat, name: string): Promise<CreatedKeyMaterial> {
  if (type === 'rsa') {
    const { privateKey, publicKey } = await generate('rsa', { modulusLength: CREATED_RSA_BITS, publicExponent: 0x10001 });
    const pub = rsaSshKey(publicKey);
    const fingerprint = createdRsaFingerprint(privateKey.export({ type: 'pkcs8', format: 'der' }));
    let keyMaterial: string;
    if (format === 'pem') {
      keyMaterial = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    } else {
      const j = privateKey.export({ format: 'jwk' });
      keyMaterial = ppkV2({ type: 'rsa', e: pub.e, n: pub.n, d: fromB64u(j.d), p: fromB64u(j.p), q: fromB64u(j.q), iqmp: fromB64u(j.qi) }, name);
    }
    return { keyType: 'rsa', publicKey: openSshLine(pub, name), fingerprint, keyMaterial };
  }
  const { privateKey } = await generate('ed25519', {});
  const j = privateKey.export({ format: 'jwk' });
  const seed = fromB64u(j.d);
  const pubKey = fromB64u(j.x);
  const ssh: SshPublicKey = { type: 'ed25519', key: pubKey };
  const keyMaterial = format === 'pem' ? openSshPrivateKeyEd25519(seed, pubKey, name, randomBytes(4).readUInt32BE()) : ppkV2({ type: 'ed25519', pub: pubKey, seed }, name);
  seed.fill(0);
  return { keyType: 'ed25519', publicKey: openSshLine(ssh, name), fingerprint: ed25519Fingerprint(publicBlob(ssh)), keyMaterial };
}

function fromKeyObject(k: KeyObject): SshPublicKey {
  if (k.asymmetricKeyType === 'rsa') return rsaSshKey(k);
  if (k.asymmetricKeyType === 'ed25519') return { type: 'ed25519', key: fromB64u(k.export({ format: 'jwk' }).x) };
  throw new Ec2Error('InvalidKeyPair.Format', `Key is not in valid OpenSSH public key format: ${k.asymmetricKeyType ?? 'this'} keys are not supported (RSA, ED25519).`);
}

/** A DER public key: SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey. */
function fromDer(der: Buffer): SshPublicKey {
  for (const type of ['spki', 'pkcs1'] as const) {
    let k: KeyObject;
    try {
      k = createPublicKey({ key: der, format: 'der', type });
    } catch {
      continue;
    }
    return fromKeyObject(k);
  }
  throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format.');
}

function fromPem(text: string): SshPublicKey {
  let k: KeyObject;
  try {
    k = createPublicKey({ key: text, format: 'pem' });
  } catch (e) {
    throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format: the PEM public key cannot be read.', { cause: e });
  }
  return fromKeyObject(k);
}

/** Reads the public key ImportKeyPair was given (the bytes behind its base64 PublicKeyMaterial). */
export function parseImportedPublicKey(material: Buffer): { readonly key: SshPublicKey; readonly comment: string } {
  const text = material.toString('utf8').trim();
  if (text.length === 0) throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format: it is empty.');
  if (text.startsWith('---- BEGIN SSH2 PUBLIC KEY ----')) return parseRfc4716(text);
  if (text.startsWith('-----BEGIN ')) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format: this is a private key; import only the public key.');
    return { key: fromPem(text), comment: '' };
  }
  if (/^(ssh-|ecdsa-|sk-)/.test(text)) return parseOpenSshLine(text);
  // Base64 of a DER public key (what EC2 calls "Base64 encoded DER format"), or raw DER bytes.
  const compact = text.replace(/\s+/g, '');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact) && compact.length % 4 === 0) return { key: fromDer(Buffer.from(compact, 'base64')), comment: '' };
  if (material[0] === 0x30) return { key: fromDer(material), comment: '' };
  throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format.');
}

/** ImportKeyPair: the key's type, its OpenSSH line and EC2's fingerprint for an imported key. */
export function importKeyMaterial(material: Buffer, name: string): ImportedKeyMaterial {
  const { key, comment } = parseImportedPublicKey(material);
  if (key.type === 'rsa') {
    const obj = rsaKeyObject(key);
    const bits = obj.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < IMPORT_RSA_MIN_BITS || bits > IMPORT_RSA_MAX_BITS) {
      throw new Ec2Error('InvalidKeyPair.Format', `Key is not in valid OpenSSH public key format: RSA keys of ${IMPORT_RSA_MIN_BITS} to ${IMPORT_RSA_MAX_BITS} bits are supported, this one has ${bits}.`);
    }
    return { keyType: 'rsa', publicKey: openSshLine(key, comment || name), fingerprint: importedRsaFingerprint(obj.export({ type: 'spki', format: 'der' })) };
  }
  // The 32 bytes must make a key Node can import (it refuses a malformed key).
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(key.key) }, format: 'jwk' });
  } catch (e) {
    throw new Ec2Error('InvalidKeyPair.Format', 'Key is not in valid OpenSSH public key format: the Ed25519 key cannot be read.', { cause: e });
  }
  return { keyType: 'ed25519', publicKey: openSshLine(key, comment || name), fingerprint: ed25519Fingerprint(publicBlob(key)) };
}
