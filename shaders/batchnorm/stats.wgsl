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

alias Partial = Moments;

fn combine(a: Moments, b: Moments) -> Moments {
  return chanMerge(a, b);
}

// Saturates at 2^32 - 1 rather than wrapping to 0 (which would make momentum null divide by 0).
fn countBatch(wg: u32, lid: u32) {
  if (wg == 0u && lid == 0u) {
    let n = batches[0];
    batches[1] = select(n + 1u, n, n == 0xffffffffu);
  }
}

// Sums of d = x - K, d^2 and x. Loops add four values per round into two of these,
// so that the adds of one do not wait on the other (CPU adapters gain 1.5x).
// The plain sum of x costs one add per vec4; bn-finalize needs it where K is far
// from a mean near zero (see there).
struct ShiftedSums {
  s1: vec4f,
  s2: vec4f,
  s0: vec4f,
}

fn addTwo(a: ShiftedSums, x0: vec4f, x1: vec4f, pivot: vec4f) -> ShiftedSums {
  let d0 = x0 - pivot;
  let d1 = x1 - pivot;
  return ShiftedSums(a.s1 + (d0 + d1), fma(d0, d0, fma(d1, d1, a.s2)), a.s0 + (x0 + x1));
}

fn addOne(a: ShiftedSums, x: vec4f, pivot: vec4f) -> ShiftedSums {
  let d = x - pivot;
  return ShiftedSums(a.s1 + d, fma(d, d, a.s2), a.s0 + x);
}

fn addSums(a: ShiftedSums, b: ShiftedSums) -> ShiftedSums {
  return ShiftedSums(a.s1 + b.s1, a.s2 + b.s2, a.s0 + b.s0);
}

// A thread with a long loop (CPU adapters) sums runs of RUN items on their own,
// RUN runs into a group, and adds the groups up: three levels, so rounding stays
// near a pairwise sum's (one level: 10x it for the plain mean at m = 10^6).
const RUN = 16u;

// Sums of one group of runs (`runs` of them so far), and of the groups before it.
struct ThreadSums {
  group: ShiftedSums,
  total: ShiftedSums,
  runs: u32,
}

fn addRun(t: ThreadSums, run: ShiftedSums) -> ThreadSums {
  var next = ThreadSums(addSums(t.group, run), t.total, t.runs + 1u);
  if (next.runs == RUN) {
    next = ThreadSums(ShiftedSums(vec4f(0.0), vec4f(0.0), vec4f(0.0)), addSums(t.total, next.group), 0u);
  }
  return next;
}

fn threadTotal(t: ThreadSums) -> ShiftedSums {
  return addSums(t.total, t.group);
}

fn moments(n: vec4f, s: ShiftedSums) -> Moments {
  return momentsFromShiftedSums(n, s.s1, s.s2, s.s0);
}

fn storeMoments(slot: u32, m: Moments, columns: u32) {
  let section = params.partialChunks * params.slotsPerChunk;
  for (var k = 0u; k < columns; k++) {
    partials[slot + k] = m.n[k];
    partials[section + slot + k] = m.sumD[k];
    partials[2u * section + slot + k] = m.m2[k];
    partials[3u * section + slot + k] = m.sumX[k];
  }
}

