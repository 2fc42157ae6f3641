// binary16 bits on the GPU, shared by both float16 storages (storage-f16.wgsl,
// storage-f16-native.wgsl) and their masked-dy stores (mask-f16.wgsl): every store
// of a half goes through halfBits, so both storages write the same bits.

// binary16 bits of each lane, correctly rounded (to nearest, ties to even, as the
// host's toHalf), by the bits: WGSL lets pack2x16float and f16() round either way
// and leaves them indeterminate outside the finite f16 range (and a compiler may
// assume floats are finite). Normal results: the f32 bits rebiased, rounded at
// bit 13; subnormal ones: |v| * 2^24 rounded to an integer (round() ties to even);
// past the midpoint of 65504 and 65536, ±Infinity; NaN stays NaN.
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

// Four halves as the two u32s that hold them in memory, element 2k in the low half.
fn packHalves(v: vec4f) -> vec2u {
  let b = halfBits(v);
  return vec2u(b.x | (b.y << 16u), b.z | (b.w << 16u));
}
