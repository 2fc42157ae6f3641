// A feature's gradients and dx constants from its sums: what bn-grad-finalize and
// the one-pass backward compute alike. The including stage declares `feature`,
// `gamma`, `gradGamma` and `gradBeta`.
// dbeta = sum(dy), dgamma = invstd * sum(dy * (x - mean)), and the constants of
// dx = dy * GRAD_DY + (x - K) * GRAD_X + GRAD_SHIFT. With batch statistics,
// dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat)):
//   GRAD_DY = gamma * invstd,  GRAD_X = -GRAD_DY * invstd * sum(dy * xhat) / m,
//   GRAD_SHIFT = -(mean - K) * GRAD_X - GRAD_DY * sum(dy) / m.
// With running statistics (eval) the statistics are constants: dx = dy * gamma * invstd.

// (sum(dy), sum(dy * (x - mean))) of feature f from its partials' total.
fn centredSums(f: u32, total: vec2f) -> vec2f {
  // bn-grad-reduce centred x on m', the mean rounded to f32; the exact mean is
  // K + (mean - K), so sum(dy * (x - mean)) = sum(dy * (x - m')) - (mean - m') * sum(dy).
  let stride = params.featureStride;
  let rounding = (feature[PIVOT * stride + f] - feature[MEAN * stride + f]) + feature[MEAN_DELTA * stride + f];
  return vec2f(total.x, total.y - rounding * total.x);
}

// dgamma, dbeta and feature f's dx constants, from sum(dy) and sum(dy * xhat) of
// `count` values; `batch`: through batch statistics, else through running ones.
fn storeGradients(f: u32, invstd: f32, sumDy: f32, sumDyXhat: f32, count: f32, batch: bool) {
  gradBeta[f] = sumDy;
  gradGamma[f] = sumDyXhat;
  let stride = params.featureStride;
  let dyScale = gamma[f] * invstd;
  var xScale = 0.0;
  var shift = 0.0;
  if (batch) {
    xScale = -dyScale * invstd * sumDyXhat / count;
    shift = -feature[MEAN_DELTA * stride + f] * xScale - dyScale * sumDy / count;
  }
  feature[GRAD_DY * stride + f] = dyScale;
  feature[GRAD_X * stride + f] = xScale;
  feature[GRAD_SHIFT * stride + f] = shift;
}
