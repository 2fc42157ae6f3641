// A backward in one dispatch, for small tensors, the counterpart of
// one-pass-forward.wgsl (same traversals and workgroups): each workgroup owns whole
// features, so it computes their sum(dy) and sum(dy * (x - m')) (bn-grad-reduce's
// sums, the workgroup tree), dgamma, dbeta and the dx constants (bn-grad-finalize)
// and then dx (bn-apply's arithmetic). With the fused ReLU, dy' = dy where y > 0
// is taken from y wherever dy is read, and stored nowhere: without a residual
// nothing else needs it (with one the host takes the three passes, which store it
// as dresidual).

@group(0) @binding(5) var<storage, read_write> feature: array<f32>;
@group(0) @binding(6) var<storage, read> gamma: array<f32>;
@group(0) @binding(7) var<storage, read_write> gradGamma: array<f32>;
@group(0) @binding(8) var<storage, read_write> gradBeta: array<f32>;
@group(0) @binding(9) var<storage, read_write> out4: array<Written4>;
// RELU only (x stands in elsewhere): y, padded to whole vec4s.
@group(0) @binding(10) var<storage, read> y4: array<Stored4>;

override BATCH_STATISTICS: bool = true;   // through batch statistics, else running ones (eval)
override SHARED_ROWS: bool = true;        // as in one-pass-forward.wgsl

fn maskVec(i: u32, dy: vec4f) -> vec4f {
  if (!RELU) { return dy; }
  return reluGradient(dy, unpack4(y4[i]));
}

// A stage's items are whole vec4s here (grad-sums.wgsl).
fn loadItem(index: u32) -> Item {
  return Item(loadX4(index), maskVec(index, loadDy4(index)));
}

// Feature f's gradients and dx constants from its sums, sum(dy * (x - m')) rounded once.
fn finishGradients(f: u32, sumDy: f32, sumDyXc: f32) {
  let invstd = featureValue(INVSTD, f);
  let sums = centredSums(f, vec2f(sumDy, sumDyXc));
  storeGradients(f, invstd, sums.x, sums.y * invstd, params.count, BATCH_STATISTICS);
}

// The dx constants as bn-apply reads them (apply-constants.wgsl binds `feature`
// read-only, so this stage has its own copy of the read).
fn featureConstants(f: u32) -> FeatureConstants {
  let stride = params.featureStride;
  return FeatureConstants(feature[PIVOT * stride + f], feature[GRAD_DY * stride + f], feature[GRAD_X * stride + f], feature[GRAD_SHIFT * stride + f]);
}

// dx's dy (one-pass-write.wgsl): masked by the ReLU's y where there is one.
fn loadDy(i: u32) -> vec4f {
  return maskVec(i, loadDy4(i));
}

@compute @workgroup_size(WG_SIZE)
fn backward_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }   // past the grid's end (a folded 2D dispatch)
  let t = periodicThread(wg, lid);
  var acc = NO_GRAD_SUMS;
  if (t.inRange) {
    acc = laneGradSums(t, laneMeans(t.lane));
  }
  if (SHARED_ROWS) {
    acc = reduceRowLanes(lid, params.lanesPerGroup, params.rowLanes, acc);
  }
  if (t.inRange && t.rowLane == 0u) {
    let dyXc = acc.dyXc.hi + acc.dyXc.lo;
    for (var k = 0u; k < 4u; k++) {
      finishGradients(4u * t.lane + k, acc.dy[k], dyXc[k]);
    }
  }
  if (SHARED_ROWS) {
    storageBarrier();
  }
  if (!t.inRange) { return; }
  writeLane(coefficients(laneFeatures(t.lane)), t);
}

@compute @workgroup_size(WG_SIZE)
fn backward_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let f = workgroupIndex(wid, nwg);
  if (f >= params.features) { return; }   // past the grid's end (a folded 2D dispatch)
  var acc = planeGradSums(f, 0u, lid, featureValue(MEAN, f));
  if (SHARED_ROWS) {
    acc = reduceRowLanes(lid, 1u, WG_SIZE, acc);
  }
  if (lid == 0u) {
    let sums = mergeGradColumns(acc);
    finishGradients(f, sums.dy.x, sums.dyXc.hi.x + sums.dyXc.lo.x);
  }
  if (SHARED_ROWS) {
    storageBarrier();
  }
  writePlane(featureCoefficients(f), f, lid);
}
