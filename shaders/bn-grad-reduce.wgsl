// Stage 1 of the backward pass: per feature, sum(dy) and sum(dy * (x - mean)),
// as partials that bn-grad-finalize adds up. Same traversals as bn-stats; x - mean
// is formed as (x - K) - (mean - K) so it stays exact far from zero.

@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(4) var<storage, read> dy1: array<f32>;
@group(0) @binding(5) var<storage, read> feature: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

override ALIGNED: bool = true;

struct GradSums {
  dy: vec4f,
  dyXc: vec4f,   // sum of dy * (x - mean)
}

var<workgroup> scratch: array<GradSums, WG_SIZE>;

// The same fixed tree as bn-stats' mergeRowLanes, adding instead of merging moments.
fn sumRowLanes(lid: u32, lanesPerGroup: u32, rowLanes: u32, own: GradSums) -> GradSums {
  var acc = own;
  scratch[lid] = acc;
  let rowLane = lid / lanesPerGroup;
  for (var s = rowLanes / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (rowLane < s) {
      let other = scratch[lid + s * lanesPerGroup];
      acc = GradSums(acc.dy + other.dy, acc.dyXc + other.dyXc);
      scratch[lid] = acc;
    }
  }
  return acc;
}

fn storeSums(slot: u32, acc: GradSums, columns: u32) {
  let section = params.partialChunks * params.slotsPerChunk;
  for (var k = 0u; k < columns; k++) {
    partials[slot + k] = acc.dy[k];
    partials[section + slot + k] = acc.dyXc[k];
  }
}

fn featureValue(section: u32, f: u32) -> f32 {
  return feature[section * params.featureStride + f];
}

struct TailValues {
  x: vec4f,
  dy: vec4f,
}

// Lane q's vec4s of the partial last block: vec4 loads when they are whole.
fn loadTail(lane: u32, valid: vec4<bool>) -> TailValues {
  if (tailWhole(lane)) {
    let i = params.blocks * params.lanes + lane;
    return TailValues(x4[i], dy4[i]);
  }
  let e = vec4u(tailBase()) + laneOffsets(lane);
  var v = TailValues(vec4f(0.0), vec4f(0.0));
  for (var k = 0u; k < 4u; k++) {
    if (valid[k]) {
      v.x[k] = x1[e[k]];
      v.dy[k] = dy1[e[k]];
    }
  }
  return v;
}

@compute @workgroup_size(WG_SIZE)
fn grad_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  let t = periodicThread(wg, lid);
  var acc = GradSums(vec4f(0.0), vec4f(0.0));
  if (t.inRange) {
    let f = laneFeatures(t.lane);
    let pivot = vec4f(featureValue(PIVOT, f.x), featureValue(PIVOT, f.y), featureValue(PIVOT, f.z), featureValue(PIVOT, f.w));
    let meanDelta = vec4f(featureValue(MEAN_DELTA, f.x), featureValue(MEAN_DELTA, f.y),
                          featureValue(MEAN_DELTA, f.z), featureValue(MEAN_DELTA, f.w));
    for (var b = t.firstBlock; b < t.endBlock; b += params.rowLanes) {
      let i = b * params.lanes + t.lane;
      let dy = dy4[i];
      acc.dy += dy;
      acc.dyXc = fma(dy, (x4[i] - pivot) - meanDelta, acc.dyXc);
    }
    if (t.ownsTail) {
      let valid = tailMask(t.lane);
      let tail = loadTail(t.lane, valid);
      let xc = select(vec4f(0.0), (tail.x - pivot) - meanDelta, valid);
      acc.dy += tail.dy;
      acc.dyXc = fma(tail.dy, xc, acc.dyXc);
    }
  }
  acc = sumRowLanes(lid, params.lanesPerGroup, params.rowLanes, acc);
  if (t.inRange && t.rowLane == 0u) {
    storeSums(t.chunk * params.slotsPerChunk + 4u * t.lane, acc, 4u);
  }
}

@compute @workgroup_size(WG_SIZE)
fn grad_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.planeWorkgroups) { return; }
  let f = wg / params.planeChunks;
  let chunk = wg % params.planeChunks;
  let pivot = featureValue(PIVOT, f);
  let meanDelta = featureValue(MEAN_DELTA, f);
  var acc = GradSums(vec4f(0.0), vec4f(0.0));
  for (var c = planeStart(chunk, lid); c.item < c.end; c = planeAdvance(c)) {
    let i = planeIndex(c, f);
    var x: vec4f;
    var dy: vec4f;
    if (ALIGNED) {
      x = x4[i];
      dy = dy4[i];
    } else {
      // scalar item in column x; the other columns have dy = 0 and add nothing
      x = vec4f(x1[i], pivot, pivot, pivot);
      dy = vec4f(dy1[i], 0.0, 0.0, 0.0);
    }
    acc.dy += dy;
    acc.dyXc = fma(dy, (x - pivot) - meanDelta, acc.dyXc);
  }
  acc = sumRowLanes(lid, 1u, WG_SIZE, acc);
  if (lid == 0u) {
    let total = GradSums(vec4f(dot(acc.dy, vec4f(1.0))), vec4f(dot(acc.dyXc, vec4f(1.0))));
    storeSums(chunk * params.slotsPerChunk + f, total, 1u);
  }
}
