// Seeded test data: never zeros, the same on every run and in every environment.
import { canonicalView, seededRandom, type FeaturePlacement } from 'webgpu-batchnorm';

/** The library's seeded generator (mulberry32): uniform numbers in [0, 1). */
export const rng = seededRandom;

/** Normal(mean, std) samples as f32 (Box-Muller). */
export function normal(n: number, seed: number, mean = 0, std = 1): Float32Array<ArrayBuffer> {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const t = 2 * Math.PI * next();
    out[i] = mean + std * r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(t);
  }
  return out;
}

export const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const featuresOf = (layout: FeaturePlacement, shape: readonly number[]) => canonicalView(layout, shape).features;

/** Feature index of every element, for building per-feature data. */
export function featureIndex(layout: FeaturePlacement, shape: readonly number[]): (i: number) => number {
  const { features: c, inner } = canonicalView(layout, shape);
  return (i) => Math.floor(i / inner) % c;
}

/** Normal data with a different offset and scale per feature, like real activations. */
export function activations(layout: FeaturePlacement, shape: readonly number[], seed: number): Float32Array<ArrayBuffer> {
  const x = normal(elements(shape), seed);
  const c = featuresOf(layout, shape);
  const pick = rng(seed + 1);
  const offsets = Array.from({ length: c }, () => (pick() - 0.5) * 20);
  const scales = Array.from({ length: c }, () => 0.1 + pick() * 5);
  const feature = featureIndex(layout, shape);
  for (let i = 0; i < x.length; i++) x[i] = x[i] * scales[feature(i)] + offsets[feature(i)];
  return x;
}

/** The options that say where the features are: `{ layout }` or `{ axis }`. */
export const placementOptions = (where: FeaturePlacement) => (typeof where === 'string' ? { layout: where } : { axis: where.axis });

/** How a placement reads in a test's name: "NCHW" or "axis -1". */
export const placementName = (where: FeaturePlacement) => (typeof where === 'string' ? where : `axis ${where.axis}`);
