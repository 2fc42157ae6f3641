// Merges the split statistics of several shards on one device, one thread per
// feature: Chan's formula in a fixed order (the shards' order in `shards`), with
// the means taken relative to the first non-empty shard's, so that a mean far from
// zero keeps its twice-f32 precision. Each record is four sections of C floats:
// count, mean, meanLow (what the f32 mean misses), M2 (see finalize.wgsl).

const STATISTICS_SECTIONS = 4u;   // count, mean, meanLow, M2

struct MergeParams {
  features: u32,
  zeroBits: u32,   // 0, unknown to the compiler: compensated.wgsl's opaque() reads it
}

@group(0) @binding(0) var<uniform> params: MergeParams;
@group(0) @binding(1) var<storage, read> shards: array<f32>;     // the records, one after another
@group(0) @binding(2) var<storage, read_write> merged: array<f32>; // one record

@compute @workgroup_size(WG_SIZE)
fn merge_shards(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let f = threadIndex(wid, nwg, lid);
  let c = params.features;
  if (f >= c) { return; }
  let records = arrayLength(&shards) / (STATISTICS_SECTIONS * c);
  var reference = 0.0;
  var found = false;
  var n = 0.0;
  var offset = 0.0;   // the merged mean minus reference
  var m2 = 0.0;
  for (var r = 0u; r < records; r++) {
    let base = r * STATISTICS_SECTIONS * c;
    let nb = shards[base + f];
    if (nb == 0.0) { continue; }
    if (!found) {
      reference = shards[base + c + f];
      found = true;
    }
    let offsetB = (shards[base + c + f] - reference) + shards[base + 2u * c + f];
    let total = n + nb;
    let delta = offsetB - offset;
    m2 = m2 + shards[base + 3u * c + f] + delta * delta * (n * (nb / total));
    offset = offset + delta * (nb / total);
    n = total;
  }
  // reference + offset to twice f32 precision
  let mean = reference + offset;
  merged[f] = n;
  merged[c + f] = mean;
  merged[2u * c + f] = twoSumError(vec4f(reference), vec4f(offset), vec4f(mean)).x;
  merged[3u * c + f] = m2;
}
