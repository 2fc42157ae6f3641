// The elementwise pass, last stage of both directions (its arithmetic:
// apply-transform.wgsl), with per-feature constants and dy from one of two files in
// front of this one: apply-constants.wgsl (the constants bn-finalize or
// bn-grad-finalize wrote, and dy) or apply-running.wgsl (eval in one pass: the
// constants from the running statistics, γ and β themselves).
// The fused epilogue (BatchNorm's `residual` and `activation: 'relu'`): the forward
// reads the residual z through the dy bindings (a forward reads no dy) and adds it
// before the ReLU. In the backward, the ReLU's gradient dy' = dy where y > 0: the
// host binds, in dy's place, the dy' that bn-grad-reduce wrote, or where no
// bn-grad-reduce runs (a data-parallel backward with given sums, without a
// residual, whose dy' is not dresidual) this pass masks dy itself from y (RELU).

@group(0) @binding(6) var<storage, read_write> out4: array<Written4>;

fn applyOne(k: Coefficients, i: u32) {
  out4[i] = pack4(transform(k, loadX4(i), loadDy(i)));
}

// Items i to i + 3, all four loaded before any is stored: the loads stay in
// flight together.
fn applyFour(k: Coefficients, i: u32) {
  let x0 = loadX4(i);
  let x1 = loadX4(i + 1u);
  let x2 = loadX4(i + 2u);
  let x3 = loadX4(i + 3u);
  out4[i] = pack4(transform(k, x0, loadDy(i)));
  out4[i + 1u] = pack4(transform(k, x1, loadDy(i + 1u)));
  out4[i + 2u] = pack4(transform(k, x2, loadDy(i + 2u)));
  out4[i + 3u] = pack4(transform(k, x3, loadDy(i + 3u)));
}

// Rows i0 and i0 + step of two lanes (k0 and k1 their constants, i1 the second
// lane's index), all four loaded before any is stored.
fn applyPairRows(k0: Coefficients, k1: Coefficients, i0: u32, i1: u32, step: u32) {
  let x0 = loadX4(i0);
  let x1 = loadX4(i1);
  let x2 = loadX4(i0 + step);
  let x3 = loadX4(i1 + step);
  out4[i0] = pack4(transform(k0, x0, loadDy(i0)));
  out4[i1] = pack4(transform(k1, x1, loadDy(i1)));
  out4[i0 + step] = pack4(transform(k0, x2, loadDy(i0 + step)));
  out4[i1 + step] = pack4(transform(k1, x3, loadDy(i1 + step)));
}

fn applyTail(k: Coefficients, lane: u32) {
  // The output buffer is padded to whole vec4s; lanes past the data write padding.
  let valid = tailMask(lane);
  out4[params.blocks * params.lanes + lane] = pack4(transform(k, tailX(lane, valid), loadTailDy(lane, valid)));
}

// Any layout: each thread owns two neighbouring vec4 lanes of the repeating block,
// so their features, and constants, are fixed for the whole loop.
@compute @workgroup_size(WG_SIZE)
fn apply_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  storeConstants(threadIndex(wid, nwg, lid), nwg.x * nwg.y * WG_SIZE);
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  let t = pairThread(wg, lid);
  if (!t.inRange) { return; }
  let k0 = coefficients(laneFeatures(t.lanes.x));
  let k1 = coefficients(laneFeatures(t.lanes.y));
  let step = params.lanes;
  let end = t.endBlock * step;
  var block = t.firstBlock * step;   // the block's first vec4
  for (; block + step < end; block += 2u * step) {
    applyPairRows(k0, k1, block + t.lanes.x, block + t.lanes.y, step);
  }
  if (block < end) {
    applyOne(k0, block + t.lanes.x);
    applyOne(k1, block + t.lanes.y);
  }
  if (t.ownsTail) {
    applyTail(k0, t.lanes.x);
    if (4u * t.lanes.y < params.tailLen) {
      applyTail(k1, t.lanes.y);
    }
  }
}

// NCL and NCHW with inner % 4 == 0, CPU tunings: each thread a contiguous run of the
// tensor in memory order, one feature's inner run (a row) at a time. Per feature,
// a thread's run would break at every row (rows a feature plane apart), and short
// runs copy slowly on SwiftShader (CHANGELOG has the figures).
@compute @workgroup_size(WG_SIZE)
fn apply_flat(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  storeConstants(threadIndex(wid, nwg, lid), nwg.x * nwg.y * WG_SIZE);
  let total = params.outer * params.features * params.groups;
  var i = min(threadIndex(wid, nwg, lid) * params.flatPerThread, total);
  let end = min(i + params.flatPerThread, total);
  if (i >= end) { return; }
  let row = i / params.groups;
  var f = row % params.features;
  var rowEnd = (row + 1u) * params.groups;
  loop {
    let stop = min(rowEnd, end);
    let k = featureCoefficients(f);
    for (; i + 3u < stop; i += 4u) {
      applyFour(k, i);
    }
    for (; i < stop; i++) {
      applyOne(k, i);
    }
    if (i >= end) { break; }
    rowEnd += params.groups;
    f = select(f + 1u, 0u, f + 1u == params.features);
  }
}

// NCL and NCHW with inner % 4 == 0, GPU tunings: a workgroup owns one feature and a
// chunk of it, every planeStep-th item a thread (neighbouring threads read
// neighbouring items).
@compute @workgroup_size(WG_SIZE)
fn apply_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  storeConstants(threadIndex(wid, nwg, lid), nwg.x * nwg.y * WG_SIZE);
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.planeWorkgroups) { return; }
  let f = wg / params.planeChunks;
  let k = featureCoefficients(f);
  for (var c = planeStart(f, wg % params.planeChunks, lid); c.item < c.end; c = planeAdvance(c)) {
    applyOne(k, c.index);
  }
}
