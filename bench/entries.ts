// Every row of the benchmark, in the order they run. Add rows here (a BenchEntry:
// setup, encode, verify, minimum bytes).
import { batchNormEntries } from './batch-norm-entries.js';
import type { BenchEntry } from './types.js';

export function benchEntries(): BenchEntry[] {
  return [...batchNormEntries()];
}
