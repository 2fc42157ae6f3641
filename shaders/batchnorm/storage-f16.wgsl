// Tensor storage (BatchNorm's `storage: 'float16'`): x, y, dy, dx and the residual
// are IEEE binary16, two to a u32 (element 2k in the low half): a vec4 of them is
// one vec2u, unpacked to vec4f on load and packed on store; all arithmetic and
// every sum stay f32. Packed u32s, not WGSL's f16, so it runs on every adapter
// (f16 needs the optional `shader-f16` feature). See storage-f32.wgsl.

alias Stored4 = vec2u;
alias Stored1 = u32;

// f16 to f32 is exact (every binary16 value, subnormals, Inf and NaN included, is
// an f32 value), and unpack2x16float is what CPU adapters do fastest (a hardware
// conversion; by the bits it took 1.4x as long on SwiftShader).
fn unpack4(v: vec2u) -> vec4f {
  return vec4f(unpack2x16float(v.x), unpack2x16float(v.y));
}

// binary16 bits of each lane, correctly rounded (to nearest, ties to even, as the
// host's toHalf), by the bits: WGSL lets pack2x16float round either way and leaves
// it indeterminate outside the finite f16 range (and a compiler may assume floats
// are finite). Normal results: the f32 bits rebiased, rounded at bit 13; subnormal
// ones: |v| * 2^24 rounded to an integer (round() ties to even); past the midpoint
// of 65504 and 65536, ±Infinity; NaN stays NaN.
fn halfBits(v: vec4f) -> vec4u {
  let bits = bitcast<vec4u>(v);
  let sign = (bits >> vec4u(16u)) & vec4u(0x8000u);
  let magnitude = bits & vec4u(0x7fffffffu);
  let normal = (magnitude - vec4u(0x38000000u) + vec4u(0xfffu) + ((magnitude >> vec4u(13u)) & vec4u(1u))) >> vec4u(13u);
  let subnormal = vec4u(round(abs(v) * 16777216.0));
  let finite = select(normal, subnormal, magnitude < vec4u(0x38800000u));   // below 2^-14
  let large = select(vec4u(0x7c00u), vec4u(0x7e00u), magnitude > vec4u(0x7f800000u));
  return sign | select(large, finite, magnitude < vec4u(0x477ff000u));   // below 65520
}

fn pack4(v: vec4f) -> vec2u {
  let b = halfBits(v);
  return vec2u(b.x | (b.y << 16u), b.z | (b.w << 16u));
}

fn wordOf(i: u32) -> u32 {
  return i >> 1u;
}

fn unpack1(w: u32, i: u32) -> f32 {
  return unpack2x16float(w)[i & 1u];
}
