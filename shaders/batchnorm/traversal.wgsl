// The two ways a batch-norm stage walks a tensor, and the threads that merge the
// reduce stages' partials.
//
// Canonical view: every tensor is [outer, C, inner], reduced over outer and inner,
// m = outer * inner values per feature. Two traversals cover all layouts:
//   periodic: the tensor repeats with period P = C * inner elements. A block of
//     `repeat` periods is a whole number of vec4 "lanes"; lane q of every block
//     holds the same 4 (feature, offset) pairs, so a thread that owns lane q loads
//     its per-feature constants once and streams vec4s down the blocks.
//     Used for inner = 1 (NC, NHWC), for features too small to fill a workgroup,
//     and for elementwise work when inner % 4 != 0.
//   planes: a workgroup owns one feature and a chunk of its outer * groups items,
//     an item being a vec4 along inner (inner % 4 == 0) or a scalar.
// bn-apply with CPU tunings walks NCL and NCHW with inner % 4 == 0 in memory order
// instead (apply_flat).

// ---- periodic traversal -------------------------------------------------------

struct PeriodicThread {
  lane: u32,        // q: which vec4 of every block this thread owns
  inRange: bool,    // q < lanes
  rowLane: u32,     // position among the rowLanes threads sharing the lane
  chunk: u32,
  firstBlock: u32,  // this thread's contiguous run of blocks: [firstBlock, endBlock)
  endBlock: u32,
  ownsTail: bool,   // this thread also handles lane q of the partial last block
}

// A row lane's contiguous run of its chunk's blocks, perRowLane long: [x, y).
fn rowLaneBlocks(chunk: u32, rowLane: u32, perRowLane: u32) -> vec2u {
  let chunkEnd = min((chunk + 1u) * params.blocksPerChunk, params.blocks);
  let first = min(chunk * params.blocksPerChunk + rowLane * perRowLane, chunkEnd);
  return vec2u(first, min(first + perRowLane, chunkEnd));
}

// Each row lane takes a contiguous run of its chunk's blocks, so a thread streams
// through memory (CPU adapters run a thread's whole loop at once) while
// neighbouring lanes still read neighbouring vec4s (GPUs coalesce those).
fn periodicThread(wg: u32, lid: u32) -> PeriodicThread {
  let laneGroup = wg % params.laneGroups;
  let chunk = wg / params.laneGroups;
  let lane = laneGroup * params.lanesPerGroup + lid % params.lanesPerGroup;
  let rowLane = lid / params.lanesPerGroup;
  let run = rowLaneBlocks(chunk, rowLane, params.blocksPerRowLane);
  let inRange = lane < params.lanes;
  let ownsTail = inRange && rowLane == 0u && chunk + 1u == params.periodicChunks && 4u * lane < params.tailLen;
  return PeriodicThread(lane, inRange, rowLane, chunk, run.x, run.y, ownsTail);
}

// The same workgroups with each thread owning two neighbouring lanes, and so twice
// the threads down the blocks (bn-apply; the reduce stages with PAIRED_LANES): four
// threads side by side then cover 128 contiguous bytes of a block rather than 64
// (SwiftShader runs four threads as one SIMD group, so each group then reads whole
// cache lines). Where a lane group has one lane, or the lanes end in the first of a pair,
// the second lane repeats the first: the thread does the same work twice (a reduce
// counts only the first).
struct PairThread {
  lanes: vec2u,
  inRange: bool,    // lanes.x < lanes
  rowLane: u32,
  chunk: u32,
  firstBlock: u32,
  endBlock: u32,
  ownsTail: bool,   // these lanes of the partial last block too
}

fn pairThread(wg: u32, lid: u32) -> PairThread {
  let laneGroup = wg % params.laneGroups;
  let chunk = wg / params.laneGroups;
  let pairsPerGroup = max(params.lanesPerGroup / 2u, 1u);
  let first = laneGroup * params.lanesPerGroup + 2u * (lid % pairsPerGroup);
  let second = select(first, first + 1u, params.lanesPerGroup > 1u && first + 1u < params.lanes);
  let rowLane = lid / pairsPerGroup;
  let run = rowLaneBlocks(chunk, rowLane, params.blocksPerPairRowLane);
  let inRange = first < params.lanes;
  let ownsTail = inRange && rowLane == 0u && chunk + 1u == params.periodicChunks && 4u * first < params.tailLen;
  return PairThread(vec2u(first, second), inRange, rowLane, chunk, run.x, run.y, ownsTail);
}

// Element offsets of lane q's four values within a block.
fn laneOffsets(lane: u32) -> vec4u {
  return vec4u(4u * lane) + vec4u(0u, 1u, 2u, 3u);
}

