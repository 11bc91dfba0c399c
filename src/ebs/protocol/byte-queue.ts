// A queue of received bytes that a parser consumes in exact amounts. Chunks are kept as
// they arrive; bytes are copied only when a read spans chunks or into a caller's buffer.
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // consumed bytes of chunks[0]
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The next n bytes as one Buffer (a view when possible), without consuming them. */
  peek(n: number): Buffer {
    if (n > this.total) throw new RangeError(`peek(${n}) with ${this.total} bytes queued`);
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    this.copyOut(out, 0, n, false);
    return out;
  }

  /** Consume n bytes and return them (a view when they lie in one chunk). */
  take(n: number): Buffer {
    const b = this.peek(n);
    this.skip(n);
    return b;
  }

  /** Consume up to n bytes into dst at dstOffset; returns how many were copied. */
  takeInto(dst: Buffer, dstOffset: number, n: number): number {
    const m = Math.min(n, this.total);
    this.copyOut(dst, dstOffset, m, true);
    return m;
  }

  /** Drop up to n bytes; returns how many were dropped. */
  skip(n: number): number {
    const m = Math.min(n, this.total);
    let left = m;
    while (left > 0) {
      const c = this.chunks[0] as Buffer;
      const avail = c.length - this.head;
      if (avail > left) {
        this.head += left;
        left = 0;
      } else {
        left -= avail;
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.total -= m;
    return m;
  }

  private copyOut(dst: Buffer, dstOffset: number, n: number, consume: boolean): void {
    let copied = 0;
    let i = 0;
    let head = this.head;
    while (copied < n) {
      const c = this.chunks[i] as Buffer;
      const m = Math.min(c.length - head, n - copied);
      c.copy(dst, dstOffset + copied, head, head + m);
      copied += m;
      i++;
      head = 0;
    }
    if (consume) this.skip(n);
  }
}
