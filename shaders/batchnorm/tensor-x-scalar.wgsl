// x's scalar view, beside tensor-x.wgsl's vec4 one: scalar items and the last,
// partial vec4.

@group(0) @binding(2) var<storage, read> x1: array<Stored1>;

fn loadX1(i: u32) -> f32 {
  return unpack1(x1[wordOf(i)], i);
}

// Lane q's vec4 of the partial last block (zeros past the data): one vec4 load
// when it is whole.
fn tailX(lane: u32, valid: vec4<bool>) -> vec4f {
  if (tailWhole(lane)) {
    return loadX4(params.blocks * params.lanes + lane);
  }
  let e = vec4u(tailBase()) + laneOffsets(lane);
  var v = vec4f(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (valid[k]) { v[k] = loadX1(e[k]); }
  }
  return v;
}
