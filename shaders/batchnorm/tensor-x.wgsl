// x, the tensor every elementwise and reduce stage reads, as vec4s. The element
// types (Stored4, Stored1) and their conversions come from storage-f32.wgsl,
// storage-f16.wgsl or storage-f16-native.wgsl: these loaders are the one place a
// stage reads x, in any storage. tensor-x-scalar.wgsl adds the scalar view, for the
// last, partial vec4 and scalar items; stages that never read one (the one-pass
// stages) leave it out, and so keep its binding. tensor-dy.wgsl and
// tensor-dy-scalar.wgsl do the same for dy; a stage's own bindings start at 5.

@group(0) @binding(1) var<storage, read> x4: array<Stored4>;

fn loadX4(i: u32) -> vec4f {
  return unpack4(x4[i]);
}
