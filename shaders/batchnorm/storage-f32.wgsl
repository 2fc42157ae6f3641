// Tensor storage (BatchNorm's `storage`): float32. x, y, dy, dx and the residual
// are f32; a vec4 of them is one vec4f. For float16, storage-f16.wgsl (packed u32s)
// or storage-f16-native.wgsl (WGSL f16): the host puts one of them in front of
// every stage that reads or writes tensors, so the loaders in tensors.wgsl are
// written once for all. (The binding types differ, which an override cannot
// change, and a second set of bindings would not fit bn-grad-reduce's 8 storage
// bindings: so each storage is its own module.)

alias Stored4 = vec4f;   // four elements, as read
alias Stored1 = f32;     // the word holding one element, in the scalar view
alias Written4 = vec4f;  // four elements, as bn-apply writes them

fn unpack4(v: vec4f) -> vec4f {
  return v;
}

fn pack4(v: vec4f) -> vec4f {
  return v;
}

// The scalar view's word holding element i, and element i out of it.
fn wordOf(i: u32) -> u32 {
  return i;
}

fn unpack1(w: f32, i: u32) -> f32 {
  return w;
}
