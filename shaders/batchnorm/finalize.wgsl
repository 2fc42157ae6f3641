// Stage 2 of a forward pass, one thread per four features (with many partials per
// feature, a feature's threads merge its partials together): the per-feature constants.
// From batch statistics (merging bn-stats' partials) or from the running ones, it
// writes K, mean - K, invstd and the fused scale and shift that bn-apply uses:
//   y = (x - K) * scale + shift + beta,  scale = gamma * invstd,  shift = -(mean - K) * scale
// (bn-apply adds beta, so that this stage stays within 8 storage bindings).
// Keeping the mean as K + (mean - K) keeps y exact for data far from zero, where
// an f32 mean alone would be off by half an ulp of the offset.

@group(0) @binding(1) var<storage, read> x1: array<Stored1>;   // x: the pivots (in the storage: storage-*.wgsl)
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> feature: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> runningMean: array<f32>;
@group(0) @binding(7) var<storage, read_write> runningVar: array<f32>;
@group(0) @binding(8) var<storage, read_write> batches: array<u32>;
// Split statistics (data-parallel): four sections of C floats, count, mean, the part
// of the mean its f32 rounding misses (mean + meanLow is the mean to twice f32
// precision, so y stays exact far from zero), and M2. Written by SHARD, read by GIVEN.
@group(0) @binding(9) var<storage, read_write> shard: array<f32>;

const BATCH = 0u;           // normalize with batch statistics
const BATCH_AND_RUNNING = 1u; // ... and fold them into the running statistics
const RUNNING = 2u;         // normalize with the running statistics (eval)
const SHARD = 3u;           // write this batch's statistics to `shard`, nothing else
const GIVEN = 4u;           // normalize with the statistics in `shard`
const GIVEN_AND_RUNNING = 5u; // ... and fold them into the running statistics
const TICK = 6u;            // count a batch (before GIVEN_AND_RUNNING, which has no stats pass to do it)
override MODE: u32 = BATCH;
// Batch statistics from many partials per feature: merged by mergeRowLanes threads
// per feature (mergeInWorkgroup) rather than on one thread (mergePartials). The host
// sets it above the tuning's serialMergePartials: 16 on GPUs, 64 on CPU adapters,
// where a shader with any barrier runs as coroutines (partial-slots.wgsl).
override WORKGROUP_MERGE: bool = false;

// Slot s's partial from its four sections: (count, sum(x - K), M2, sum(x)).
fn partialAt(s: u32) -> vec4f {
  let section = params.partialChunks * params.slotsPerChunk;
  return vec4f(partials[s], partials[section + s], partials[2u * section + s], partials[3u * section + s]);
}

// A partial's moments, the same in every column.
fn loadPartial(s: u32) -> Moments {
  let p = partialAt(s);
  return Moments(vec4f(p.x), vec4f(p.y), vec4f(p.z), vec4f(p.w));
}

// The partials of features f to f + 3 at one (chunk, repeat, inner position), a
// feature to a column; columns past the last feature hold nothing (count 0).
fn loadPartialColumns(chunk: u32, f: u32, j: u32, i: u32) -> Moments {
  var m = Moments(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var k = 0u; k < 4u; k++) {
    if (f + k < params.features) {
      let p = partialAt(partialSlot(chunk, f + k, j, i));
      m.n[k] = p.x;
      m.sumD[k] = p.y;
      m.m2[k] = p.z;
      m.sumX[k] = p.w;
    }
  }
  return m;
}

// Partials of features f to f + 3 (a column each: one thread merges four features
// with the arithmetic of one, which CPU adapters run as fast as one), merged pairwise in a
// fixed order (deterministic): the merge of partials 2^l apart waits at level l of
// a stack, so rounding grows with log2 of their number, not with the number (up to
// 256 partials). The plain sums' rounding errors (two-sum) add up in `low`: sumX
// comes out rounded once, so the mean near zero is not left to the luck of a
// float32 pairwise sum.
fn mergePartials(f: u32) -> Moments {
  var stack: array<Moments, 32>;
  var count = 0u;
  var low = vec4f(0.0);
  for (var chunk = 0u; chunk < params.partialChunks; chunk++) {
    for (var j = 0u; j < params.slotRepeat; j++) {
      for (var i = 0u; i < params.slotInner; i++) {
        var m = loadPartialColumns(chunk, f, j, i);
        var level = 0u;
        for (var k = count; (k & 1u) != 0u; k >>= 1u) {
          let merged = chanMerge(stack[level], m);
          low += twoSumError(stack[level].sumX, m.sumX, merged.sumX);
          m = merged;
          level++;
        }
        stack[level] = m;
        count++;
      }
    }
  }
  // what is left: at most one merge per level, the earlier partials at higher levels
  var total = Moments(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  var first = true;
  for (var level = 0u; level < 32u; level++) {
    if (((count >> level) & 1u) != 0u) {
      if (first) {
        total = stack[level];
      } else {
        let merged = chanMerge(stack[level], total);
        low += twoSumError(stack[level].sumX, total.sumX, merged.sumX);
        total = merged;
      }
      first = false;
    }
  }
  total.sumX += low;
  return total;
}

// The same merge, by the threads of a workgroup: each merges its run of the
// feature's partials in order, then the tree merges the runs, each step keeping the
// plain sum's rounding errors as mergePartials does. Every thread calls it (barriers);
// the feature's first row lane gets the total.
fn mergeInWorkgroup(t: MergeThread, lid: u32) -> Moments {
  var p = StatsPartial(Moments(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0)), vec4f(0.0));
  if (t.first < t.end) {
    p.m = loadPartial(nthPartialSlot(t.feature, t.first));
    for (var k = t.first + 1u; k < t.end; k++) {
      p = combine(p, StatsPartial(loadPartial(nthPartialSlot(t.feature, k)), vec4f(0.0)));
    }
  }
  p = reduceRowLanes(lid, params.mergeLanes, params.mergeRowLanes, p);
  p.m.sumX += p.low;
  return p.m;
}

