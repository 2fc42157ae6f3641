// bn-apply's constants for eval in one pass: from the running statistics, γ and β
// themselves, computed as bn-finalize's RUNNING mode computes them (K = the running
// mean, so mean - K = 0 and SHIFT = 0; invstd = 1 / sqrt(var + eps), Inf where
// var + eps = 0, as in PyTorch), so y has the same bits. The pass also stores them
// in the feature sections as bn-finalize would, for a backward through this eval
// forward reads them there. A forward with a residual takes the two passes: z's two
// views and these buffers would exceed WebGPU's 8 storage buffers a stage.
// See apply.wgsl.

@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> runningMean: array<f32>;
@group(0) @binding(5) var<storage, read> runningVar: array<f32>;
@group(0) @binding(7) var<storage, read> beta: array<f32>;
@group(0) @binding(8) var<storage, read_write> feature: array<f32>;

fn featureConstants(f: u32) -> FeatureConstants {
  return FeatureConstants(runningMean[f], 0.0, gamma[f] * inverseStd(runningVar[f], false), 0.0 + beta[f]);
}

// Thread t of the dispatch's `threads` stores features t, t + threads, ...: what
// bn-finalize's RUNNING mode stores (forward-constants.wgsl).
fn storeConstants(t: u32, threads: u32) {
  for (var f = t; f < params.features; f += threads) {
    let invstd = inverseStd(runningVar[f], false);
    storeForwardConstants(f, runningMean[f], 0.0, runningMean[f], invstd, gamma[f] * invstd, 0.0);
  }
}

// Eval reads neither dy nor a residual (see above).
fn loadDy(i: u32) -> vec4f {
  return vec4f(0.0);
}

fn loadTailDy(lane: u32, valid: vec4<bool>) -> vec4f {
  return vec4f(0.0);
}
