// Stage 2 of the backward pass, one thread per feature (with many partials per
// feature, a feature's threads add them up together): adds up bn-grad-reduce's
// partials into dbeta = sum(dy) and dgamma = invstd * sum(dy * (x - mean)), and
// writes the constants of bn-apply's dx (grad-constants.wgsl).

@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> feature: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradGamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> gradBeta: array<f32>;
// Split gradient sums (data-parallel): three sections of C floats, count, sum(dy) and
// sum(dy * xhat). Written by SUMS, read by GIVEN_SUMS in place of the partials.
@group(0) @binding(6) var<storage, read_write> shard: array<f32>;
const SUM_SECTIONS = 3u;

const BATCH = 0u;
const RUNNING = 1u;
const SUMS = 2u;        // write this batch's sums to `shard`, nothing else
const GIVEN_SUMS = 3u;  // the batch-statistics gradients from the (global) sums in `shard`
override MODE: u32 = BATCH;
// Many partials per feature: added up by mergeRowLanes threads per feature
// (sumInWorkgroup) rather than on one thread (sumPartials); set as bn-finalize's
// WORKGROUP_MERGE is.
override WORKGROUP_MERGE: bool = false;

// The workgroup tree's (reduce.wgsl) partial: (sum(dy), sum(dy * (x - m'))).
alias Partial = vec2f;

fn combine(a: vec2f, b: vec2f) -> vec2f {
  return a + b;
}

fn loadPartial(s: u32) -> vec2f {
  return vec2f(partials[s], partials[params.partialChunks * params.slotsPerChunk + s]);
}

// (sum(dy), sum(dy * (x - m'))) of feature f, from bn-grad-reduce's partials,
// added pairwise: the same stack as bn-finalize's mergePartials, on other types
// (WGSL has no generics).
fn sumPartials(f: u32) -> vec2f {
  var stack: array<vec2f, 32>;
  var count = 0u;
  for (var chunk = 0u; chunk < params.partialChunks; chunk++) {
    for (var j = 0u; j < params.slotRepeat; j++) {
      for (var i = 0u; i < params.slotInner; i++) {
        var sums = loadPartial(partialSlot(chunk, f, j, i));
        var level = 0u;
        for (var k = count; (k & 1u) != 0u; k >>= 1u) {
          sums = stack[level] + sums;
          level++;
        }
        stack[level] = sums;
        count++;
      }
    }
  }
  var total = vec2f(0.0);
  for (var level = 0u; level < 32u; level++) {
    if (((count >> level) & 1u) != 0u) {
      total = stack[level] + total;
    }
  }
  return total;
}

// The same sums, by the threads of a workgroup: each adds its run of the feature's
// partials in order, then the tree adds the runs. Every thread calls it (barriers);
// the feature's first row lane gets the total.
fn sumInWorkgroup(t: MergeThread, lid: u32) -> vec2f {
  var sums = vec2f(0.0);
  for (var k = t.first; k < t.end; k++) {
    sums += loadPartial(nthPartialSlot(t.feature, k));
  }
  return reduceRowLanes(lid, params.mergeLanes, params.mergeRowLanes, sums);
}

@compute @workgroup_size(WG_SIZE)
fn grad_finalize(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  var f = threadIndex(wid, nwg, lid);
  var total: vec2f;   // the feature's partials added up
  if (WORKGROUP_MERGE) {
    let t = mergeThread(workgroupIndex(wid, nwg), lid);
    total = sumInWorkgroup(t, lid);
    if (t.rowLane != 0u) { return; }
    f = t.feature;
  }
  if (f >= params.features) { return; }
  let stride = params.featureStride;
  let invstd = feature[INVSTD * stride + f];
  let c = params.features;
  var count = params.count;
  var sumDy: f32;
  var sumDyXhat: f32;
  if (MODE == GIVEN_SUMS) {
    count = shard[f];
    sumDy = shard[c + f];
    sumDyXhat = shard[2u * c + f];
  } else {
    if (!WORKGROUP_MERGE) {
      total = sumPartials(f);
    }
    let sums = centredSums(f, total);
    sumDy = sums.x;
    sumDyXhat = sums.y * invstd;
  }
  if (MODE == SUMS) {
    shard[f] = params.count;
    shard[c + f] = sumDy;
    shard[2u * c + f] = sumDyXhat;
    return;
  }
  storeGradients(f, invstd, sumDy, sumDyXhat, count, MODE != RUNNING);
}
