// dy as vec4s, as tensor-x.wgsl reads x (stages that read no dy bind x in its place;
// the forward's bn-apply binds the residual here). A copy of x's loader, for WGSL
// takes no storage pointers as arguments.

@group(0) @binding(3) var<storage, read> dy4: array<Stored4>;

fn loadDy4(i: u32) -> vec4f {
  return unpack4(dy4[i]);
}
