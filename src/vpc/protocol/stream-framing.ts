// QEMU's `-netdev stream` framing: each Ethernet frame is preceded by its length as a
// 4-byte big-endian integer, in both directions. Pure: bytes in, frames out.
import { VpcError } from '../errors.js';
import { MAX_FRAME_LEN } from './ethernet.js';

export function encodeFrame(frame: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + frame.length);
  b.writeUInt32BE(frame.length, 0);
  b.set(frame, 4);
  return b;
}

const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into frames. Frames are views into the chunk they arrived in when
 * they fit in it (no copy); a frame split across chunks is assembled once.
 */
export class FrameDecoder {
  private pending: Buffer | undefined;
  private readonly index = new Int32Array(2 * 256);

  /** Calls `onFrame` for each complete frame. Throws on a length no peer may send. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const idx = this.index;
    this.splitAll(chunk, idx, (buf, count) => {
      for (let i = 0; i < count; i++) {
        const off = idx[2 * i] as number;
        onFrame(buf.subarray(off, off + (idx[2 * i + 1] as number)));
      }
    });
  }

  /**
   * split() until the chunk is used up: `onBatch(buf, count)` gets each batch of complete
   * frames, indexed in `out`, however many frames the chunk holds.
   */
  splitAll(chunk: Buffer, out: Int32Array, onBatch: (buf: Buffer, count: number) => void): void {
    let part = chunk;
    for (;;) {
      const { buf, count } = this.split(part, out);
      onBatch(buf, count);
      if (count < out.length >> 1) return;
      part = EMPTY; // more frames than the index holds: the rest is pending
    }
  }

  /**
   * Without a call per frame: the complete frames' offsets and lengths go into
   * `out` as pairs (out[2i], out[2i + 1]) and their count into `count`; they name bytes of
   * `buf`, which is the chunk itself unless a held frame was completed by it. Frames beyond
   * what `out` holds stay pending until the next call (pass an empty chunk to take them).
   */
  split(chunk: Buffer, out: Int32Array): { buf: Buffer; count: number } {
    let buf = chunk;
    if (this.pending) {
      buf = chunk.length === 0 ? this.pending : Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let off = 0;
    let count = 0;
    const n = buf.length;
    const max = out.length >> 1;
    while (n - off >= 4 && count < max) {
      const len = (((buf[off] as number) << 24) | ((buf[off + 1] as number) << 16) | ((buf[off + 2] as number) << 8) | (buf[off + 3] as number)) >>> 0;
      if (len > MAX_FRAME_LEN) throw new VpcError('BadFrameLength', 'invalid', 'A frame length on the stream socket is out of range.', { len });
      if (n - off - 4 < len) break;
      out[2 * count] = off + 4;
      out[2 * count + 1] = len;
      count++;
      off += 4 + len;
    }
    if (off < n) this.pending = Buffer.from(buf.subarray(off));
    return { buf, count };
  }

  /** How many bytes of an incomplete frame are held back. */
  get pendingLength(): number {
    return this.pending?.length ?? 0;
  }

  /** The bytes of an incomplete frame held back (a live update hands them to the next card). */
  takePending(): Buffer | undefined {
    const p = this.pending;
    this.pending = undefined;
    return p;
  }
}
