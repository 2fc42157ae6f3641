// x, the tensor every elementwise and reduce stage reads, as two views: vec4 for the
// bulk and scalar for the last, partial vec4. The element types (Stored4, Stored1)
// and their conversions come from storage-f32.wgsl, storage-f16.wgsl or
// storage-f16-native.wgsl: these loaders are the one place a stage reads x, in any
// storage. tensor-dy.wgsl does the same for dy; a stage's own bindings start at 5.

@group(0) @binding(1) var<storage, read> x4: array<Stored4>;
@group(0) @binding(2) var<storage, read> x1: array<Stored1>;

fn loadX4(i: u32) -> vec4f {
  return unpack4(x4[i]);
}

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
