// bn-apply's constants and dy where bn-finalize or bn-grad-finalize ran first: the
// per-feature sections they wrote (params.wgsl), β, and for the backward's mask the
// forward's y. See apply.wgsl.

@group(0) @binding(5) var<storage, read> feature: array<f32>;
@group(0) @binding(7) var<storage, read> beta: array<f32>;
// The forward's y, for the backward's mask (RELU); x stands in elsewhere.
@group(0) @binding(8) var<storage, read> y4: array<Stored4>;

// bn-finalize or bn-grad-finalize stored them.
fn storeConstants(t: u32, threads: u32) {}

// A load per section.
fn featureConstants(f: u32) -> FeatureConstants {
  let stride = params.featureStride;
  if (GRAD) {
    return FeatureConstants(feature[PIVOT * stride + f], feature[GRAD_DY * stride + f], feature[GRAD_X * stride + f], feature[GRAD_SHIFT * stride + f]);
  }
  return FeatureConstants(feature[PIVOT * stride + f], 0.0, feature[SCALE * stride + f], feature[SHIFT * stride + f] + beta[f]);
}

fn loadDy(i: u32) -> vec4f {
  if (GRAD && RELU) { return reluGradient(loadDy4(i), unpack4(y4[i])); }
  if (GRAD || RESIDUAL) { return loadDy4(i); }
  return vec4f(0.0);
}

// y is padded to whole vec4s: lane q's vec4 of the partial last block is whole in it.
fn loadTailDy(lane: u32, valid: vec4<bool>) -> vec4f {
  if (GRAD && RELU) { return reluGradient(tailDy(lane, valid), unpack4(y4[params.blocks * params.lanes + lane])); }
  if (GRAD || RESIDUAL) { return tailDy(lane, valid); }
  return vec4f(0.0);
}
