// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.

/** Adds bytes [start, end) of `b` to a running 32-bit partial sum (not folded). */
export function sumWords(b: Uint8Array, start: number, end: number, acc = 0): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] as number);
  if (i < end) s += (b[i] as number) << 8;
  return s;
}

/** Folds a partial sum to 16 bits and complements it. */
export function finish(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

export function internetChecksum(b: Uint8Array, start = 0, end = b.length): number {
  return finish(sumWords(b, start, end));
}

/** Partial sum of the IPv4 pseudo-header used by UDP and TCP. */
export function pseudoHeaderSum(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + length;
}
