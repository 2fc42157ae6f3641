// Stage 1 of a training forward: per-feature moments, as partials.
// Each workgroup reduces its share of the data to (count, mean, M2) per feature
// position, all relative to one shift K per feature: the feature's first value.
// Every workgroup uses the same K, so partial means stay small numbers, and
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

fn countBatch(wg: u32, lid: u32) {
  if (wg == 0u && lid == 0u) {
    batches[1] = batches[0] + 1u;
  }
}

// Sums of d = x - K and d^2. Loops add four values per round into two of these,
// so that the adds of one do not wait on the other (CPU adapters gain 1.5x).
struct ShiftedSums {
  s1: vec4f,
  s2: vec4f,
}

fn addTwo(a: ShiftedSums, d0: vec4f, d1: vec4f) -> ShiftedSums {
  return ShiftedSums(a.s1 + (d0 + d1), fma(d0, d0, fma(d1, d1, a.s2)));
}

fn addOne(a: ShiftedSums, d: vec4f) -> ShiftedSums {
  return ShiftedSums(a.s1 + d, fma(d, d, a.s2));
}

fn moments(n: vec4f, a: ShiftedSums, b: ShiftedSums) -> Moments {
  return momentsFromShiftedSums(n, a.s1 + b.s1, a.s2 + b.s2);
}

fn storeMoments(slot: u32, m: Moments, columns: u32) {
  let section = params.partialChunks * params.slotsPerChunk;
  for (var k = 0u; k < columns; k++) {
    partials[slot + k] = m.n[k];
    partials[section + slot + k] = m.mean[k];
    partials[2u * section + slot + k] = m.m2[k];
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
  var m = Moments(vec4f(0.0), vec4f(0.0), vec4f(0.0));
  if (t.inRange) {
    let f = laneFeatures(t.lane);
    let pivot = vec4f(x1[f.x * params.inner], x1[f.y * params.inner], x1[f.z * params.inner], x1[f.w * params.inner]);
    let step = params.lanes;   // from one block to the next
    let end = t.endBlock * params.lanes + t.lane;
    var a = ShiftedSums(vec4f(0.0), vec4f(0.0));
    var b = a;
    var i = t.firstBlock * params.lanes + t.lane;
    for (; i + 3u * step < end; i += 4u * step) {
      a = addTwo(a, x4[i] - pivot, x4[i + step] - pivot);
      b = addTwo(b, x4[i + 2u * step] - pivot, x4[i + 3u * step] - pivot);
    }
    for (; i < end; i += step) {
      a = addOne(a, x4[i] - pivot);
    }
    m = moments(vec4f(f32(t.endBlock - t.firstBlock)), a, b);
    if (t.ownsTail) {
      let valid = tailMask(t.lane);
      let d = select(vec4f(0.0), tailX(t.lane, valid) - pivot, valid);
      m = chanMerge(m, momentsFromShiftedSums(select(vec4f(0.0), vec4f(1.0), valid), d, d * d));
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
  // Scalar item in column x; the other columns see K itself and so add nothing.
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
  var a = ShiftedSums(vec4f(0.0), vec4f(0.0));
  var b = a;
  if (params.planeStep == 1u) {
    // a contiguous run (CPU adapters), row by row, four items per round
    while (c.item < c.end) {
      let run = rowRun(c);
      let end = c.index + run;
      var i = c.index;
      for (; i + 3u < end; i += 4u) {
        a = addTwo(a, loadItem(i, pivot) - pivot, loadItem(i + 1u, pivot) - pivot);
        b = addTwo(b, loadItem(i + 2u, pivot) - pivot, loadItem(i + 3u, pivot) - pivot);
      }
      for (; i < end; i++) {
        a = addOne(a, loadItem(i, pivot) - pivot);
      }
      c = nextRow(c, run);
    }
  } else {
    // every planeStep-th item (GPUs: neighbouring threads read neighbouring items)
    for (; c.item < c.end; c = planeAdvance(c)) {
      a = addOne(a, loadItem(c.index, pivot) - pivot);
    }
  }
  let n = select(vec4f(k, 0.0, 0.0, 0.0), vec4f(k), ALIGNED);
  let m = reduceRowLanes(lid, 1u, WG_SIZE, moments(n, a, b));
  if (lid == 0u) {
    storeMoments((wg % params.planeChunks) * params.slotsPerChunk + f, mergeColumns(m), 1u);
  }
}
