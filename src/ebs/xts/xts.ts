// AES-256-XTS per sector, dm-crypt `aes-xts-plain64` convention: a sector's tweak is its
// byte offset / 512 as a little-endian 64-bit integer in a 16-byte IV. Two implementations:
// the native addon (native/xts, one OpenSSL context per key, GB/s) and a pure-Node fallback
// (createCipheriv per sector). Both treat an all-zero ciphertext sector as "never written"
// and decrypt it to zeros; a real ciphertext sector is all zeros with probability 2^-32768.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { EbsError } from '../errors.js';
import { loadNativeXts, type NativeXts } from './native.js';

/** The encryption sector: 4096 bytes, tweak in 512-byte units. */
export const XTS_SECTOR_SIZE = 4096;
export const XTS_KEY_BYTES = 64;

export type XtsImpl = 'native' | 'node';

export interface XtsCipher {
  readonly impl: XtsImpl;
  /** Encrypt whole sectors of buf[offset, offset+length) in place; the first one is the sector at byte `position` of the volume. */
  encrypt(buf: Buffer, offset: number, length: number, position: number): void;
  /** Decrypt in place; all-zero sectors stay zero. */
  decrypt(buf: Buffer, offset: number, length: number, position: number): void;
  /** Forget the key (the native contexts are freed, the Node copy zero-filled). Further use throws. */
  destroy(): void;
}

/** Parse a key file: 64 raw bytes, or 128 hex characters (surrounding whitespace allowed). */
export function parseXtsKey(contents: Buffer): Buffer {
  if (contents.length === XTS_KEY_BYTES) return Buffer.from(contents);
  const text = contents.toString('latin1').trim();
  if (/^[0-9a-fA-F]{128}$/.test(text)) return Buffer.from(text, 'hex');
  throw new EbsError('EBS_BAD_KEY', 'invalid', 'An AES-256-XTS key file holds 64 raw bytes or 128 hex characters.', { length: contents.length });
}

function checkKey(key: Buffer): void {
  if (key.length !== XTS_KEY_BYTES) throw new EbsError('EBS_BAD_KEY', 'invalid', 'An AES-256-XTS key is 64 bytes.', { length: key.length });
  if (key.subarray(0, 32).equals(key.subarray(32))) throw new EbsError('EBS_BAD_KEY', 'invalid', 'The two halves of an XTS key must differ.');
}

function checkRange(buf: Buffer, offset: number, length: number, position: number, sectorSize: number): void {
  if (length % sectorSize !== 0 || position % sectorSize !== 0 || offset < 0 || offset + length > buf.length) {
    throw new EbsError('EBS_BAD_REQUEST', 'internal', 'XTS works on whole sectors inside the buffer.', { offset, length, position });
  }
}

class NativeCipher implements XtsCipher {
  readonly impl = 'native' as const;
  private handle: unknown;
  constructor(
    private readonly addon: NativeXts,
    key: Buffer,
    private readonly sectorSize: number,
  ) {
    this.handle = addon.createKey(key);
  }
  encrypt(buf: Buffer, offset: number, length: number, position: number): void {
    checkRange(buf, offset, length, position, this.sectorSize);
    this.addon.crypt(this.handle, true, buf, offset, length, position / 512, this.sectorSize);
  }
  decrypt(buf: Buffer, offset: number, length: number, position: number): void {
    checkRange(buf, offset, length, position, this.sectorSize);
    this.addon.crypt(this.handle, false, buf, offset, length, position / 512, this.sectorSize);
  }
  destroy(): void {
    if (this.handle !== undefined) this.addon.destroyKey(this.handle);
  }
}


class NodeCipher implements XtsCipher {
  readonly impl = 'node' as const;
  private readonly key: Buffer;
  private readonly iv = Buffer.alloc(16);
  private destroyed = false;
  private readonly zero: Buffer;
  constructor(
    key: Buffer,
    private readonly sectorSize: number,
  ) {
    this.key = Buffer.from(key);
    this.zero = Buffer.alloc(sectorSize);
  }
  private run(encrypt: boolean, buf: Buffer, offset: number, length: number, position: number): void {
    if (this.destroyed) throw new EbsError('EBS_BAD_KEY', 'conflict', 'The key has been destroyed.');
    checkRange(buf, offset, length, position, this.sectorSize);
    for (let i = 0; i < length; i += this.sectorSize) {
      const sector = buf.subarray(offset + i, offset + i + this.sectorSize);
      if (!encrypt && sector.equals(this.zero)) continue;
      this.iv.writeBigUInt64LE(BigInt((position + i) / 512), 0);
      const c = encrypt ? createCipheriv('aes-256-xts', this.key, this.iv) : createDecipheriv('aes-256-xts', this.key, this.iv);
      const out = c.update(sector);
      c.final();
      out.copy(sector);
    }
  }
  encrypt(buf: Buffer, offset: number, length: number, position: number): void {
    this.run(true, buf, offset, length, position);
  }
  decrypt(buf: Buffer, offset: number, length: number, position: number): void {
    this.run(false, buf, offset, length, position);
  }
  destroy(): void {
    this.key.fill(0);
    this.destroyed = true;
  }
}

/**
 * A cipher for one 64-byte key. `impl` 'auto' (default) uses the native addon when it is
 * built and NITRIDE_XTS is not 'node'. The key buffer is copied; the caller may wipe its own.
 * sectorSize other than 4096 exists for the IEEE 1619 vectors (512-byte data units).
 */
export function createXtsCipher(key: Buffer, impl: XtsImpl | 'auto' = 'auto', sectorSize: number = XTS_SECTOR_SIZE): XtsCipher {
  checkKey(key);
  if (!Number.isInteger(sectorSize) || sectorSize < 512 || sectorSize % 512 !== 0) {
    throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'An XTS sector is a multiple of 512 bytes.', { sectorSize });
  }
  if (impl === 'node' || (impl === 'auto' && process.env['NITRIDE_XTS'] === 'node')) return new NodeCipher(key, sectorSize);
  const addon = loadNativeXts();
  if (addon) return new NativeCipher(addon, key, sectorSize);
  if (impl === 'native') throw new EbsError('EBS_NATIVE_BUILD_FAILED', 'unavailable', 'The native XTS addon is not built (run `nitride setup`).');
  return new NodeCipher(key, sectorSize);
}
