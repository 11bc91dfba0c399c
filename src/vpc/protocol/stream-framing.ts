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

/**
 * Splits a byte stream into frames. Frames are views into the chunk they arrived in when
 * they fit in it (no copy); a frame split across chunks is assembled once.
 */
export class FrameDecoder {
  private pending: Buffer | undefined;

  /** Calls `onFrame` for each complete frame. Throws on a length no peer may send. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len > MAX_FRAME_LEN) throw new VpcError('BadFrameLength', 'invalid', 'A frame length on the stream socket is out of range.', { len });
      if (buf.length - off - 4 < len) break;
      onFrame(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }
}
