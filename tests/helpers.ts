// Shared test helpers: seeded data, comparison with readable diffs, a device per file.
import { afterAll, beforeAll, expect } from 'vitest';
import { requestDevice } from '../src/node.js';
import type { Layout } from '../src/layout.js';

/** mulberry32: a small seeded PRNG, so every run sees the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Normal(mean, std) samples as f32, from a seeded generator (Box-Muller). */
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

/** Per-feature offsets and scales, so features differ the way real activations do. */
export function activations(layout: Layout, shape: number[], seed: number): Float32Array<ArrayBuffer> {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = normal(n, seed);
  const c = layout === 'NHWC' ? shape[3] : shape[1];
  const inner = layout === 'NHWC' ? 1 : shape.slice(2).reduce((a, b) => a * b, 1);
  const pick = rng(seed + 1);
  const offsets = Array.from({ length: c }, () => (pick() - 0.5) * 20);
  const scales = Array.from({ length: c }, () => 0.1 + pick() * 5);
  for (let i = 0; i < n; i++) {
    const f = Math.floor(i / inner) % c;
    x[i] = x[i] * scales[f] + offsets[f];
  }
  return x;
}

export function relativeL2(got: ArrayLike<number>, expected: ArrayLike<number>, scale?: number): number {
  let err = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i]) || Number.isNaN(got[i])) continue;
    err += (got[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  const denominator = scale ?? Math.sqrt(norm);
  return denominator === 0 ? Math.sqrt(err) : Math.sqrt(err) / denominator;
}

/**
 * got ≈ expected: NaN exactly where expected is NaN, and a relative L2 error within tol.
 * `scale` replaces ||expected|| as the denominator where the result is a cancellation
 * (a value near zero whose terms are not). On failure prints the worst elements.
 */
export function expectClose(name: string, got: ArrayLike<number>, expected: ArrayLike<number>, tol: number, scale?: number) {
  expect(got.length, `${name}: length`).toBe(expected.length);
  const nanMismatch: number[] = [];
  for (let i = 0; i < expected.length && nanMismatch.length < 10; i++) {
    if (Number.isNaN(expected[i]) !== Number.isNaN(got[i])) nanMismatch.push(i);
  }
  const err = relativeL2(got, expected, scale);
  if (nanMismatch.length || !(err <= tol)) {
    const worst = Array.from({ length: expected.length }, (_, i) => i)
      .filter((i) => !Number.isNaN(expected[i]))
      .sort((a, b) => Math.abs(got[b] - expected[b]) - Math.abs(got[a] - expected[a]) || 0)
      .slice(0, 8);
    const rows = [...nanMismatch, ...worst].map((i) => `  [${i}] got ${got[i]}  expected ${expected[i]}`);
    throw new Error(`${name}: relative L2 error ${err.toExponential(3)} (tolerance ${tol})` +
      (nanMismatch.length ? `, NaN mismatch at ${nanMismatch.length}+ indices` : '') + `\n${rows.join('\n')}`);
  }
}

/** A Dawn device for the test file, checked for uncaptured errors, destroyed at the end. */
export function useDevice(): { readonly device: GPUDevice } {
  const holder = {} as { device: GPUDevice };
  const uncaptured: string[] = [];
  beforeAll(async () => {
    holder.device = await requestDevice();
    holder.device.addEventListener('uncapturederror', (e) => uncaptured.push((e as GPUUncapturedErrorEvent).error.message));
  });
  afterAll(() => {
    holder.device?.destroy();
    expect(uncaptured, 'uncaptured GPU errors').toEqual([]);
  });
  return holder;
}

/** Runs fn inside validation, out-of-memory and internal error scopes and asserts they stay empty. */
export async function withoutGpuErrors<T>(device: GPUDevice, fn: () => Promise<T> | T): Promise<T> {
  const filters: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
  for (const f of filters) device.pushErrorScope(f);
  let result: T;
  try {
    result = await fn();
  } finally {
    const errors = [];
    for (let i = 0; i < filters.length; i++) errors.push(await device.popErrorScope());
    expect(errors.filter(Boolean).map((e) => e!.message)).toEqual([]);
  }
  return result;
}

export const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
