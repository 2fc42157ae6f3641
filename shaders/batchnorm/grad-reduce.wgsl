// Stage 1 of the backward pass: per feature, sum(dy) and sum(dy * (x - m')) with
// m' the mean rounded to f32, as partials that bn-grad-finalize adds up and then
// corrects by the rounding of m'. Same traversals as bn-stats.

@group(0) @binding(5) var<storage, read> feature: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

override ALIGNED: bool = true;

struct GradSums {
  dy: vec4f,
  dyXc: vec4f,   // sum of dy * (x - m')
}

alias Partial = GradSums;

fn combine(a: GradSums, b: GradSums) -> GradSums {
  return GradSums(a.dy + b.dy, a.dyXc + b.dyXc);
}

// Loops add two values per call into one of two GradSums (independent adds).
fn addTwo(a: GradSums, dy0: vec4f, xc0: vec4f, dy1: vec4f, xc1: vec4f) -> GradSums {
  return GradSums(a.dy + (dy0 + dy1), fma(dy0, xc0, fma(dy1, xc1, a.dyXc)));
}

fn addOne(a: GradSums, dy: vec4f, xc: vec4f) -> GradSums {
  return GradSums(a.dy + dy, fma(dy, xc, a.dyXc));
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

@compute @workgroup_size(WG_SIZE)
fn grad_periodic(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.periodicWorkgroups) { return; }
  let t = periodicThread(wg, lid);
  var acc = GradSums(vec4f(0.0), vec4f(0.0));
  if (t.inRange) {
    let f = laneFeatures(t.lane);
    let mean = vec4f(featureValue(MEAN, f.x), featureValue(MEAN, f.y), featureValue(MEAN, f.z), featureValue(MEAN, f.w));
    let step = params.lanes;
    let end = t.endBlock * params.lanes + t.lane;
    var b = acc;
    var i = t.firstBlock * params.lanes + t.lane;
    for (; i + 3u * step < end; i += 4u * step) {
      acc = addTwo(acc, dy4[i], x4[i] - mean, dy4[i + step], x4[i + step] - mean);
      b = addTwo(b, dy4[i + 2u * step], x4[i + 2u * step] - mean, dy4[i + 3u * step], x4[i + 3u * step] - mean);
    }
    for (; i < end; i += step) {
      acc = addOne(acc, dy4[i], x4[i] - mean);
    }
    acc = combine(acc, b);
    if (t.ownsTail) {
      let valid = tailMask(t.lane);   // zeros past the data: they add nothing
      acc = addOne(acc, tailDy(t.lane, valid), tailX(t.lane, valid) - mean);
    }
  }
  acc = reduceRowLanes(lid, params.lanesPerGroup, params.rowLanes, acc);
  if (t.inRange && t.rowLane == 0u) {
    storeSums(t.chunk * params.slotsPerChunk + 4u * t.lane, acc, 4u);
  }
}

struct Item {
  x: vec4f,
  dy: vec4f,
}

fn loadItem(index: u32) -> Item {
  if (ALIGNED) {
    return Item(x4[index], dy4[index]);
  }
  // scalar item in column x; the other columns have dy = 0 and add nothing
  return Item(vec4f(x1[index], 0.0, 0.0, 0.0), vec4f(dy1[index], 0.0, 0.0, 0.0));
}

@compute @workgroup_size(WG_SIZE)
fn grad_planes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  if (wg >= params.planeWorkgroups) { return; }
  let f = wg / params.planeChunks;
  let mean = featureValue(MEAN, f);
  var acc = GradSums(vec4f(0.0), vec4f(0.0));
  var b = acc;
  var c = planeStart(f, wg % params.planeChunks, lid);
  if (params.planeStep == 1u) {
    // a contiguous run (CPU adapters), row by row, four items per round
    while (c.item < c.end) {
      let run = rowRun(c);
      let end = c.index + run;
      var i = c.index;
      for (; i + 3u < end; i += 4u) {
        let v0 = loadItem(i);
        let v1 = loadItem(i + 1u);
        let v2 = loadItem(i + 2u);
        let v3 = loadItem(i + 3u);
        acc = addTwo(acc, v0.dy, v0.x - mean, v1.dy, v1.x - mean);
        b = addTwo(b, v2.dy, v2.x - mean, v3.dy, v3.x - mean);
      }
      for (; i < end; i++) {
        let v = loadItem(i);
        acc = addOne(acc, v.dy, v.x - mean);
      }
      c = nextRow(c, run);
    }
  } else {
    // every planeStep-th item (GPUs: neighbouring threads read neighbouring items)
    for (; c.item < c.end; c = planeAdvance(c)) {
      let v = loadItem(c.index);
      acc = addOne(acc, v.dy, v.x - mean);
    }
  }
  acc = reduceRowLanes(lid, 1u, WG_SIZE, combine(acc, b));
  if (lid == 0u) {
    let total = GradSums(vec4f(dot(acc.dy, vec4f(1.0))), vec4f(dot(acc.dyXc, vec4f(1.0))));
    storeSums((wg % params.planeChunks) * params.slotsPerChunk + f, total, 1u);
  }
}
