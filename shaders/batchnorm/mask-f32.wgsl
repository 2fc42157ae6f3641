// bn-grad-reduce's dy' (ReLU's masked dy) in float32 storage; mask-f16.wgsl is the
// float16 one. Scalars, not vec4 stores: a vec4 component store may rewrite the
// whole vec4, which races where neighbouring scalars belong to other workgroups.
@group(0) @binding(8) var<storage, read_write> masked: array<f32>;

fn storeMaskedVec(i: u32, m: vec4f) {
  let e = 4u * i;
  masked[e] = m.x;
  masked[e + 1u] = m.y;
  masked[e + 2u] = m.z;
  masked[e + 3u] = m.w;
}

// Lane i of the partial last block: only its valid values.
fn storeMaskedTail(i: u32, m: vec4f, valid: vec4<bool>) {
  for (var k = 0u; k < 4u; k++) {
    if (valid[k]) { masked[4u * i + k] = m[k]; }
  }
}

fn storeMaskedScalar(i: u32, m: f32) {
  masked[i] = m;
}
