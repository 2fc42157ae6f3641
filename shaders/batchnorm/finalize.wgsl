// Stage 2 of a forward pass, one thread per feature: the per-feature constants.
// From batch statistics (merging bn-stats' partials) or from the running ones, it
// writes K, mean - K, invstd and the fused scale and shift that bn-apply uses:
//   y = (x - K) * scale + shift,  scale = gamma * invstd,  shift = beta - (mean - K) * scale.
// Keeping the mean as K + (mean - K) keeps y exact for data far from zero, where
// an f32 mean alone would be off by half an ulp of the offset.

@group(0) @binding(1) var<storage, read> x1: array<f32>;
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> feature: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> runningMean: array<f32>;
@group(0) @binding(7) var<storage, read_write> runningVar: array<f32>;
@group(0) @binding(8) var<storage, read_write> batches: array<u32>;

const BATCH = 0u;           // normalize with batch statistics
const BATCH_AND_RUNNING = 1u; // ... and fold them into the running statistics
const RUNNING = 2u;         // normalize with the running statistics (eval)
override MODE: u32 = BATCH;

// Partials of feature f in a fixed order, so the result is deterministic.
fn mergePartials(f: u32) -> Moments {
  let section = params.partialChunks * params.slotsPerChunk;
  var m = Moments(vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var chunk = 0u; chunk < params.partialChunks; chunk++) {
    for (var j = 0u; j < params.slotRepeat; j++) {
      for (var i = 0u; i < params.slotInner; i++) {
        let s = partialSlot(chunk, f, j, i);
        m = chanMerge(m, Moments(vec4f(partials[s]), vec4f(partials[section + s]), vec4f(partials[2u * section + s])));
      }
    }
  }
  return m;
}

// PyTorch's choice: with eps = 0, a constant feature gets invstd 0 rather than Inf.
fn inverseStd(variance: f32) -> f32 {
  let v = variance + params.eps;
  return select(1.0 / sqrt(v), 0.0, v == 0.0);
}

fn setFeature(section: u32, f: u32, value: f32) {
  feature[section * params.featureStride + f] = value;
}

@compute @workgroup_size(WG_SIZE)
fn finalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let f = threadIndex(wid, nwg, lid);
  if (MODE == BATCH_AND_RUNNING && f == 0u) {
    batches[0] = batches[1];
  }
  if (f >= params.features) { return; }

  var pivot: f32;
  var meanDelta: f32;
  var variance: f32;
  if (MODE == RUNNING) {
    pivot = runningMean[f];
    meanDelta = 0.0;
    variance = runningVar[f];
  } else {
    let m = mergePartials(f);
    pivot = x1[f * params.inner];
    meanDelta = m.mean.x;
    let biased = m.m2.x / params.count;
    variance = select(biased, 0.0, biased < 0.0);   // rounding can leave a tiny negative; NaN stays NaN
  }
  let invstd = inverseStd(variance);
  let scale = gamma[f] * invstd;
  setFeature(PIVOT, f, pivot);
  setFeature(MEAN_DELTA, f, meanDelta);
  setFeature(MEAN, f, pivot + meanDelta);
  setFeature(INVSTD, f, invstd);
  setFeature(SCALE, f, scale);
  setFeature(SHIFT, f, beta[f] - meanDelta * scale);

  if (MODE == BATCH_AND_RUNNING) {
    // momentum null: cumulative average, factor 1 / numBatchesTracked (counted by bn-stats)
    let factor = select(params.momentum, 1.0 / f32(batches[1]), params.cumulative != 0u);
    let correction = select(1.0, params.count / (params.count - 1.0), params.unbiased != 0u);
    runningMean[f] = (1.0 - factor) * runningMean[f] + factor * (pivot + meanDelta);
    runningVar[f] = (1.0 - factor) * runningVar[f] + factor * variance * correction;
  }
}
