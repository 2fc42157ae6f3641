// The running statistics' update, as bn-finalize and the one-pass forward make it.
// The including stage declares `runningMean` and `runningVar` read_write.

// Folds a batch's mean and variance (of `count` values) into the running
// statistics; `batches` is numBatchesTracked with this batch counted. Momentum
// null: a cumulative average, factor 1 / numBatchesTracked.
fn updateRunning(f: u32, mean: f32, variance: f32, count: f32, batches: u32) {
  let factor = select(params.momentum, 1.0 / f32(batches), params.cumulative != 0u);
  let correction = select(1.0, count / (count - 1.0), params.unbiased != 0u);
  runningMean[f] = (1.0 - factor) * runningMean[f] + factor * mean;
  runningVar[f] = (1.0 - factor) * runningVar[f] + factor * variance * correction;
}
