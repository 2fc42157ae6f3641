// The elementwise arithmetic of both directions, per feature:
//   forward:  y  = act((x - K) * SCALE + (SHIFT + beta) [+ z])
//   backward: dx = dy * GRAD_DY + (x - K) * GRAD_X + GRAD_SHIFT
// for bn-apply (apply.wgsl) and the one-pass stages. The including stage defines
// featureConstants(f). Subtracting K (a value of the feature) before scaling keeps
// the result exact far from zero.

override GRAD: bool = false;
override RESIDUAL: bool = false;  // forward: y = act(BN(x) + z), z bound as dy

struct Coefficients {
  pivot: vec4f,
  dyScale: vec4f,
  xScale: vec4f,
  shift: vec4f,
}

// One feature's constants (featureConstants(f), from the file in front).
struct FeatureConstants {
  pivot: f32,
  dyScale: f32,
  xScale: f32,
  shift: f32,
}

// Four features' constants, a feature to a column (a periodic lane's four values).
fn coefficients(f: vec4u) -> Coefficients {
  let a = featureConstants(f.x);
  let b = featureConstants(f.y);
  let c = featureConstants(f.z);
  let d = featureConstants(f.w);
  return Coefficients(vec4f(a.pivot, b.pivot, c.pivot, d.pivot), vec4f(a.dyScale, b.dyScale, c.dyScale, d.dyScale),
                      vec4f(a.xScale, b.xScale, c.xScale, d.xScale), vec4f(a.shift, b.shift, c.shift, d.shift));
}

// One feature's constants in every column (the planes and flat traversals): a
// quarter of coefficients()'s loads, which the flat traversal pays at every row, so
// they must stay one load per section.
fn featureCoefficients(f: u32) -> Coefficients {
  let a = featureConstants(f);
  return Coefficients(vec4f(a.pivot), vec4f(a.dyScale), vec4f(a.xScale), vec4f(a.shift));
}

// dy is dy in the backward, the residual z in a forward with RESIDUAL.
fn transform(k: Coefficients, x: vec4f, dy: vec4f) -> vec4f {
  var out = fma(x - k.pivot, k.xScale, k.shift);
  if (GRAD) {
    return fma(dy, k.dyScale, out);
  }
  if (RESIDUAL) {
    out += dy;
  }
  if (RELU) {
    // PyTorch's relu keeps NaN, and -0 becomes 0 (on the bits: see atMostZero)
    out = select(out, vec4f(0.0), atMostZero(out));
  }
  return out;
}
