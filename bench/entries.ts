// Every row of the benchmark, in the order they run. Add rows here (a BenchEntry:
// setup, encode, verify, minimum bytes).
import type { Tuning } from 'webgpu-batchnorm';
import { batchNormEntries, trainingSizeEntries } from './batch-norm-entries.js';
import { trainingEntries } from './training-entries.js';
import type { BenchEntry } from './types.js';

/** `tuning` overrides the adapter's default tuning of our kernels (to sweep it, bench --tuning). */
export function benchEntries(tuning: Partial<Tuning> = {}): BenchEntry[] {
  // first, the batch norms at the sizes the two models train at (group "... training size (model)")
  return [...trainingSizeEntries(tuning), ...batchNormEntries(tuning), ...trainingEntries()];
}
