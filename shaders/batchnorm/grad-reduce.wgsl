// Stage 1 of the backward pass: per feature, sum(dy) and sum(dy * (x - m')) with
// m' the mean rounded to f32 (a thread's sums: grad-sums.wgsl), as partials that
// bn-grad-finalize adds up and then corrects by the rounding of m'. Same traversals
// as bn-stats.
//
// With a fused ReLU (BatchNorm's `activation: 'relu'`), dy is the gradient of the
// final output, and batch norm's own gradient is dy' = dy where y > 0, else 0
// (PyTorch's threshold_backward on the ReLU's output: 0 at the kink and where y is
// NaN). The mask comes from y, the forward's output that the BatchNorm keeps, so
// it is exactly the forward's comparison and nothing else need be kept. This stage
// sums dy' and writes it to `masked` once, for bn-apply's dx and as dresidual.

@group(0) @binding(5) var<storage, read> feature: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
// RELU only (else other buffers stand in, never read nor written): y, padded to
// whole vec4s; `masked`, dy' in the tensors' storage, comes with its stores from
// mask-f32.wgsl or mask-f16.wgsl.
@group(0) @binding(7) var<storage, read> y4: array<Stored4>;

override ALIGNED: bool = true;

// dy' of the vec4 at vec4 index i (stored), or dy itself without ReLU.
fn maskVec(i: u32, dy: vec4f) -> vec4f {
  if (!RELU) { return dy; }
  let m = reluGradient(dy, unpack4(y4[i]));
  storeMaskedVec(i, m);
  return m;
}

// The same for the partial last block of the periodic traversal: only its valid values are stored.
fn maskTail(lane: u32, valid: vec4<bool>, dy: vec4f) -> vec4f {
  if (!RELU) { return dy; }
  let i = params.blocks * params.lanes + lane;
  let m = reluGradient(dy, unpack4(y4[i]));
  storeMaskedTail(i, m, valid);
  return m;
}

// dy' of the scalar at index i.
fn maskScalar(i: u32, dy: f32) -> f32 {
  if (!RELU) { return dy; }
  let m = reluGradient(vec4f(dy), unpack4(y4[i / 4u]))[i % 4u];
  storeMaskedScalar(i, m);
  return m;
}

// The compensated sum goes out rounded once.
fn storeSums(slot: u32, acc: GradSums, columns: u32) {
  let section = params.partialChunks * params.slotsPerChunk;
  let dyXc = acc.dyXc.hi + acc.dyXc.lo;
  for (var k = 0u; k < columns; k++) {
    partials[slot + k] = acc.dy[k];
    partials[section + slot + k] = dyXc[k];
  }
}

// Lane q's values in the partial last block, added to a.
fn withTail(a: GradSums, lane: u32, mean: vec4f) -> GradSums {
  let valid = tailMask(lane);   // zeros past the data: they add nothing
  return addOne(a, maskTail(lane, valid, tailDy(lane, valid)), tailX(lane, valid) - mean);
}

@compute @workgroup_size(WG_SIZE)
fn grad_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  if (PAIRED_LANES) {
    gradPaired(wg, lid);
    return;
  }
  let t = periodicThread(wg, lid);
  var acc = NO_GRAD_SUMS;
  if (t.inRange) {
    let mean = laneMeans(t.lane);
    acc = laneGradSums(t, mean);
    if (t.ownsTail) {
      acc = withTail(acc, t.lane, mean);
    }
  }
  if (SHARED_LANES) {
    acc = reduceRowLanes(lid, params.lanesPerGroup, params.rowLanes, acc);
  }
  if (t.inRange && t.rowLane == 0u) {
    storeSums(t.chunk * params.slotsPerChunk + 4u * t.lane, acc, 4u);
  }
}

// The same with PAIRED_LANES (as bn-stats' statsPaired): two lanes side by side, two
// blocks a round, a partial of each.
fn gradPaired(wg: u32, lid: u32) {
  let t = pairThread(wg, lid);
  if (!t.inRange) { return; }
  let mean0 = laneMeans(t.lanes.x);
  let mean1 = laneMeans(t.lanes.y);
  let step = params.lanes;
  let end = t.endBlock * step;
  var a = NO_GRAD_SUMS;
  var b = NO_GRAD_SUMS;
  var block = t.firstBlock * step;   // the block's first vec4
  for (; block + step < end; block += 2u * step) {
    let i0 = block + t.lanes.x;
    let i1 = block + t.lanes.y;
    a = addTwo(a, maskVec(i0, loadDy4(i0)), loadX4(i0) - mean0, maskVec(i0 + step, loadDy4(i0 + step)), loadX4(i0 + step) - mean0);
    b = addTwo(b, maskVec(i1, loadDy4(i1)), loadX4(i1) - mean1, maskVec(i1 + step, loadDy4(i1 + step)), loadX4(i1 + step) - mean1);
  }
  if (block < end) {
    let i0 = block + t.lanes.x;
    let i1 = block + t.lanes.y;
    a = addOne(a, maskVec(i0, loadDy4(i0)), loadX4(i0) - mean0);
    b = addOne(b, maskVec(i1, loadDy4(i1)), loadX4(i1) - mean1);
  }
  if (t.ownsTail) {
    a = withTail(a, t.lanes.x, mean0);
    b = withTail(b, t.lanes.y, mean1);
  }
  storeSums(pairedSlot(t, t.lanes.x), a, 4u);
  if (t.lanes.y != t.lanes.x) {
    storeSums(pairedSlot(t, t.lanes.y), b, 4u);
  }
}

fn loadItem(index: u32) -> Item {
  if (ALIGNED) {
    return Item(loadX4(index), maskVec(index, loadDy4(index)));
  }
  // scalar item in column x; the other columns have dy = 0 and add nothing
  return Item(vec4f(loadX1(index), 0.0, 0.0, 0.0), vec4f(maskScalar(index, loadDy1(index)), 0.0, 0.0, 0.0));
}

@compute @workgroup_size(WG_SIZE)
fn grad_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.planeWorkgroups) { return; }
  let f = wg / params.planeChunks;
  var acc = planeGradSums(f, wg % params.planeChunks, lid, featureValue(MEAN, f));
  if (SHARED_LANES) {
    acc = reduceRowLanes(lid, 1u, WG_SIZE, acc);
    if (lid != 0u) { return; }
  }
  storeSums(planeSlot(wg, f, lid), mergeGradColumns(acc), 1u);
}
