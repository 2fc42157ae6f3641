// A thread's gradient sums of its share of the data, for bn-grad-reduce and the
// one-pass backward: sum(dy) and sum(dy * (x - m')), m' the mean rounded to f32.
// The including stage declares `feature` and defines maskVec(i, dy) (dy' of the
// vec4 at index i: dy itself without ReLU) and loadItem(index), the planes
// traversal's item.

// sum(dy) and sum(dy * (x - m')), the second compensated: dgamma is it times invstd,
// and where x and dy are independent it is a sum of zero-mean terms, which a
// float32 sum (even a pairwise one) gets only to about eps * sqrt(n log n) of its
// terms' size. Products go in with their own rounding error (an fma).
struct GradSums {
  dy: vec4f,
  dyXc: Compensated,
}

alias Partial = GradSums;

const NO_GRAD_SUMS = GradSums(vec4f(0.0), Compensated(vec4f(0.0), vec4f(0.0)));

fn combine(a: GradSums, b: GradSums) -> GradSums {
  return GradSums(a.dy + b.dy, addCompensated(a.dyXc, b.dyXc));
}

// Loops add two values per call into one of two GradSums (independent adds); the
// products compensated as compensated.wgsl's accumulate says (per tuning).
fn addTwo(a: GradSums, dy0: vec4f, xc0: vec4f, dy1: vec4f, xc1: vec4f) -> GradSums {
  let p0 = opaque(dy0 * xc0);   // else fma(dy0, xc0, -p0) may fold to 0 (compensated.wgsl's opaque)
  let p1 = opaque(dy1 * xc1);
  let s = accumulateTwo(a.dyXc, p0, p1);
  let rounding = fma(dy0, xc0, -p0) + fma(dy1, xc1, -p1);
  return GradSums(a.dy + (dy0 + dy1), Compensated(s.hi, s.lo + rounding));
}

fn addOne(a: GradSums, dy: vec4f, xc: vec4f) -> GradSums {
  let p = opaque(dy * xc);
  let s = accumulate(a.dyXc, p);
  return GradSums(a.dy + dy, Compensated(s.hi, s.lo + fma(dy, xc, -p)));
}

// Column k of a GradSums in every column.
fn gradColumn(a: GradSums, k: u32) -> GradSums {
  return GradSums(vec4f(a.dy[k]), Compensated(vec4f(a.dyXc.hi[k]), vec4f(a.dyXc.lo[k])));
}

// The four columns of one GradSums, added into column x (as stats-sums.wgsl's mergePartialColumns).
fn mergeGradColumns(a: GradSums) -> GradSums {
  return combine(combine(gradColumn(a, 0u), gradColumn(a, 1u)), combine(gradColumn(a, 2u), gradColumn(a, 3u)));
}

fn featureValue(section: u32, f: u32) -> f32 {
  return feature[section * params.featureStride + f];
}

// Lane q's means m'.
fn laneMeans(lane: u32) -> vec4f {
  let f = laneFeatures(lane);
  return vec4f(featureValue(MEAN, f.x), featureValue(MEAN, f.y), featureValue(MEAN, f.z), featureValue(MEAN, f.w));
}

// Periodic traversal: lane q of the thread's run of whole blocks (the partial last
// block is the caller's), centred on the lane's means.
fn laneGradSums(t: PeriodicThread, mean: vec4f) -> GradSums {
  let step = params.lanes;
  let end = t.endBlock * params.lanes + t.lane;
  var a = NO_GRAD_SUMS;
  var b = NO_GRAD_SUMS;
  var i = t.firstBlock * params.lanes + t.lane;
  for (; i + 3u * step < end; i += 4u * step) {
    a = addTwo(a, maskVec(i, loadDy4(i)), loadX4(i) - mean, maskVec(i + step, loadDy4(i + step)), loadX4(i + step) - mean);
    b = addTwo(b, maskVec(i + 2u * step, loadDy4(i + 2u * step)), loadX4(i + 2u * step) - mean,
               maskVec(i + 3u * step, loadDy4(i + 3u * step)), loadX4(i + 3u * step) - mean);
  }
  for (; i < end; i += step) {
    a = addOne(a, maskVec(i, loadDy4(i)), loadX4(i) - mean);
  }
  return combine(a, b);
}

struct Item {
  x: vec4f,
  dy: vec4f,
}

// Planes traversal: the thread's items of feature f in a chunk, centred on its mean.
fn planeGradSums(f: u32, chunk: u32, lid: u32, mean: f32) -> GradSums {
  var a = NO_GRAD_SUMS;
  var b = NO_GRAD_SUMS;
  var c = planeStart(f, chunk, lid);
  if (params.planeStep == 1u) {
    // a contiguous run (CPU adapters), row by row, four items per round
    while (c.item < c.end) {
      let run = rowRun(c);
      let end = c.index + run;
      var i = c.index;
      for (; i + 3u < end; i += 4u) {
        let v0 = loadItem(i);
        let v1 = loadItem(i + 1u);
        let v2 = loadItem(i + 2u);
        let v3 = loadItem(i + 3u);
        a = addTwo(a, v0.dy, v0.x - mean, v1.dy, v1.x - mean);
        b = addTwo(b, v2.dy, v2.x - mean, v3.dy, v3.x - mean);
      }
      for (; i < end; i++) {
        let v = loadItem(i);
        a = addOne(a, v.dy, v.x - mean);
      }
      c = nextRow(c, run);
    }
  } else {
    // every planeStep-th item (GPUs: neighbouring threads read neighbouring items)
    for (; c.item < c.end; c = planeAdvance(c)) {
      let v = loadItem(c.index);
      a = addOne(a, v.dy, v.x - mean);
    }
  }
  return combine(a, b);
}
