// The public side's device: a Linux TAP interface (IFF_TAP | IFF_NO_PI) the card opens by name,
// non-blocking, through the VPC's native addon (native/gcm/tap.c). A libuv poll handle wakes
// the card when the device is readable, and each wake-up drains it in batches of up to 256 KiB
// of frames per native call (not one call or one thread-pool read per frame); frames are laid
// out behind QEMU's 4-byte length, so a run of them to one guest leaves in one socket write
// without a copy. Writes are one write(2) per frame; a full device queue drops the frame.
// The TAP device needs the addon: there is no TypeScript fallback (NITRIDE_NATIVE=off, which
// turns off the addon's crypto and fast path, does not turn this off).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { VpcError } from '../errors.js';
import { nativeGcmPath, type NativeGcm } from '../underlay/native.js';

type TapAddon = Required<Pick<NativeGcm, 'tapOpen' | 'tapPersist' | 'tapClose' | 'tapRead' | 'tapWrite' | 'tapWatch' | 'tapUnwatch'>>;

let addon: TapAddon | undefined;

function tapAddon(): TapAddon {
  if (addon) return addon;
  const path = nativeGcmPath();
  const a = existsSync(path) ? (createRequire(import.meta.url)(path) as NativeGcm) : undefined;
  if (!a?.tapOpen || !a.tapPersist || !a.tapClose || !a.tapRead || !a.tapWrite || !a.tapWatch || !a.tapUnwatch) {
    throw new VpcError('PublicSideUnavailable', 'unavailable', 'The VPC native addon (native/gcm, with the TAP device) is not built: run nitride setup.', { path });
  }
  addon = a as TapAddon;
  return addon;
}

const CHUNK = 256 * 1024;
const MAX_FRAMES = 1024;

/** A TAP device the card reads and writes. */
export class TapDevice {
  private watch: unknown;
  private readonly idx = new Int32Array(2 * MAX_FRAMES);
  /** Frames the device refused (queue full) and read errors, for edge.stats. */
  writeErrors = 0;
  readErrors = 0;
  /** The errno of the read that stopped reading, if one did. */
  lastError = 0;
  private closed = false;

  private constructor(private readonly a: TapAddon, readonly name: string, readonly fd: number) {}

  /**
   * Opens (and, as root, creates) the TAP device `name`. A device the card created goes away
   * when the card closes it, unless persistent (see persist()).
   */
  static open(name: string): TapDevice {
    const a = tapAddon();
    try {
      return new TapDevice(a, name, a.tapOpen(name));
    } catch (e) {
      throw new VpcError('PublicSideOpenFailed', 'unavailable', 'The public side\'s TAP device could not be opened.', { iface: name, reason: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Whether the device outlives its last fd (a live update closes it and the next card opens it by name). */
  persist(on: boolean): boolean {
    return !this.closed && this.a.tapPersist(this.fd, on) === 0;
  }

  /** Starts reading: `onFrames` gets each batch (frame i at buf[idx[2i], +idx[2i+1]), each behind its 4-byte length). */
  start(onFrames: (buf: Buffer, idx: Int32Array, count: number) => void): void {
    if (this.watch !== undefined) return;
    this.watch = this.a.tapWatch(this.fd, () => this.drain(onFrames));
  }

  /** Stops reading (what arrives stays in the device's queue, up to its length). */
  stop(): void {
    if (this.watch === undefined) return;
    this.a.tapUnwatch(this.watch);
    this.watch = undefined;
  }

  private drain(onFrames: (buf: Buffer, idx: Int32Array, count: number) => void): void {
    for (let round = 0; round < 16 && this.watch !== undefined; round++) {
      // A fresh chunk each time: frames handed to guest sockets are written from it later.
      const buf = Buffer.allocUnsafe(CHUNK);
      const n = this.a.tapRead(this.fd, buf, this.idx, MAX_FRAMES);
      if (n < 0) {
        // The device is gone or broken (e.g. its namespace was deleted): a level-triggered poll
        // would wake the card forever, so reading stops here (edge.stats shows the errors).
        this.readErrors++;
        this.lastError = -n;
        this.stop();
        return;
      }
      if (n === 0) return;
      onFrames(buf, this.idx, n);
      if (n < MAX_FRAMES && (this.idx[2 * (n - 1)] as number) + (this.idx[2 * n - 1] as number) + 65540 <= CHUNK) return; // drained
    }
  }

  /** Writes one frame; false when the device's queue is full (the frame is dropped). */
  write(buf: Buffer, off: number, len: number): boolean {
    if (this.closed) return false; // never write to an fd number that may be reused
    const r = this.a.tapWrite(this.fd, buf, off, len);
    if (r !== 1) this.writeErrors++;
    return r === 1;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    this.a.tapClose(this.fd);
  }
}
