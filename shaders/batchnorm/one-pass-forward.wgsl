// A training forward in one dispatch, for small tensors: each workgroup owns whole
// features, so it computes their batch statistics (bn-stats' sums, the workgroup
// tree), their constants and running statistics (bn-finalize's BATCH and
// BATCH_AND_RUNNING) and then y (bn-apply's arithmetic), with nothing between
// workgroups. The constants go to the feature sections as bn-finalize stores them,
// for the backward, and every thread reads its own back from there.
// Two traversals (the host's partition, with one chunk): periodic, for inner = 1 and
// C % 4 == 0, where a lane's four columns are four whole features and a workgroup
// owns lanesPerGroup lanes; planes, for inner % 4 == 0, a workgroup per feature.
// Neither reads x's scalar view (no partial last block, no scalar items), which
// keeps this stage within 8 storage buffers. A residual would not fit: the host
// takes the three passes there.

@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> runningMean: array<f32>;
@group(0) @binding(8) var<storage, read_write> runningVar: array<f32>;
// [numBatchesTracked, scratch, arrivals]: see countBatch.
@group(0) @binding(9) var<storage, read_write> batches: array<atomic<u32>>;
@group(0) @binding(10) var<storage, read_write> feature: array<f32>;
@group(0) @binding(11) var<storage, read_write> out4: array<Written4>;

override UPDATE_RUNNING: bool = false;   // fold the batch into the running statistics
// Several threads share a lane (periodic) or a feature (planes): they merge in the
// workgroup tree, and read the constants back after a barrier. Without it (one
// thread a lane) the kernel has no barrier at all.
override SHARED_ROWS: bool = true;

// A stage's items are whole vec4s here (stats-sums.wgsl).
fn loadItem(index: u32, pivot: f32) -> vec4f {
  return loadX4(index);
}

// numBatchesTracked with this batch counted, saturating at 2^32 - 1 as bn-stats
// counts. No barrier spans a dispatch, so the batch is counted by arrival: each of
// the `folders` threads that fold features into the running statistics reads the
// count first, then arrives; the last to arrive, after every read, stores the new
// count and clears the arrivals for the next dispatch.
fn countBatch(folders: u32) -> u32 {
  let n = atomicLoad(&batches[0]);
  let counted = select(n + 1u, n, n == 0xffffffffu);
  if (atomicAdd(&batches[2], 1u) + 1u == folders) {
    atomicStore(&batches[2], 0u);
    atomicStore(&batches[0], counted);
  }
  return counted;
}

// Feature f's constants, and its running statistics, from its moments in column k of
// m (their plain sum rounded once); `counted`: numBatchesTracked with this batch.
fn finishFeature(f: u32, pivot: f32, m: Moments, k: u32, counted: u32) {
  let s = batchStatistics(pivot, m, k);
  let invstd = inverseStd(s.variance, true);
  let scale = gamma[f] * invstd;
  storeForwardConstants(f, pivot, s.meanDelta, s.mean, invstd, scale, -s.meanDelta * scale);
  if (UPDATE_RUNNING) {
    updateRunning(f, s.mean, s.variance, params.count, counted);
  }
}

// The forward's constants as bn-apply reads them (apply-constants.wgsl binds
// `feature` read-only, so this stage has its own copy of the read).
fn featureConstants(f: u32) -> FeatureConstants {
  let stride = params.featureStride;
  return FeatureConstants(feature[PIVOT * stride + f], 0.0, feature[SCALE * stride + f], feature[SHIFT * stride + f] + beta[f]);
}

// A forward's transform takes no dy (one-pass-write.wgsl).
fn loadDy(i: u32) -> vec4f {
  return vec4f(0.0);
}

@compute @workgroup_size(WG_SIZE)
fn forward_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }   // past the grid's end (a folded 2D dispatch)
  let t = periodicThread(wg, lid);
  var pivot = vec4f(0.0);
  var p = partial(vec4f(0.0), NO_SUMS, NO_SUMS);
  if (t.inRange) {
    pivot = loadX4(t.lane);   // block 0's lane q: the first value of each of its features, bn-stats' pivots
    p = laneSums(t, pivot);
  }
  if (SHARED_ROWS) {
    p = reduceRowLanes(lid, params.lanesPerGroup, params.rowLanes, p);
  }
  if (t.inRange && t.rowLane == 0u) {
    var counted = 0u;
    if (UPDATE_RUNNING) {
      counted = countBatch(params.lanes);
    }
    var m = p.m;
    m.sumX += p.low;
    for (var k = 0u; k < 4u; k++) {
      finishFeature(4u * t.lane + k, pivot[k], m, k, counted);
    }
  }
  if (SHARED_ROWS) {
    storageBarrier();
  }
  if (!t.inRange) { return; }
  writeLane(coefficients(laneFeatures(t.lane)), t);
}

@compute @workgroup_size(WG_SIZE)
fn forward_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let f = workgroupIndex(wid, nwg);
  if (f >= params.features) { return; }   // past the grid's end (a folded 2D dispatch)
  let pivot = loadX4(f * params.groups).x;   // the feature's first value, bn-stats' pivot
  var p = planeSums(f, 0u, lid, pivot);
  if (SHARED_ROWS) {
    p = reduceRowLanes(lid, 1u, WG_SIZE, p);
  }
  if (lid == 0u) {
    var counted = 0u;
    if (UPDATE_RUNNING) {
      counted = countBatch(params.features);
    }
    let merged = mergePartialColumns(p);
    var m = merged.m;
    m.sumX += merged.low;
    finishFeature(f, pivot, m, 0u, counted);
  }
  if (SHARED_ROWS) {
    storageBarrier();
  }
  writePlane(featureCoefficients(f), f, lid);
}
