// The region root key: 32 random bytes in $NITRIDE_HOME/region/root.key (mode 0600, created
// on first use), used to seal IAM secret access keys with AES-256-GCM.
//
// Why sealed and not hashed: SigV4 is an HMAC keyed by (a key derived from) the secret, so
// the region must recompute the signature from the plaintext secret to verify a request; a
// one-way hash of the secret cannot do that. So the state store holds only
// AES-256-GCM(rootKey, secret) with the access key id as additional authenticated data
// (a sealed secret cannot be moved to another key id), and the plaintext lives in the
// region's memory only. Someone with the state store alone learns no secret; someone with
// the state store and the root key file has every secret — protect both (and back up the
// root key: without it every access key is unusable).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync, fsyncSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NitrideError } from '../lib/errors.js';

export const ROOT_KEY_BYTES = 32;

export interface SealedSecret {
  readonly v: 1;
  readonly alg: 'AES-256-GCM';
  /** base64 of the 12-byte IV, the ciphertext and the 16-byte tag. */
  readonly iv: string;
  readonly ct: string;
  readonly tag: string;
}

export class RootKeyError extends NitrideError {}

export function rootKeyPath(home: string): string {
  return join(home, 'region', 'root.key');
}

export class RootKey {
  private constructor(private readonly key: Buffer, readonly path: string) {}

  /** Loads the key file, creating it (0600, in a 0700 directory) when absent. Refuses a file others can read. */
  static loadOrCreate(path: string): RootKey {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(ROOT_KEY_BYTES));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RootKeyError('RootKeyUnavailable', 'unavailable', `The region root key ${path} could not be created.`, { path }, { cause: e });
    }
    fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if ((st.mode & 0o077) !== 0) throw new RootKeyError('RootKeyInsecure', 'denied', `The region root key ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); it must be 0600.`, { path });
      const key = readFileSync(fd);
      if (key.length !== ROOT_KEY_BYTES) throw new RootKeyError('RootKeyCorrupt', 'internal', `The region root key ${path} has ${key.length} bytes, not ${ROOT_KEY_BYTES}.`, { path });
      return new RootKey(key, path);
    } finally {
      closeSync(fd);
    }
  }

  seal(plaintext: string, aad: string): SealedSecret {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return { v: 1, alg: 'AES-256-GCM', iv: iv.toString('base64'), ct: ct.toString('base64'), tag: c.getAuthTag().toString('base64') };
  }

  unseal(s: SealedSecret, aad: string): string {
    try {
      // authTagLength: Node would otherwise accept a tag cut short (4 to 16 bytes), and a shorter tag is easier to forge.
      const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(s.iv, 'base64'), { authTagLength: 16 });
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(Buffer.from(s.tag, 'base64'));
      return Buffer.concat([d.update(Buffer.from(s.ct, 'base64')), d.final()]).toString('utf8');
    } catch (e) {
      throw new RootKeyError('SecretUnsealFailed', 'internal', 'A sealed secret could not be opened with the region root key (wrong key or tampered record).', { aad }, { cause: e });
    }
  }
}
