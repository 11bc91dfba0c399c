// One seeded pseudo-random generator for every fuzz and property test (mulberry32): the same
// seed gives the same run, so a failure reproduces from the seed it prints.

/** The next 32-bit unsigned value of the sequence, each call. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A float in [0, 1) each call. */
export function seededRandom(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** An integer in [0, n) each call. */
export function seededInt(seed: number): (n: number) => number {
  const next = mulberry32(seed);
  return (n: number) => (next() % n) >>> 0;
}
