// The seeded random numbers of the fuzz tests: the same seed gives the same run, so a
// failure reproduces from the seed its test prints. Not for anything but tests.

/** mulberry32: floats in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integers in [0, n) from a seed. */
export function seededInt(seed: number): (n: number) => number {
  const rand = seededRandom(seed);
  return (n) => Math.floor(rand() * n);
}
