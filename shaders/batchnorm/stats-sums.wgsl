// A thread's moments of its share of the data, for bn-stats and the one-pass
// forward: sums of d = x - K (one shift K per feature, the feature's first value),
// of d^2 and of x itself, turned into a StatsPartial. The including stage defines
// loadItem(index, pivot), the planes traversal's item as a vec4.

override ALIGNED: bool = true;   // planes: inner % 4 == 0, so items are vec4

// Loops add four values per round, two into each of two ThreadSums, so that the
// adds of one do not wait on the other (CPU adapters depend on that overlap). The
// plain sum of x is the reported mean near zero (bn-finalize), where a float32 sum,
// even a pairwise one, misses the 1e-6 asked of it: it is compensated, value by
// value, and the tree keeps the low part, so a workgroup's partial is its sum
// rounded once. (The shifted sums need no such care: they give the variance and
// mean - K, which a thread's plain float32 sums give well enough.)
struct ThreadSums {
  s1: vec4f,
  s2: vec4f,
  plain: Compensated,
}

const NO_SUMS = ThreadSums(vec4f(0.0), vec4f(0.0), Compensated(vec4f(0.0), vec4f(0.0)));

fn addTwo(a: ThreadSums, x0: vec4f, x1: vec4f, pivot: vec4f) -> ThreadSums {
  let d0 = x0 - pivot;
  let d1 = x1 - pivot;
  return ThreadSums(a.s1 + (d0 + d1), fma(d0, d0, fma(d1, d1, a.s2)), accumulateTwo(a.plain, x0, x1));
}

fn addOne(a: ThreadSums, x: vec4f, pivot: vec4f) -> ThreadSums {
  let d = x - pivot;
  return ThreadSums(a.s1 + d, fma(d, d, a.s2), accumulate(a.plain, x));
}

// A thread's partial from its two sets of sums.
fn partial(n: vec4f, a: ThreadSums, b: ThreadSums) -> StatsPartial {
  let some = n > vec4f(0.0);
  let plain = addCompensated(a.plain, b.plain);
  return StatsPartial(momentsFromShiftedSums(n, a.s1 + b.s1, a.s2 + b.s2, plain.hi), select(vec4f(0.0), plain.lo, some));
}

// The four columns of one partial, merged into column x.
fn mergePartialColumns(p: StatsPartial) -> StatsPartial {
  let c0 = StatsPartial(column(p.m, 0u), vec4f(p.low.x));
  let c1 = StatsPartial(column(p.m, 1u), vec4f(p.low.y));
  let c2 = StatsPartial(column(p.m, 2u), vec4f(p.low.z));
  let c3 = StatsPartial(column(p.m, 3u), vec4f(p.low.w));
  return combine(combine(c0, c1), combine(c2, c3));
}

// Periodic traversal: lane q of the thread's run of whole blocks (the partial last
// block is the caller's), shifted by the lane's pivots.
fn laneSums(t: PeriodicThread, pivot: vec4f) -> StatsPartial {
  let step = params.lanes;   // from one block to the next
  let end = t.endBlock * params.lanes + t.lane;
  var a = NO_SUMS;
  var b = NO_SUMS;
  var i = t.firstBlock * params.lanes + t.lane;
  for (; i + 3u * step < end; i += 4u * step) {
    a = addTwo(a, loadX4(i), loadX4(i + step), pivot);
    b = addTwo(b, loadX4(i + 2u * step), loadX4(i + 3u * step), pivot);
  }
  for (; i < end; i += step) {
    a = addOne(a, loadX4(i), pivot);
  }
  return partial(vec4f(f32(t.endBlock - t.firstBlock)), a, b);
}

// Planes traversal: the thread's items of feature f in a chunk, shifted by the
// feature's pivot (a scalar item in column x: see loadItem).
fn planeSums(f: u32, chunk: u32, lid: u32, pivot: f32) -> StatsPartial {
  var c = planeStart(f, chunk, lid);
  let k = f32(stepsBelow(c.item, c.end, params.planeStep));
  var a = NO_SUMS;
  var b = NO_SUMS;
  let pivot4 = vec4f(pivot);
  if (params.planeStep == 1u) {
    // a contiguous run (CPU adapters), row by row, four items per round (bn-grad-reduce
    // and bn-apply walk their planes the same way: WGSL has no generics to share it)
    while (c.item < c.end) {
      let run = rowRun(c);
      let end = c.index + run;
      var i = c.index;
      for (; i + 3u < end; i += 4u) {
        a = addTwo(a, loadItem(i, pivot), loadItem(i + 1u, pivot), pivot4);
        b = addTwo(b, loadItem(i + 2u, pivot), loadItem(i + 3u, pivot), pivot4);
      }
      for (; i < end; i++) {
        a = addOne(a, loadItem(i, pivot), pivot4);
      }
      c = nextRow(c, run);
    }
  } else {
    // every planeStep-th item (GPUs: neighbouring threads read neighbouring items)
    for (; c.item < c.end; c = planeAdvance(c)) {
      a = addOne(a, loadItem(c.index, pivot), pivot4);
    }
  }
  return partial(select(vec4f(k, 0.0, 0.0, 0.0), vec4f(k), ALIGNED), a, b);
}
