// Sums to about twice f32 precision. A float32 sum of n values of zero-mean data
// (N(0, 1), say) is off by about eps * sqrt(n log n) even when added pairwise: more
// than 1e-6 of a mean near zero. Carried as hi + lo, with each addition's rounding error recovered exactly,
// the error stays near one rounding of the result, whatever the order.

struct Compensated {
  hi: vec4f,
  lo: vec4f,   // what hi misses: the sum is hi + lo
}

// v itself, through an operation a compiler cannot see through. WGSL lets compilers
// reassociate float arithmetic, and some do (NVIDIA's Vulkan driver; LLVM in Mesa's
// lavapipe): knowing s = a + b, they fold (s - a) - b to 0, and every error term
// below with it. So each step of an error term goes through opaque(): hiding only
// the sums left the mean of a long contiguous run short of its test (on an H200).
// Where the barrier is not needed it costs a CPU adapter time (docs/performance.md),
// so the host sets OPAQUE_SUMS false only on a device where float-order-probe.wgsl,
// which runs these very functions, found every error term kept (src/batchnorm/float-order.ts).
// The including module declares `params` with a `zeroBits` field holding 0. An OR,
// not an XOR: opaque(opaque(v)) comes about (accumulate's t goes into twoSumError),
// and a compiler cancels a repeated XOR back to v (LLVM in lavapipe did).
override OPAQUE_SUMS: bool = true;

fn opaque(v: vec4f) -> vec4f {
  if (OPAQUE_SUMS) {
    return bitcast<vec4f>(bitcast<vec4u>(v) | vec4u(params.zeroBits));
  }
  return v;
}

// The rounding error of s = a + b (Knuth's two-sum: exact for any a, b).
fn twoSumError(a: vec4f, b: vec4f, s: vec4f) -> vec4f {
  let t = opaque(s);
  let bb = opaque(t - a);
  let aa = opaque(t - bb);
  return opaque(a - aa) + opaque(b - bb);
}

fn addCompensated(a: Compensated, b: Compensated) -> Compensated {
  let hi = a.hi + b.hi;
  return Compensated(hi, (a.lo + b.lo) + twoSumError(a.hi, b.hi, hi));
}

// How a thread adds values into a compensated sum, set per tuning. Fast2Sum's
// error (a.hi - t) + x, three adds, is exact while |a.hi| >= |x|, which a running
// sum past its first values nearly always is (and otherwise off by no more than a
// plain sum's own rounding): long contiguous loops (CPU tunings). Short or
// interleaved loops (GPU tunings), where a value is as large as the sum so far
// about as often as not, take two-sum: six adds, exact for any magnitudes.
override EXACT_SUMS: bool = true;

fn accumulate(a: Compensated, x: vec4f) -> Compensated {
  let t = opaque(a.hi + x);
  if (EXACT_SUMS) {
    return Compensated(t, a.lo + twoSumError(a.hi, x, t));
  }
  return Compensated(t, a.lo + opaque(opaque(a.hi - t) + x));
}

fn accumulateTwo(a: Compensated, x0: vec4f, x1: vec4f) -> Compensated {
  if (EXACT_SUMS) {
    return accumulate(accumulate(a, x0), x1);
  }
  let t0 = opaque(a.hi + x0);
  let t1 = opaque(t0 + x1);
  let e0 = opaque(opaque(a.hi - t0) + x0);
  let e1 = opaque(opaque(t0 - t1) + x1);
  return Compensated(t1, a.lo + opaque(e0 + e1));
}

