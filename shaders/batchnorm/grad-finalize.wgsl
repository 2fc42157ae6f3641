// Stage 2 of the backward pass, one thread per feature: adds up bn-grad-reduce's
// partials into dbeta = sum(dy) and dgamma = invstd * sum(dy * (x - mean)), and
// writes the constants of bn-apply's dx = dy * GRAD_DY + (x - K) * GRAD_X + GRAD_SHIFT.
// With batch statistics, dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat)):
//   GRAD_DY = gamma * invstd,  GRAD_X = -GRAD_DY * invstd^2 * sum(dy * (x - mean)) / m,
//   GRAD_SHIFT = -(mean - K) * GRAD_X - GRAD_DY * sum(dy) / m.
// With running statistics (eval) the statistics are constants: dx = dy * gamma * invstd.

@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> feature: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradGamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> gradBeta: array<f32>;

const BATCH = 0u;
const RUNNING = 1u;
override MODE: u32 = BATCH;

@compute @workgroup_size(WG_SIZE)
fn grad_finalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let f = threadIndex(wid, nwg, lid);
  if (f >= params.features) { return; }
  let section = params.partialChunks * params.slotsPerChunk;
  // (sum(dy), sum(dy * (x - m'))) over the partials, added pairwise as bn-finalize merges
  var stack: array<vec2f, 32>;
  var count = 0u;
  for (var chunk = 0u; chunk < params.partialChunks; chunk++) {
    for (var j = 0u; j < params.slotRepeat; j++) {
      for (var i = 0u; i < params.slotInner; i++) {
        let s = partialSlot(chunk, f, j, i);
        var sums = vec2f(partials[s], partials[section + s]);
        var level = 0u;
        for (var k = count; (k & 1u) != 0u; k >>= 1u) {
          sums = stack[level] + sums;
          level++;
        }
        stack[level] = sums;
        count++;
      }
    }
  }
  var total = vec2f(0.0);
  for (var level = 0u; level < 32u; level++) {
    if (((count >> level) & 1u) != 0u) {
      total = stack[level] + total;
    }
  }
  let sumDy = total.x;
  var sumDyXc = total.y;
  let stride = params.featureStride;
  let invstd = feature[INVSTD * stride + f];
  let meanDelta = feature[MEAN_DELTA * stride + f];
  // bn-grad-reduce centred x on m', the mean rounded to f32; the exact mean is
  // K + (mean - K), so sum(dy * (x - mean)) = sum(dy * (x - m')) - (mean - m') * sum(dy).
  let rounding = (feature[PIVOT * stride + f] - feature[MEAN * stride + f]) + meanDelta;
  sumDyXc -= rounding * sumDy;
  gradBeta[f] = sumDy;
  gradGamma[f] = sumDyXc * invstd;

  let dyScale = gamma[f] * invstd;
  var xScale = 0.0;
  var shift = 0.0;
  if (MODE == BATCH) {
    xScale = -dyScale * invstd * invstd * sumDyXc / params.count;
    shift = -meanDelta * xScale - dyScale * sumDy / params.count;
  }
  feature[GRAD_DY * stride + f] = dyScale;
  feature[GRAD_X * stride + f] = xScale;
  feature[GRAD_SHIFT * stride + f] = shift;
}
