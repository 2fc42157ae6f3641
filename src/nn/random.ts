// Seeded random numbers for weight initialisation and generated data sets: the
// same numbers in every run and every environment.

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
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

/** n values uniform in [low, high). */
export function uniform(n: number, seed: number, low: number, high: number): Float32Array<ArrayBuffer> {
  const next = seededRandom(seed);
  return Float32Array.from({ length: n }, () => low + (high - low) * next());
}

/** A standard normal sampler (Box-Muller) over a seeded uniform source. */
export function normalSampler(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** A seed when none is given: different on every call. */
export const randomSeed = () => Math.floor(Math.random() * 0x100000000);
