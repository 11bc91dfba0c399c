// A volume backed by one sparse file, accessed with positional reads and writes on a
// single descriptor. Trim punches holes when the native addon is built (fallocate
// PUNCH_HOLE) and otherwise writes zero bytes; either way the range reads as zeros.
import { close, fdatasync, fstat, ftruncate, open, read, readSync, write, writeSync, constants as fsc } from 'node:fs';
import { basename } from 'node:path';
import { EbsError } from '../errors.js';
import { loadNativeXts, SEEK_DATA, SEEK_HOLE } from '../xts/native.js';
import type { Extent, VolumeHandle } from './types.js';

const ZERO_CHUNK = Buffer.alloc(1024 * 1024);
const SYNC_IO_MAX = 64 * 1024;
const SYNC_MODE = process.env['NITRIDE_EBS_SYNC_IO'] ?? 'reads';
// Writes up to SYNC_IO_MAX are batched onto one thread-pool job per event-loop turn when
// the addon is built (NITRIDE_EBS_BATCH_WRITES=off: one fs.write each).
const SYNC_IO = SYNC_MODE === 'all';
const BATCH_WRITES = process.env['NITRIDE_EBS_BATCH_WRITES'] !== 'off';
const BATCH_JOBS = Math.max(1, Number(process.env['NITRIDE_EBS_BATCH_JOBS'] ?? 4)); // measured: 1 is best when idle, 4 (the thread-pool size) under writeback pressure

