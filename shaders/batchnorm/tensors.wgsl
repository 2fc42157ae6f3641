// The tensors the elementwise and reduce stages read, each as two views: vec4 for
// the bulk and scalar for the last, partial vec4. Stages that read no dy bind x
// in its place. Their own bindings start at 5.

@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(4) var<storage, read> dy1: array<f32>;

// Lane q's vec4 of the partial last block (zeros past the data): one vec4 load
// when it is whole. tailDy is the same loader on dy: WGSL takes no storage
// pointers as arguments, so each buffer has its own.
fn tailX(lane: u32, valid: vec4<bool>) -> vec4f {
  if (tailWhole(lane)) {
    return x4[params.blocks * params.lanes + lane];
  }
  let e = vec4u(tailBase()) + laneOffsets(lane);
  var v = vec4f(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (valid[k]) { v[k] = x1[e[k]]; }
  }
  return v;
}

fn tailDy(lane: u32, valid: vec4<bool>) -> vec4f {
  if (tailWhole(lane)) {
    return dy4[params.blocks * params.lanes + lane];
  }
  let e = vec4u(tailBase()) + laneOffsets(lane);
  var v = vec4f(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (valid[k]) { v[k] = dy1[e[k]]; }
  }
  return v;
}
