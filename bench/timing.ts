// Wall-clock timing of GPU work (SwiftShader's timestamp queries disagree with the
// wall clock, docs/design.md): latency is one op, submit, wait; throughput is k ops
// recorded into one encoder, then timed from their submit to the wait's end (the
// device's rate; the host's recording is `encodeMicros`); a peer's op or a model's
// call is timed from the call until the GPU is done (`timeCalls`). Medians after
// warm-up, each within a time budget (`sampled`: the one timing loop of the benchmark).
import { submitAndWait } from './gpu.js';
import type { Timed } from './types.js';

export type Encode = (encoder: GPUCommandEncoder, iteration: number) => void;

export const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

export interface Budget {
  /** Take another sample while it would end within this much time (at the median so far) ... */
  ms: number;
  /** ... and at least this many (1 or more) whatever the time, */
  min: number;
  /** but no more than this many. */
  max: number;
}

/** Calls sample() (which returns ms) within the budget; returns the median of what it returned. */
async function sampled(budget: Budget, sample: () => Promise<number>): Promise<Timed> {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < Math.max(1, budget.min) || (times.length < budget.max && performance.now() - start + median(times) <= budget.ms)) times.push(await sample());
  return { ms: median(times), iterations: times.length };
}

/** A counter of iterations, so that every op of a run gets the next rotated input. */
export class Iterations {
  private next = 0;
  take() {
    return this.next++;
  }
}

export async function warmUp(device: GPUDevice, encode: Encode, iterations: Iterations, ops = 2): Promise<void> {
  for (let i = 0; i < ops; i++) {
    const encoder = device.createCommandEncoder({ label: 'bench warm-up' });
    encode(encoder, iterations.take());
    await submitAndWait(device, encoder);
  }
}

/**
 * Median ms of `run(iteration)` from the call until it resolves: a peer's op, or a
 * model's call, that waits until the GPU is done (warm it up first).
 */
export function timeCalls(run: (iteration: number) => Promise<void>, iterations: Iterations, budget: Budget): Promise<Timed> {
  return sampled(budget, async () => {
    const i = iterations.take();
    const t0 = performance.now();
    await run(i);
    return performance.now() - t0;
  });
}

/** Median ms of one op, submit, wait (encoding included: it is part of what a caller pays). */
export function latency(device: GPUDevice, encode: Encode, iterations: Iterations, budget: Budget) {
  return sampled(budget, async () => {
    const t0 = performance.now();
    const encoder = device.createCommandEncoder({ label: 'bench latency' });
    encode(encoder, iterations.take());
    await submitAndWait(device, encoder);
    return performance.now() - t0;
  });
}

/**
 * Median ms per op of k ops recorded into one encoder, from their submit to the
 * wait's end: what the device takes, with one submit's fixed cost shared by k.
 * Recording is left out (`encodeMicros` times it): on a GPU, a caller records the
 * next ops while the device runs these.
 */
export function throughput(device: GPUDevice, encode: Encode, iterations: Iterations, k: number, budget: Budget) {
  return sampled(budget, async () => {
    const encoder = device.createCommandEncoder({ label: 'bench throughput' });
    for (let j = 0; j < k; j++) encode(encoder, iterations.take());
    const t0 = performance.now();
    await submitAndWait(device, encoder);
    return (performance.now() - t0) / k;
  });
}

/**
 * Median µs the host takes to record one op: `ops` ops into an encoder that is
 * finished and never submitted. On a GPU, where an op of 10⁶ elements runs in
 * microseconds, this is what bounds a small op's rate.
 */
export function encodeMicros(device: GPUDevice, encode: Encode, iterations: Iterations, ops: number, budget: Budget) {
  return sampled(budget, async () => {
    const encoder = device.createCommandEncoder({ label: 'bench encode only' });
    const t0 = performance.now();
    for (let j = 0; j < ops; j++) encode(encoder, iterations.take());
    const us = ((performance.now() - t0) * 1000) / ops;
    encoder.finish();
    return us;
  });
}

/** Ops per throughput batch: enough that one submit's fixed cost fades (batches of about 100 ms), 4 to 64. */
export function batchSize(latencyMs: number): number {
  return Math.min(64, Math.max(4, Math.round(100 / latencyMs)));
}
