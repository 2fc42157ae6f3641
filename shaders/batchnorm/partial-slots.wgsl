// Where bn-stats and bn-grad-reduce store their partials (the slots bn-finalize and
// bn-grad-finalize merge): one per lane and chunk, per thread, or per pair thread.

// Reduce stages: whether a workgroup's threads merge their results here before one
// stores them (periodic: several threads share each lane, rowLanes > 1; planes: GPU
// tunings). The host sets it false where each periodic lane has one thread, and for
// planes with CPU tunings, where every thread stores its own partial: the kernel is
// then left without barriers, which SwiftShader runs as coroutines, slowly.
override SHARED_LANES: bool = true;

// Reduce stages, periodic traversal: each thread owns two neighbouring lanes
// (pairThread) and stores its own partial of each, a chunk's pairRowLanes threads
// down the blocks side by side as chunks of their own. The host sets it for CPU
// tunings (with SHARED_LANES false), where it beats one lane per thread on NC and NHWC.
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
