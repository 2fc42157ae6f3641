// dy's scalar view, as tensor-x-scalar.wgsl's for x (a copy: WGSL takes no storage
// pointers as arguments).

@group(0) @binding(4) var<storage, read> dy1: array<Stored1>;

fn loadDy1(i: u32) -> f32 {
  return unpack1(dy1[wordOf(i)], i);
}

fn tailDy(lane: u32, valid: vec4<bool>) -> vec4f {
  if (tailWhole(lane)) {
    return loadDy4(params.blocks * params.lanes + lane);
  }
  let e = vec4u(tailBase()) + laneOffsets(lane);
  var v = vec4f(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (valid[k]) { v[k] = loadDy1(e[k]); }
  }
  return v;
}
