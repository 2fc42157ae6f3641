// The workgroup step of the reduce stages, and of the finalize stages where many
// threads merge one feature's partials. Each stage names its per-thread result
// `Partial` (an alias) and says how two combine (`combine`); this merges the
// results of the rowLanes threads that share a lane (lanesPerGroup apart) in a
// fixed tree, so results are bit-identical from run to run.

// Half a slot per thread: in each round only the upper half of the threads still
// merging hands its result over. So a Partial of 5 vec4 (bn-stats: the moments and
// the low part of the plain sum) takes 10 KiB at 256 threads, within the least
// maxComputeWorkgroupStorageSize (16 KiB).
var<workgroup> scratch: array<Partial, (WG_SIZE + 1u) / 2u>;

// Round s: threads [s, 2s) write slots [0, s), threads [0, s) read them; a barrier
// between the writes and the reads and another before the next round's writes.
fn reduceRowLanes(lid: u32, lanesPerGroup: u32, rowLanes: u32, own: Partial) -> Partial {
  var acc = own;
  let rowLane = lid / lanesPerGroup;
  for (var s = rowLanes / 2u; s > 0u; s /= 2u) {
    if (rowLane >= s && rowLane < 2u * s) {
      scratch[lid - s * lanesPerGroup] = acc;
    }
    workgroupBarrier();
    if (rowLane < s) {
      acc = combine(acc, scratch[lid]);
    }
    workgroupBarrier();
  }
  return acc;
}
