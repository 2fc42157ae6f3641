// A feature's forward constants from its moments or from the running statistics:
// what bn-finalize, the one-pass forward and eval's bn-apply (apply-running.wgsl)
// compute alike. The including stage declares `feature`.

// The batch statistics of one feature: K + (mean - K) and the plain mean, and the
// biased variance.
struct BatchStatistics {
  meanDelta: f32,   // mean - K
  mean: f32,        // the mean reported (the running statistics take it)
  variance: f32,
  plain: bool,      // mean - K came from the plain mean
  plainMean: f32,
}

// Feature moments in column k of m, their plain sum rounded once, K their pivot.
// K + (mean - K) carries K's rounding, eps * |K|: large against a mean near zero (K a
// value of N(0, 1) data, say). The plain mean of x cancels no more than the shifted
// one when |mean| < |mean - K|, so there it is the mean, and normalization uses it
// too (mean - K rounds by eps * |K| < 2 * eps * |mean - K|: nothing for y). Far from
// zero, K + (mean - K) keeps y exact. The mean reported (the running mean, MEAN) is
// the plain one wherever it is finite: its sum is compensated, so it is accurate to
// itself at any offset, also where K happens to lie near a mean near zero. (With
// infinite data the compensation is Inf - Inf; K + (mean - K) is then the mean
// PyTorch gives.)
fn batchStatistics(pivot: f32, m: Moments, k: u32) -> BatchStatistics {
  let shiftedMean = m.sumD[k] / params.count;
  let plainMean = m.sumX[k] / params.count;
  let plain = abs(plainMean) < abs(shiftedMean);
  let meanDelta = select(shiftedMean, plainMean - pivot, plain);
  let biased = m.m2[k] / params.count;
  let variance = select(biased, 0.0, atMostZero(vec4f(biased)).x);   // rounding can leave a tiny negative; NaN stays NaN
  return BatchStatistics(meanDelta, select(pivot + meanDelta, plainMean, isFinite(plainMean)), variance, plain, plainMean);
}

// PyTorch's choice: with eps = 0, a constant feature gets invstd 0 rather than Inf,
// for batch statistics only; running statistics with var + eps = 0 give Inf (and y
// ±Inf, or NaN where x is the running mean), as in PyTorch.
fn inverseStd(variance: f32, batch: bool) -> f32 {
  let v = variance + params.eps;
  return select(1.0 / sqrt(v), 0.0, v == 0.0 && batch);
}

fn setFeature(section: u32, f: u32, value: f32) {
  feature[section * params.featureStride + f] = value;
}

// What bn-apply reads (y = (x - K) * SCALE + SHIFT + beta) and the backward after it.
fn storeForwardConstants(f: u32, pivot: f32, meanDelta: f32, mean: f32, invstd: f32, scale: f32, shift: f32) {
  setFeature(PIVOT, f, pivot);
  setFeature(MEAN_DELTA, f, meanDelta);
  setFeature(MEAN, f, mean);
  setFeature(INVSTD, f, invstd);
  setFeature(SCALE, f, scale);
  setFeature(SHIFT, f, shift);
}
