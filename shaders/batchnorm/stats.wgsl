// Stage 1 of a training forward: per-feature moments, as partials (a thread's
// sums: stats-sums.wgsl).
// Each workgroup reduces its share of the data to (count, sum(x - K), M2, sum(x))
// per feature position, with one shift K per feature: the feature's first value.
// Every workgroup uses the same K, so partial sums stay small numbers, and
// bn-finalize merges the partials with Chan's formula and adds K back last.

@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
// [numBatchesTracked, numBatchesTracked + 1]: bn-finalize reads the second and
// copies it into the first, so no dispatch both reads and writes one word.
@group(0) @binding(6) var<storage, read_write> batches: array<u32>;

// Saturates at 2^32 - 1 rather than wrapping to 0 (which would make momentum null divide by 0).
fn countBatch(wg: u32, lid: u32) {
  if (wg == 0u && lid == 0u) {
    let n = batches[0];
    batches[1] = select(n + 1u, n, n == 0xffffffffu);
  }
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
    p = laneSums(t, pivot);
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
  var p = planeSums(f, wg % params.planeChunks, lid, loadX1(f * params.inner));
  if (SHARED_LANES) {
    p = reduceRowLanes(lid, 1u, WG_SIZE, p);
    if (lid != 0u) { return; }
  }
  storeMoments(planeSlot(wg, f, lid), mergePartialColumns(p), 1u);
}
