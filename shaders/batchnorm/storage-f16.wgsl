// Tensor storage (BatchNorm's `storage: 'float16'`): x, y, dy, dx and the residual
// are IEEE binary16, two to a u32 (element 2k in the low half): a vec4 of them is
// one vec2u, unpacked to vec4f on load and packed on store; all arithmetic and
// every sum stay f32. Packed u32s, not WGSL's f16, so it runs on every adapter
// (f16 needs the optional `shader-f16` feature). See storage-f32.wgsl.

alias Stored4 = vec2u;
alias Stored1 = u32;

fn unpack4(v: vec2u) -> vec4f {
  return vec4f(unpack2x16float(v.x), unpack2x16float(v.y));
}

// binary16 bits of each lane, to nearest. WGSL leaves pack2x16float of a value
// outside the finite f16 range indeterminate, so those are done by the bits (a
// compiler may assume floats are finite): past the midpoint of 65504 and 65536,
// ±Infinity; between 65504 and it, ±65504; NaN stays NaN.
fn halfBits(v: vec4f) -> vec4u {
  let bits = bitcast<vec4u>(v);
  let sign = (bits >> vec4u(16u)) & vec4u(0x8000u);
  let magnitude = bits & vec4u(0x7fffffffu);
  let inRange = magnitude <= vec4u(0x477fe000u);   // |v| <= 65504
  let safe = select(vec4f(0.0), v, inRange);
  let lo = pack2x16float(safe.xy);
  let hi = pack2x16float(safe.zw);
  let packed = vec4u(lo & 0xffffu, lo >> 16u, hi & 0xffffu, hi >> 16u);
  let large = select(vec4u(0x7bffu), vec4u(0x7c00u), magnitude >= vec4u(0x477ff000u));
  let special = select(large, vec4u(0x7e00u), magnitude > vec4u(0x7f800000u));
  return select(sign | special, packed, inRange);
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
