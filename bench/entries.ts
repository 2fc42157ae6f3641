// Every row of the benchmark, in the order they run. Add rows here (a BenchEntry:
// setup, encode, verify, minimum bytes).
import type { Tuning } from 'webgpu-batchnorm';
import { batchNormEntries } from './batch-norm-entries.js';
import { trainingEntries } from './training-entries.js';
import type { BenchEntry } from './types.js';

/** `tuning` overrides the adapter's default tuning of our kernels (to sweep it, bench --tuning). */
export function benchEntries(tuning: Partial<Tuning> = {}): BenchEntry[] {
  return [...batchNormEntries(tuning), ...trainingEntries()];
}
