// Stage 1 of a training forward: per-feature moments, as partials.
// Each workgroup reduces its share of the data to (count, sum(x - K), M2, sum(x))
// per feature position, with one shift K per feature: the feature's first value.
// Every workgroup uses the same K, so partial sums stay small numbers, and
// bn-finalize merges the partials with Chan's formula and adds K back last.

@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
// [numBatchesTracked, numBatchesTracked + 1]: bn-finalize reads the second and
// copies it into the first, so no dispatch both reads and writes one word.
@group(0) @binding(6) var<storage, read_write> batches: array<u32>;

override ALIGNED: bool = true;   // planes: inner % 4 == 0, so items are vec4

// Saturates at 2^32 - 1 rather than wrapping to 0 (which would make momentum null divide by 0).
fn countBatch(wg: u32, lid: u32) {
  if (wg == 0u && lid == 0u) {
    let n = batches[0];
    batches[1] = select(n + 1u, n, n == 0xffffffffu);
  }
}

// A thread's sums: of d = x - K and d^2, and of x itself. Loops add four values
// per round, two into each of two of these, so that the adds of one do not wait
// on the other (CPU adapters depend on that overlap). The plain sum of x is the reported mean
// near zero (bn-finalize), where a float32 sum, even a pairwise one, misses the
// 1e-6 asked of it: it is compensated, value by value, and the tree keeps the low
// part, so a workgroup's partial is its sum rounded once. (The shifted sums need
// no such care: they give the variance and mean - K, which a thread's plain
// float32 sums give well enough.)
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

// The plain sum goes out rounded once: hi + lo.
fn storeMoments(slot: u32, p: StatsPartial, columns: u32) {
  let section = params.partialChunks * params.slotsPerChunk;
  let m = p.m;
  let sumX = m.sumX + p.low;
  for (var k = 0u; k < columns; k++) {
    partials[slot + k] = m.n[k];
    partials[section + slot + k] = m.sumD[k];
    partials[2u * section + slot + k] = m.m2[k];
    partials[3u * section + slot + k] = sumX[k];
  }
}

// Lane q's shifts K: the first value of each of its features.
fn lanePivots(lane: u32) -> vec4f {
  let f = laneFeatures(lane);
  return vec4f(loadX1(f.x * params.inner), loadX1(f.y * params.inner), loadX1(f.z * params.inner), loadX1(f.w * params.inner));
}

// Lane q's values in the partial last block, merged into p.
fn withTail(p: StatsPartial, lane: u32, pivot: vec4f) -> StatsPartial {
  let valid = tailMask(lane);
  let x = tailX(lane, valid);   // zeros past the data
  let d = select(vec4f(0.0), x - pivot, valid);
  let n = select(vec4f(0.0), vec4f(1.0), valid);
  return combine(p, StatsPartial(momentsFromShiftedSums(n, d, d * d, x), vec4f(0.0)));
}

// Each thread owns one vec4 lane (4 feature positions) and walks down the blocks.
@compute @workgroup_size(WG_SIZE)
fn stats_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  countBatch(wg, lid);
  if (PAIRED_LANES) {
    statsPaired(wg, lid);
    return;
  }
  let t = periodicThread(wg, lid);
  var p = partial(vec4f(0.0), NO_SUMS, NO_SUMS);
  if (t.inRange) {
    let pivot = lanePivots(t.lane);
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
    p = partial(vec4f(f32(t.endBlock - t.firstBlock)), a, b);
    if (t.ownsTail) {
      p = withTail(p, t.lane, pivot);
    }
  }
  if (SHARED_LANES) {
    p = reduceRowLanes(lid, params.lanesPerGroup, params.rowLanes, p);
  }
  if (t.inRange && t.rowLane == 0u) {
    storeMoments(t.chunk * params.slotsPerChunk + 4u * t.lane, p, 4u);
  }
}

// The same with PAIRED_LANES: a thread walks its two lanes down its blocks side by
// side, two blocks a round, and stores a partial of each (bn-grad-reduce's
// gradPaired and bn-apply's apply_periodic walk the same way: WGSL has no generics
// to share it).
fn statsPaired(wg: u32, lid: u32) {
  let t = pairThread(wg, lid);
  if (!t.inRange) { return; }
  let pivot0 = lanePivots(t.lanes.x);
  let pivot1 = lanePivots(t.lanes.y);
  let step = params.lanes;
  let end = t.endBlock * step;
  var a = NO_SUMS;
  var b = NO_SUMS;
  var block = t.firstBlock * step;   // the block's first vec4
  for (; block + step < end; block += 2u * step) {
    let i0 = block + t.lanes.x;
    let i1 = block + t.lanes.y;
    a = addTwo(a, loadX4(i0), loadX4(i0 + step), pivot0);
    b = addTwo(b, loadX4(i1), loadX4(i1 + step), pivot1);
  }
  if (block < end) {
    a = addOne(a, loadX4(block + t.lanes.x), pivot0);
    b = addOne(b, loadX4(block + t.lanes.y), pivot1);
  }
  let n = vec4f(f32(t.endBlock - t.firstBlock));
  var p0 = partial(n, a, NO_SUMS);
  var p1 = partial(n, b, NO_SUMS);
  if (t.ownsTail) {
    p0 = withTail(p0, t.lanes.x, pivot0);
    p1 = withTail(p1, t.lanes.y, pivot1);
  }
  storeMoments(pairedSlot(t, t.lanes.x), p0, 4u);
  if (t.lanes.y != t.lanes.x) {
    storeMoments(pairedSlot(t, t.lanes.y), p1, 4u);
  }
}

fn loadItem(index: u32, pivot: f32) -> vec4f {
  if (ALIGNED) {
    return loadX4(index);
  }
  // Scalar item in column x; the other columns see K itself and so add nothing
  // to the shifted sums (their plain sums are dropped: their count is 0).
  return vec4f(loadX1(index), pivot, pivot, pivot);
}

// NCL and NCHW: a workgroup owns one feature and a chunk of its values.
@compute @workgroup_size(WG_SIZE)
fn stats_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.planeWorkgroups) { return; }
  countBatch(wg, lid);
  let f = wg / params.planeChunks;
  let pivot = loadX1(f * params.inner);
  var c = planeStart(f, wg % params.planeChunks, lid);
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
  let n = select(vec4f(k, 0.0, 0.0, 0.0), vec4f(k), ALIGNED);
  var p = partial(n, a, b);
  if (SHARED_LANES) {
    p = reduceRowLanes(lid, 1u, WG_SIZE, p);
    if (lid != 0u) { return; }
  }
  storeMoments(planeSlot(wg, f, lid), mergePartialColumns(p), 1u);
}