@compute @workgroup_size(WG_SIZE)
fn finalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  if (MODE == TICK) {
    if (threadIndex(wid, nwg, lid) == 0u) {
      let n = batches[0];
      batches[1] = select(n + 1u, n, n == 0xffffffffu);   // saturates, as bn-stats counts
    }
    return;
  }
  if (WORKGROUP_MERGE) {
    let t = mergeThread(workgroupIndex(wid, nwg), lid);
    let m = mergeInWorkgroup(t, lid);   // the same in every column
    if (t.rowLane == 0u) {
      finalizeFeature(t.feature, m, 0u);
    }
    return;
  }
  // four features a thread (workgroups of the host's featureColumnThreads)
  let f = 4u * threadIndex(wid, nwg, lid);
  var m: Moments;   // batch statistics: the features' partials merged
  if (MODE == BATCH || MODE == BATCH_AND_RUNNING || MODE == SHARD) {
    m = mergePartials(f);
  }
  for (var k = 0u; k < 4u; k++) {
    finalizeFeature(f + k, m, k);
  }
}

// Feature f's constants, running statistics or split statistics; with batch
// statistics, from its merged partials in column k of m (forward-constants.wgsl).
fn finalizeFeature(f: u32, m: Moments, k: u32) {
  let running = MODE == BATCH_AND_RUNNING || MODE == GIVEN_AND_RUNNING;
  if (running && f == 0u) {
    batches[0] = batches[1];
  }
  if (f >= params.features) { return; }

  var pivot: f32;
  var meanDelta: f32;
  var mean: f32;
  var variance: f32;
  var count = params.count;
  if (MODE == RUNNING) {
    pivot = runningMean[f];
    meanDelta = 0.0;
    mean = pivot;
    variance = runningVar[f];
  } else if (MODE == GIVEN || MODE == GIVEN_AND_RUNNING) {
    let c = params.features;
    count = shard[f];
    pivot = shard[c + f];          // the f32 mean: K, so that meanDelta carries what it misses
    meanDelta = shard[2u * c + f];
    mean = pivot;
    let biased = shard[3u * c + f] / count;
    variance = select(biased, 0.0, atMostZero(vec4f(biased)).x);
  } else {
    pivot = unpack1(x1[wordOf(f * params.inner)], f * params.inner);
    let s = batchStatistics(pivot, m, k);
    meanDelta = s.meanDelta;
    mean = s.mean;
    variance = s.variance;
    if (MODE == SHARD) {
      // The plain mean is accurate to itself; K + (mean - K) gets its rounding error back
      // by Knuth's two-sum, so that mean + meanLow holds it to twice f32 precision.
      let sum = pivot + meanDelta;
      let low = twoSumError(vec4f(pivot), vec4f(meanDelta), vec4f(sum)).x;
      let c = params.features;
      shard[f] = params.count;
      shard[c + f] = select(sum, s.plainMean, s.plain);
      shard[2u * c + f] = select(low, 0.0, s.plain);
      shard[3u * c + f] = m.m2[k];
      return;
    }
  }
  let invstd = inverseStd(variance, MODE != RUNNING);
  let scale = gamma[f] * invstd;
  // eval: mean - K is 0 exactly, and an infinite scale must not give 0 * Inf = NaN
  storeForwardConstants(f, pivot, meanDelta, mean, invstd, scale, select(-meanDelta * scale, 0.0, MODE == RUNNING));
  if (running) {
    updateRunning(f, mean, variance, count, batches[1]);   // counted by bn-stats or TICK
  }
}
