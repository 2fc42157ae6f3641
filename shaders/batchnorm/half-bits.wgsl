// binary16 bits on the GPU, shared by both float16 storages (storage-f16.wgsl,
// storage-f16-native.wgsl) and their masked-dy stores (mask-f16.wgsl): every store
// of a half goes through halfBits, so both storages write the same bits.

// binary16 bits of each lane, correctly rounded (to nearest, ties to even, as the
// host's toHalf), by the bits: WGSL lets pack2x16float and f16() round either way
// and leaves them indeterminate outside the finite f16 range (and a compiler may
// assume floats are finite). Normal results: the f32 bits rebiased, rounded at
// bit 13; subnormal ones: |v| + 0.5, whose f32 rounding (to nearest even) leaves
// |v| in units of 2^-24 in the low bits; past the midpoint of 65504 and 65536,
// ±Infinity; NaN stays NaN. This runs once per stored element, and on SwiftShader
// it was most of a float16 bn-apply's time, so it spends few instructions there:
// no round() nor float-to-integer conversion; comparisons on the magnitude, which
// has no sign bit, signed (one instruction); no shifts (Chrome's SwiftShader
// shifts each lane on its own): a select or a multiply, and the normal result's
// >> 13 done by an exact int-to-float conversion, * 2^-13, and + 2^23, whose sum
// holds the integer in its low bits.
fn halfBits(v: vec4f) -> vec4u {
  let bits = bitcast<vec4u>(v);
  let magnitude = bits & vec4u(0x7fffffffu);
  let order = bitcast<vec4i>(magnitude);
  let odd = select(vec4u(0u), vec4u(1u), (magnitude & vec4u(0x2000u)) != vec4u(0u));
  // rebiased and rounded at bit 13; bits 13 up fit in 15 bits (above 65520 it wraps: `large`)
  let rounded = (magnitude + vec4u(0xc8000fffu) + odd) & vec4u(0xffffe000u);
  let normal = bitcast<vec4u>(fma(vec4f(bitcast<vec4i>(rounded)), vec4f(1.0 / 8192.0), vec4f(8388608.0))) & vec4u(0xffffu);
  let subnormal = bitcast<vec4u>(bitcast<vec4f>(magnitude) + vec4f(0.5)) - vec4u(0x3f000000u);
  let finite = select(normal, subnormal, order < vec4i(0x38800000));   // below 2^-14
  let large = select(vec4u(0x7c00u), vec4u(0x7e00u), order > vec4i(0x7f800000));
  let sign = select(vec4u(0u), vec4u(0x8000u), bitcast<vec4i>(bits) < vec4i(0));
  return sign | select(large, finite, order < vec4i(0x477ff000));   // below 65520
}

// Four halves as the two u32s that hold them in memory, element 2k in the low half.
fn packHalves(v: vec4f) -> vec2u {
  let b = halfBits(v);
  return vec2u(b.x | (b.y * 0x10000u), b.z | (b.w * 0x10000u));
}
