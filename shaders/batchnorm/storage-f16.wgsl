// Tensor storage (BatchNorm's `storage: 'float16'`) on every device: x, y, dy, dx
// and the residual are IEEE binary16, two to a u32 (element 2k in the low half): a
// vec4 of them is one vec2u, unpacked to vec4f on load and packed on store; all
// arithmetic and every sum stay f32. storage-f16-native.wgsl binds the same bytes
// as WGSL f16 where the device has `shader-f16`. Stores round in half-bits.wgsl.
// See storage-f32.wgsl.

alias Stored4 = vec2u;
alias Stored1 = u32;
alias Written4 = vec2u;

// f16 to f32 is exact (every binary16 value, subnormals, Inf and NaN included, is
// an f32 value), and unpack2x16float is what CPU adapters do fastest (a hardware
// conversion, faster there than decoding the bits).
fn unpack4(v: vec2u) -> vec4f {
  return vec4f(unpack2x16float(v.x), unpack2x16float(v.y));
}

fn pack4(v: vec4f) -> vec2u {
  return packHalves(v);
}

fn wordOf(i: u32) -> u32 {
  return i >> 1u;
}

fn unpack1(w: u32, i: u32) -> f32 {
  return unpack2x16float(w)[i & 1u];
}