// Which of lane q's four values exist in the partial last block.
fn tailMask(lane: u32) -> vec4<bool> {
  return laneOffsets(lane) < vec4u(params.tailLen);
}

// Whether lane q's vec4 in the partial last block lies wholly inside the tensor.
fn tailWhole(lane: u32) -> bool {
  return 4u * lane + 4u <= params.tailLen;
}

// Index of the first element of the partial last block.
fn tailBase() -> u32 {
  return params.blocks * params.lanes * 4u;
}

// Slot of the j-th repeat and i-th inner position of feature f in a chunk's partials.
fn partialSlot(chunk: u32, f: u32, j: u32, i: u32) -> u32 {
  return chunk * params.slotsPerChunk + j * params.period + f * params.slotInner + i;
}

// The feature of each of lane q's four values.
fn laneFeatures(lane: u32) -> vec4u {
  return (laneOffsets(lane) % vec4u(params.period)) / vec4u(params.inner);
}

// ---- planes traversal ---------------------------------------------------------

// A thread's place among its feature's outer * groups items: the item number and
// the item's buffer index. Moving on by planeStep items carries the inner
// position instead of dividing (integer division is slow on CPU adapters).
struct PlaneCursor {
  item: u32,
  end: u32,
  g: u32,       // position within the inner run
  index: u32,   // buffer index, in items (vec4 or scalar)
}

fn planeStart(f: u32, chunk: u32, lid: u32) -> PlaneCursor {
  let chunkEnd = min((chunk + 1u) * params.itemsPerChunk, params.outer * params.groups);
  let item = min(chunk * params.itemsPerChunk + lid * params.planeThreadStart, chunkEnd);
  let end = min(item + params.planeThreadSpan, chunkEnd);
  let o = item / params.groups;
  let g = item % params.groups;
  return PlaneCursor(item, end, g, (o * params.features + f) * params.groups + g);
}

fn planeAdvance(c: PlaneCursor) -> PlaneCursor {
  var next = PlaneCursor(c.item + params.planeStep, c.end, c.g + params.planeStepGroups, c.index + params.planeStepIndex);
  if (next.g >= params.groups) {
    next.g -= params.groups;
    next.index += params.planeWrapIndex;
  }
  return next;
}

// With planeStep 1 a thread's items are a contiguous run; within a row of the
// feature (one inner run) their indices are consecutive. These walk it row by row,
// so the loops inside a row need no carrying at all.
fn rowRun(c: PlaneCursor) -> u32 {
  return min(c.end - c.item, params.groups - c.g);
}

fn nextRow(c: PlaneCursor, run: u32) -> PlaneCursor {
  return PlaneCursor(c.item + run, c.end, 0u, c.index + run + params.planeWrapIndex);
}

// On by `run` items, which may stop short of the end of the row.
fn advanceInRow(c: PlaneCursor, run: u32) -> PlaneCursor {
  if (run == rowRun(c)) {
    return nextRow(c, run);
  }
  return PlaneCursor(c.item + run, c.end, c.g + run, c.index + run);
}

// How many of first, first + step, ... lie below end.
fn stepsBelow(first: u32, end: u32, step: u32) -> u32 {
  return select(0u, (end - first + step - 1u) / step, first < end);
}

// ---- merging partials -------------------------------------------------------
// bn-finalize and bn-grad-finalize merge each feature's partials. Where a feature
// has many (GPU tunings: up to 256), mergeRowLanes threads share it, each taking a
// contiguous run of them in order, at least a few and none empty, and the
// workgroup tree (reduce.wgsl) merges their results in a fixed order.

struct MergeThread {
  feature: u32,
  rowLane: u32,   // the first row lane ends up with the feature's total
  first: u32,     // this thread's run of the feature's partials: [first, end)
  end: u32,
}

fn mergeThread(wg: u32, lid: u32) -> MergeThread {
  let f = wg * params.mergeLanes + lid % params.mergeLanes;
  let rowLane = lid / params.mergeLanes;
  let count = select(0u, params.partialChunks * params.slotRepeat * params.slotInner, f < params.features);
  return MergeThread(f, rowLane, rowLane * count / params.mergeRowLanes, (rowLane + 1u) * count / params.mergeRowLanes);
}

// Slot of feature f's k-th partial, counting in the order chunk, repeat, inner position.
fn nthPartialSlot(f: u32, k: u32) -> u32 {
  let perChunk = params.slotRepeat * params.slotInner;
  let inChunk = k % perChunk;
  return partialSlot(k / perChunk, f, inChunk / params.slotInner, inChunk % params.slotInner);
}
