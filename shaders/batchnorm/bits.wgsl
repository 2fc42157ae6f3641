// Decisions on the bits. WGSL lets a compiler assume that no float is NaN or infinite, and some use it
// (NVIDIA's Vulkan driver turns select(v, 0, v <= 0) into max(v, 0), which returns 0
// for NaN). Where NaN and Inf must flow through as PyTorch lets them, the
// comparison is made on the bits.

// v <= 0: +0, and every value with the sign bit from -0 to -Infinity (not NaN).
fn atMostZero(v: vec4f) -> vec4<bool> {
  let u = bitcast<vec4u>(v);
  return (u == vec4u(0u)) | ((u >= vec4u(0x80000000u)) & (u <= vec4u(0xff800000u)));
}

// v > 0: from the smallest subnormal to +Infinity (not NaN).
fn aboveZero(v: vec4f) -> vec4<bool> {
  let u = bitcast<vec4u>(v);
  return (u >= vec4u(1u)) & (u <= vec4u(0x7f800000u));
}

// The fused ReLU (BatchNorm's `activation: 'relu'`): forward, y = max(., 0) with NaN
// kept (PyTorch's relu); backward, dy' from dy and y.
override RELU: bool = false;

// The ReLU's gradient applied to dy: dy where the ReLU's output y > 0, else 0
// (PyTorch's threshold_backward: 0 at the kink and where y is NaN).
fn reluGradient(dy: vec4f, y: vec4f) -> vec4f {
  return select(vec4f(0.0), dy, aboveZero(y));
}

// Neither ±Infinity nor NaN.
fn isFinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}
