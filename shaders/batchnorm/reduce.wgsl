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

// Reduce stages: whether a workgroup's threads merge their results here before one
// stores them (periodic: several threads share each lane, rowLanes > 1; planes: GPU
// tunings). The host sets it false where each periodic lane has one thread, and for
// planes with CPU tunings, where every thread stores its own partial: the kernel is
// then left without barriers, which SwiftShader runs as coroutines (bn-stats
// 1.2-1.3x and bn-grad-reduce 1.1x slower with them, Dawn, 2 cores).
override SHARED_LANES: bool = true;

// Reduce stages, periodic traversal: each thread owns two neighbouring lanes
// (pairThread) and stores its own partial of each, a chunk's pairRowLanes threads
// down the blocks side by side as chunks of their own. The host sets it for CPU
// tunings (with SHARED_LANES false): in Chrome on SwiftShader, bn-grad-reduce on NC
// and NHWC takes 0.75x the time of one lane per thread.
override PAIRED_LANES: bool = false;

// Where a pair thread stores the partial of one of its lanes.
fn pairedSlot(t: PairThread, lane: u32) -> u32 {
  return (t.chunk * params.pairRowLanes + t.rowLane) * params.slotsPerChunk + 4u * lane;
}

// Where thread lid of a planes workgroup stores feature f's partial: each thread of
// the chunk has its own slot without SHARED_LANES; with it the chunk has one, which
// thread 0 fills.
fn planeSlot(wg: u32, f: u32, lid: u32) -> u32 {
  let perChunk = select(WG_SIZE, 1u, SHARED_LANES);
  return partialSlot((wg % params.planeChunks) * perChunk + lid, f, 0u, 0u);
}

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
