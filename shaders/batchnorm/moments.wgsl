// Moments of a feature's values, and how two of them merge.

// Running moments of 4 independent columns: count, the sum of d = x - K, the sum of
// squared deviations from the mean, and the plain sum of x (bn-finalize says which
// mean it reports). Sums, not means: merged in a tree they are pairwise sums, one
// rounding per merge.
struct Moments {
  n: vec4f,
  sumD: vec4f,
  m2: vec4f,
  sumX: vec4f,
}

// Sums of d = x - K, d^2 and x turned into moments. Shifting by a K taken from the
// data keeps d small, so s2 - s1 * mean cancels little; this costs only FMAs per
// element, where Welford's update costs a division.
fn momentsFromShiftedSums(n: vec4f, s1: vec4f, s2: vec4f, s0: vec4f) -> Moments {
  let some = n > vec4f(0.0);
  return Moments(n, s1, s2 - s1 * select(vec4f(0.0), s1 / n, some), select(vec4f(0.0), s0, some));
}

// Chan et al.'s pairwise merge: exact in exact arithmetic, stable in f32 because
// it only ever combines deviations, never raw sums of squares.
fn chanMerge(a: Moments, b: Moments) -> Moments {
  let n = a.n + b.n;
  let delta = select(vec4f(0.0), b.sumD / b.n, b.n > vec4f(0.0)) - select(vec4f(0.0), a.sumD / a.n, a.n > vec4f(0.0));
  let weight = select(vec4f(0.0), a.n * b.n / n, n > vec4f(0.0));
  return Moments(n, a.sumD + b.sumD, a.m2 + b.m2 + delta * delta * weight, a.sumX + b.sumX);
}

// Column k of a Moments in every column.
fn column(a: Moments, k: u32) -> Moments {
  return Moments(vec4f(a.n[k]), vec4f(a.sumD[k]), vec4f(a.m2[k]), vec4f(a.sumX[k]));
}

// The four columns of one Moments, merged into column x.
fn mergeColumns(a: Moments) -> Moments {
  return chanMerge(chanMerge(column(a, 0u), column(a, 1u)), chanMerge(column(a, 2u), column(a, 3u)));
}