// Each thread owns one vec4 lane (4 feature positions) and walks down the blocks.
@compute @workgroup_size(WG_SIZE)
fn stats_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  countBatch(wg, lid);
  let t = periodicThread(wg, lid);
  var m = Moments(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  if (t.inRange) {
    let f = laneFeatures(t.lane);
    let pivot = vec4f(x1[f.x * params.inner], x1[f.y * params.inner], x1[f.z * params.inner], x1[f.w * params.inner]);
    let step = params.lanes;   // from one block to the next
    let zero = ShiftedSums(vec4f(0.0), vec4f(0.0), vec4f(0.0));
    var sums = ThreadSums(zero, zero, 0u);
    for (var run = t.firstBlock; run < t.endBlock; run += RUN) {
      let end = min(run + RUN, t.endBlock) * params.lanes + t.lane;
      var a = ShiftedSums(vec4f(0.0), vec4f(0.0), vec4f(0.0));
      var b = a;
      var i = run * params.lanes + t.lane;
      for (; i + 3u * step < end; i += 4u * step) {
        a = addTwo(a, x4[i], x4[i + step], pivot);
        b = addTwo(b, x4[i + 2u * step], x4[i + 3u * step], pivot);
      }
      for (; i < end; i += step) {
        a = addOne(a, x4[i], pivot);
      }
      sums = addRun(sums, addSums(a, b));
    }
    m = moments(vec4f(f32(t.endBlock - t.firstBlock)), threadTotal(sums));
    if (t.ownsTail) {
      let valid = tailMask(t.lane);
      let x = tailX(t.lane, valid);   // zeros past the data
      let d = select(vec4f(0.0), x - pivot, valid);
      m = chanMerge(m, momentsFromShiftedSums(select(vec4f(0.0), vec4f(1.0), valid), d, d * d, x));
    }
  }
  m = reduceRowLanes(lid, params.lanesPerGroup, params.rowLanes, m);
  if (t.inRange && t.rowLane == 0u) {
    storeMoments(t.chunk * params.slotsPerChunk + 4u * t.lane, m, 4u);
  }
}

fn loadItem(index: u32, pivot: f32) -> vec4f {
  if (ALIGNED) {
    return x4[index];
  }
  // Scalar item in column x; the other columns see K itself and so add nothing
  // to the shifted sums (their plain sums are dropped: their count is 0).
  return vec4f(x1[index], pivot, pivot, pivot);
}

// NCL and NCHW: a workgroup owns one feature and a chunk of its values.
@compute @workgroup_size(WG_SIZE)
fn stats_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.planeWorkgroups) { return; }
  countBatch(wg, lid);
  let f = wg / params.planeChunks;
  let pivot = x1[f * params.inner];
  var c = planeStart(f, wg % params.planeChunks, lid);
  let k = f32(stepsBelow(c.item, c.end, params.planeStep));
  let zero = ShiftedSums(vec4f(0.0), vec4f(0.0), vec4f(0.0));
  var sums = ThreadSums(zero, zero, 0u);
  var a = zero;
  var b = zero;
  let pivot4 = vec4f(pivot);
  if (params.planeStep == 1u) {
    // a contiguous run (CPU adapters), row by row, four items per round, in runs of RUN items
    var counted = 0u;
    while (c.item < c.end) {
      let run = min(rowRun(c), RUN - counted);
      let end = c.index + run;
      var i = c.index;
      for (; i + 3u < end; i += 4u) {
        a = addTwo(a, loadItem(i, pivot), loadItem(i + 1u, pivot), pivot4);
        b = addTwo(b, loadItem(i + 2u, pivot), loadItem(i + 3u, pivot), pivot4);
      }
      for (; i < end; i++) {
        a = addOne(a, loadItem(i, pivot), pivot4);
      }
      counted += run;
      if (counted == RUN) {
        sums = addRun(sums, addSums(a, b));
        a = zero;
        b = zero;
        counted = 0u;
      }
      c = advanceInRow(c, run);
    }
  } else {
    // every planeStep-th item (GPUs: neighbouring threads read neighbouring items)
    for (; c.item < c.end; c = planeAdvance(c)) {
      a = addOne(a, loadItem(c.index, pivot), pivot4);
    }
  }
  let n = select(vec4f(k, 0.0, 0.0, 0.0), vec4f(k), ALIGNED);
  let m = reduceRowLanes(lid, 1u, WG_SIZE, moments(n, addSums(threadTotal(sums), addSums(a, b))));
  if (lid == 0u) {
    storeMoments((wg % params.planeChunks) * params.slotsPerChunk + f, mergeColumns(m), 1u);
  }
}