interface QueuedWrite {
  readonly buf: Buffer;
  readonly pos: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

const ERRNO_NAMES: Record<number, string> = { 5: 'EIO', 28: 'ENOSPC', 27: 'EFBIG', 122: 'EDQUOT', 9: 'EBADF', 22: 'EINVAL' };
const SYNC_READS = SYNC_MODE === 'all' || SYNC_MODE === 'reads';

function pRead(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((res, rej) => read(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res(n))));
}
function pWrite(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((res, rej) => write(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res(n))));
}
function pCall(f: (cb: (e: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((res, rej) => f((e) => (e ? rej(e) : res())));
}

export class FileVolume implements VolumeHandle {
  private inflight = 0;
  private gate: Promise<void> | null = null;
  private drained: (() => void) | null = null;
  private closed = false;
  private queued: QueuedWrite[] = [];

  private constructor(
    readonly id: string,
    readonly path: string,
    private readonly fd: number,
    private sizeBytes: number,
    readonly readOnly: boolean,
    private readonly onClose?: () => void,
  ) {}

  /** Open an existing file; with `create`, make it (sparse, of that size) if it is missing. */
  static async open(path: string, opts: { readOnly?: boolean; create?: number; id?: string; onClose?: () => void } = {}): Promise<FileVolume> {
    const readOnly = opts.readOnly ?? false;
    const flags = readOnly ? fsc.O_RDONLY : fsc.O_RDWR | (opts.create !== undefined ? fsc.O_CREAT : 0);
    const fd = await new Promise<number>((res, rej) => open(path, flags, 0o600, (e, f) => (e ? rej(e) : res(f))));
    try {
      let size = await new Promise<number>((res, rej) => fstat(fd, (e, st) => (e ? rej(e) : res(st.size))));
      if (opts.create !== undefined && size < opts.create) {
        await pCall((cb) => ftruncate(fd, opts.create as number, cb));
        size = opts.create;
      }
      return new FileVolume(opts.id ?? basename(path), path, fd, size, readOnly, opts.onClose);
    } catch (e) {
      close(fd, () => undefined);
      throw e;
    }
  }

  size(): number {
    return this.sizeBytes;
  }

  private check(position: number, length: number): void {
    if (this.closed) throw new EbsError('EBS_SHUTTING_DOWN', 'conflict', 'The volume is closed.', { id: this.id });
    if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > this.sizeBytes) {
      throw new EbsError('EBS_OUT_OF_RANGE', 'invalid', 'The range lies outside the volume.', { id: this.id, position, length, size: this.sizeBytes });
    }
  }

  private async begin(): Promise<void> {
    if (this.readOnly) throw new EbsError('EBS_READ_ONLY', 'denied', 'The volume is open read-only.', { id: this.id });
    while (this.gate) await this.gate;
    this.inflight++;
  }

  private end(): void {
    this.inflight--;
    if (this.inflight === 0 && this.drained) this.drained();
  }

  async read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void> {
    this.check(position, length);
    let done = 0;
    if (length <= SYNC_IO_MAX && SYNC_READS) {
      while (done < length) {
        const n = readSync(this.fd, buf, bufOffset + done, length - done, position + done);
        if (n === 0) {
          buf.fill(0, bufOffset + done, bufOffset + length);
          return;
        }
        done += n;
      }
      return;
    }
    while (done < length) {
      const n = await pRead(this.fd, buf, bufOffset + done, length - done, position + done);
      if (n === 0) {
        buf.fill(0, bufOffset + done, bufOffset + length);
        return;
      }
      done += n;
    }
  }

  async write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void> {
    this.check(position, length);
    await this.begin();
    try {
      let done = 0;
      if (length <= SYNC_IO_MAX && !SYNC_IO && BATCH_WRITES) {
        const addon = loadNativeXts();
        if (addon?.pwriteBatch) return await this.enqueue(addon, buf.subarray(bufOffset, bufOffset + length), position);
      }
      if (length <= SYNC_IO_MAX && SYNC_IO) {
        while (done < length) done += writeSync(this.fd, buf, bufOffset + done, length - done, position + done);
        return;
      }
      while (done < length) done += await pWrite(this.fd, buf, bufOffset + done, length - done, position + done);
    } finally {
      this.end();
    }
  }

  /**
   * Small writes issued in one event-loop turn go to the thread pool as one job (one
   * hand-off instead of one per write); they are independent, so order inside a batch does
   * not matter (overlapping writes are serialized above, by the sector locks).
   */
  private enqueue(addon: NonNullable<ReturnType<typeof loadNativeXts>>, buf: Buffer, pos: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.queued.length === 0) {
        setImmediate(() => {
          const all = this.queued;
          this.queued = [];
          // Up to BATCH_JOBS jobs run in parallel, so a write stalled by writeback throttling
          // does not hold every other write of the turn behind it.
          const per = Math.ceil(all.length / BATCH_JOBS);
          for (let i = 0; i < all.length; i += per) {
            const batch = all.slice(i, i + per);
            (addon.pwriteBatch as NonNullable<typeof addon.pwriteBatch>)(
              this.fd,
              batch.map((w) => w.buf),
              batch.map((w) => w.pos),
              (errno) => {
                if (errno === 0) for (const w of batch) w.resolve();
                else {
                  const code = ERRNO_NAMES[errno] ?? 'EIO';
                  for (const w of batch) w.reject(Object.assign(new Error(`pwrite failed: ${code}`), { code, errno: -errno }));
                }
              },
            );
          }
        });
      }
      this.queued.push({ buf, pos, resolve, reject });
    });
  }

  async trim(position: number, length: number): Promise<void> {
    this.check(position, length);
    if (length === 0) return;
    await this.begin();
    try {
      const addon = loadNativeXts();
      if (addon) {
        const r = addon.punchHole(this.fd, position, length);
        if (r === 0) return;
        // EOPNOTSUPP on file systems without hole punching: fall through to zero-filling.
      }
      for (let done = 0; done < length; ) {
        const n = Math.min(ZERO_CHUNK.length, length - done);
        done += await pWrite(this.fd, ZERO_CHUNK, 0, n, position + done);
      }
    } finally {
      this.end();
    }
  }

  async flush(): Promise<void> {
    if (this.closed) throw new EbsError('EBS_SHUTTING_DOWN', 'conflict', 'The volume is closed.', { id: this.id });
    if (this.readOnly) return;
    await pCall((cb) => fdatasync(this.fd, cb));
  }

  async resize(newSize: number): Promise<void> {
    if (!Number.isSafeInteger(newSize) || newSize < this.sizeBytes) {
      throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'A volume can only grow.', { id: this.id, size: this.sizeBytes, newSize });
    }
    await this.begin();
    try {
      await pCall((cb) => ftruncate(this.fd, newSize, cb));
      await pCall((cb) => fdatasync(this.fd, cb));
      this.sizeBytes = newSize;
    } finally {
      this.end();
    }
  }

  async allocation(position: number, length: number): Promise<Extent[]> {
    this.check(position, length);
    const end = position + length;
    const addon = loadNativeXts();
    if (!addon || length === 0) return [{ offset: position, length, hole: false }];
    const out: Extent[] = [];
    let at = position;
    while (at < end) {
      const data = addon.seek(this.fd, at, SEEK_DATA);
      if (data < 0 && data !== -6) return [{ offset: position, length, hole: false }]; // not supported: say "data"
      const dataStart = data < 0 ? end : Math.min(data, end);
      if (dataStart > at) {
        out.push({ offset: at, length: dataStart - at, hole: true });
        at = dataStart;
        continue;
      }
      const hole = addon.seek(this.fd, at, SEEK_HOLE);
      const holeStart = hole < 0 ? end : Math.min(hole, end);
      out.push({ offset: at, length: holeStart - at, hole: false });
      at = holeStart;
    }
    return out;
  }

  async quiesce(): Promise<() => void> {
    while (this.gate) await this.gate;
    let release!: () => void;
    this.gate = new Promise<void>((r) => (release = r));
    if (this.inflight > 0) await new Promise<void>((r) => (this.drained = r));
    this.drained = null;
    try {
      if (!this.readOnly) await pCall((cb) => fdatasync(this.fd, cb));
    } catch (e) {
      this.gate = null;
      release();
      throw e;
    }
    return () => {
      this.gate = null;
      release();
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.gate) await this.gate;
    if (this.inflight > 0) await new Promise<void>((r) => (this.drained = r));
    this.closed = true;
    try {
      if (!this.readOnly) await pCall((cb) => fdatasync(this.fd, cb));
    } finally {
      await pCall((cb) => close(this.fd, cb));
      this.onClose?.();
    }
  }
}
