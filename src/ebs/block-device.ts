// The card's block device: byte-addressed reads and writes of plaintext over a volume
// handle that stores ciphertext. Encryption is AES-256-XTS per 4096-byte sector
// (aes-xts-plain64); a request that does not cover whole sectors is done as
// read-modify-write under a per-sector lock. Without a cipher the device is plain.
//
// Zeros: a stored sector of all zero bytes (a hole, or a trimmed range) reads as zeros,
// in both modes. Trim and WRITE_ZEROES (without NO_HOLE) therefore just punch/zero the
// stored bytes of whole sectors, and write encrypted zeros into partial ones.
import { EbsError } from './errors.js';
import { RangeLock } from './range-lock.js';
import type { Extent, VolumeHandle } from './volume-store/types.js';
import { XTS_SECTOR_SIZE, type XtsCipher } from './xts/xts.js';

const S = XTS_SECTOR_SIZE;

export interface BlockDeviceOptions {
  readonly readOnly?: boolean;
}

export class BlockDevice {
  readonly readOnly: boolean;
  private readonly locks = new RangeLock();
  private closed = false;

  constructor(
    readonly volume: VolumeHandle,
    private readonly cipher: XtsCipher | null,
    opts: BlockDeviceOptions = {},
  ) {
    this.readOnly = (opts.readOnly ?? false) || volume.readOnly;
    if (cipher && volume.size() % S !== 0) {
      throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'An encrypted volume is a whole number of 4096-byte sectors.', { size: volume.size() });
    }
  }

  get encrypted(): boolean {
    return this.cipher !== null;
  }

  get cipherImpl(): string {
    return this.cipher?.impl ?? 'none';
  }

  size(): number {
    return this.volume.size();
  }

  private checkRange(position: number, length: number, write: boolean): void {
    if (this.closed) throw new EbsError('EBS_SHUTTING_DOWN', 'unavailable', 'The device is closed.');
    if (position < 0 || length < 0 || !Number.isSafeInteger(position + length) || position + length > this.size()) {
      throw write
        ? new EbsError('EBS_NO_SPACE', 'invalid', 'The write lies past the end of the volume.', { position, length, size: this.size() })
        : new EbsError('EBS_OUT_OF_RANGE', 'invalid', 'The request lies past the end of the volume.', { position, length, size: this.size() });
    }
  }

  private checkWritable(): void {
    if (this.readOnly) throw new EbsError('EBS_READ_ONLY', 'denied', 'The export is read-only.');
  }

  /** Read plaintext [position, position+length) into out[outOffset…]. */
  async read(out: Buffer, outOffset: number, length: number, position: number): Promise<void> {
    this.checkRange(position, length, false);
    if (length === 0) return;
    const c = this.cipher;
    if (!c) return this.volume.read(out, outOffset, length, position);
    if (position % S === 0 && length % S === 0) {
      await this.volume.read(out, outOffset, length, position);
      c.decrypt(out, outOffset, length, position);
      return;
    }
    const a = Math.floor(position / S) * S;
    const e = Math.ceil((position + length) / S) * S;
    const tmp = Buffer.allocUnsafe(e - a);
    await this.volume.read(tmp, 0, e - a, a);
    c.decrypt(tmp, 0, e - a, a);
    tmp.copy(out, outOffset, position - a, position - a + length);
  }

  /**
   * Write plaintext data[dataOffset, +length) at position. For speed, an aligned write is
   * encrypted in place: the caller hands over `data` and must not use it afterwards.
   */
  async write(data: Buffer, dataOffset: number, length: number, position: number, fua = false): Promise<void> {
    this.checkWritable();
    this.checkRange(position, length, true);
    if (length === 0) return;
    const c = this.cipher;
    if (!c) {
      await this.volume.write(data, dataOffset, length, position);
    } else {
      const a = Math.floor(position / S) * S;
      const e = Math.ceil((position + length) / S) * S;
      const release = await this.locks.acquire(a / S, e / S);
      try {
        if (a === position && e === position + length) {
          c.encrypt(data, dataOffset, length, position);
          await this.volume.write(data, dataOffset, length, position);
        } else {
          const tmp = Buffer.allocUnsafe(e - a);
          await this.readEdges(tmp, a, e, position, length);
          data.copy(tmp, position - a, dataOffset, dataOffset + length);
          c.encrypt(tmp, 0, e - a, a);
          await this.volume.write(tmp, 0, e - a, a);
        }
      } finally {
        release();
      }
    }
    if (fua) await this.volume.flush();
  }

  /** Decrypt into tmp the first and last sector of [a, e) where the write leaves them partial. */
  private async readEdges(tmp: Buffer, a: number, e: number, position: number, length: number): Promise<void> {
    const c = this.cipher as XtsCipher;
    if (position !== a) {
      await this.volume.read(tmp, 0, S, a);
      c.decrypt(tmp, 0, S, a);
    }
    const last = e - S;
    if (position + length !== e && (last !== a || position === a)) {
      await this.volume.read(tmp, last - a, S, last);
      c.decrypt(tmp, last - a, S, last);
    }
  }

  /**
   * Make [position, +length) read as zeros. With noHole the range stays allocated (encrypted
   * zeros are written); otherwise whole sectors are released and partial ones rewritten.
   */
  async writeZeroes(position: number, length: number, opts: { noHole?: boolean; fua?: boolean; fastOnly?: boolean } = {}): Promise<void> {
    this.checkWritable();
    this.checkRange(position, length, true);
    if (opts.noHole && opts.fastOnly) throw new EbsError('EBS_NOT_SUPPORTED', 'unavailable', 'Allocated zeroes are written like data, which is not fast.');
    if (length > 0) {
      if (opts.noHole) await this.writeZeroData(position, length);
      else await this.zeroRange(position, length);
    }
    if (opts.fua) await this.volume.flush();
  }

  /** TRIM: the range reads as zeros afterwards (whole sectors are released). */
  async trim(position: number, length: number, fua = false): Promise<void> {
    this.checkWritable();
    this.checkRange(position, length, false);
    if (length > 0) await this.zeroRange(position, length);
    if (fua) await this.volume.flush();
  }

  private async writeZeroData(position: number, length: number): Promise<void> {
    const chunk = 1024 * 1024;
    for (let done = 0; done < length; ) {
      const n = Math.min(chunk, length - done);
      await this.write(Buffer.alloc(n), 0, n, position + done);
      done += n;
    }
  }

  private async zeroRange(position: number, length: number): Promise<void> {
    if (!this.cipher) return this.volume.trim(position, length);
    const a = Math.ceil(position / S) * S; // first whole sector
    const e = Math.floor((position + length) / S) * S; // end of the last whole sector
    if (a >= e) return this.write(Buffer.alloc(length), 0, length, position);
    if (position < a) await this.write(Buffer.alloc(a - position), 0, a - position, position);
    const release = await this.locks.acquire(a / S, e / S);
    try {
      await this.volume.trim(a, e - a);
    } finally {
      release();
    }
    if (e < position + length) await this.write(Buffer.alloc(position + length - e), 0, position + length - e, e);
  }

  async flush(): Promise<void> {
    if (this.closed) throw new EbsError('EBS_SHUTTING_DOWN', 'unavailable', 'The device is closed.');
    await this.volume.flush();
  }

  /** base:allocation: holes read as zeros. */
  async allocation(position: number, length: number): Promise<Extent[]> {
    this.checkRange(position, length, false);
    return this.volume.allocation(position, length);
  }

  /** Flush, close the volume and forget the key. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.volume.close();
    } finally {
      this.cipher?.destroy();
    }
  }
}
