// Shared by every batch-norm stage. The host concatenates grid.wgsl and this file
// in front of each stage's source and fills `Params` field by field, by name: it parses this
// struct (src/batchnorm/stages.ts), so the field list lives here and nowhere else.
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
struct Params {
  outer: u32,
  features: u32,
  inner: u32,
  count: f32,               // m = outer * inner, values per feature
  eps: f32,
  momentum: f32,
  cumulative: u32,          // 1: momentum is null, average over all batches
  unbiased: u32,            // 1: running variance gets Bessel's m / (m - 1) (PyTorch); 0: biased (Keras, ONNX)
  featureStride: u32,       // C rounded up to 4: stride of the per-feature sections

  // periodic traversal
  period: u32,              // P = C * inner
  repeat: u32,              // periods per block: 4 / gcd(P, 4)
  lanes: u32,               // vec4 lanes per block: repeat * P / 4
  blocks: u32,              // whole blocks: outer / repeat
  tailLen: u32,             // elements of the last, partial block
  lanesPerGroup: u32,       // lanes side by side in one workgroup (power of 2)
  rowLanes: u32,            // WG_SIZE / lanesPerGroup threads down the blocks
  laneGroups: u32,          // ceil(lanes / lanesPerGroup)
  blocksPerChunk: u32,
  blocksPerRowLane: u32,    // ceil(blocksPerChunk / rowLanes): each row lane takes a contiguous run
  pairRowLanes: u32,        // the same with two lanes to a thread (pairThread): twice rowLanes, where a group has 2+ lanes
  blocksPerPairRowLane: u32,
  periodicChunks: u32,
  periodicWorkgroups: u32,  // laneGroups * periodicChunks

  // planes traversal
  groups: u32,              // items per inner run: inner / 4 (vec4) or inner (scalar)
  itemsPerChunk: u32,
  planeChunks: u32,         // chunks per feature
  planeWorkgroups: u32,     // features * planeChunks
  planeThreadStart: u32,    // a thread's first item: chunk start + lid * planeThreadStart
  planeThreadSpan: u32,     // and its items: [first, first + span) every planeStep
  planeStep: u32,           // WG_SIZE (threads interleaved: GPUs) or 1 (each thread a contiguous run: CPUs)
  planeStepGroups: u32,     // planeStep items further: inner position + planeStep % groups,
  planeStepIndex: u32,      //   buffer index + (planeStep / groups) * features * groups + planeStep % groups,
  planeWrapIndex: u32,      //   and past the end of a run, index + (features - 1) * groups

  // memory-order traversal (bn-apply with CPU tunings, inner % 4 == 0): each thread a
  // contiguous run of the tensor's outer * features * groups vec4s
  flatPerThread: u32,
  flatWorkgroups: u32,

  // partial results of the reduce stages, one slot per (chunk, position): feature f
  // owns slots chunk * slotsPerChunk + j * period + f * slotInner + i, j < slotRepeat, i < slotInner
  // (periodic: a slot per element of a block; planes: one per feature)
  slotsPerChunk: u32,
  slotRepeat: u32,
  slotInner: u32,
  partialChunks: u32,
  mergeLanes: u32,          // bn-finalize and bn-grad-finalize: features side by side in a workgroup,
  mergeRowLanes: u32,       //   and threads that merge each one's partials together (a power of 2)
  zeroBits: u32,            // 0, unknown to the compiler: see opaque()
}

@group(0) @binding(0) var<uniform> params: Params;

// Per-feature sections of the `feature` buffer, each `featureStride` floats long.
const PIVOT = 0u;        // K: a value of the feature taken from the data (or the running mean)
const MEAN_DELTA = 1u;   // mean - K
const MEAN = 2u;         // the mean rounded to f32: K + (mean - K), or the plain mean near zero (bn-finalize)
const INVSTD = 3u;
const SCALE = 4u;        // forward: y = (x - K) * SCALE + SHIFT + beta
const SHIFT = 5u;
const GRAD_DY = 6u;      // backward: dx = dy * GRAD_DY + (x - K) * GRAD_X + GRAD_SHIFT
const GRAD_X = 7u;
const GRAD_SHIFT = 8u;
const FEATURE_SECTIONS = 9u;

// Sections of the `partials` buffer: count, sum(x - K), M2 and sum(x) for statistics;
// the backward pass uses the first two for sum(dy) and sum(dy * (x - mean)).
const PARTIAL_SECTIONS = 4u;

// Running moments of 4 independent columns: count, the sum of d = x - K, the sum of
// squared deviations from the mean, and the plain sum of x (bn-finalize says which
// mean it reports). Sums, not means: merged in a tree they are pairwise sums, one
// rounding per merge.
struct Moments {
  n: vec4f,
  sumD: vec4f,
  m2: vec4f,
  sumX: vec4f,
}

// Sums of d = x - K, d^2 and x turned into moments. Shifting by a K taken from the
// data keeps d small, so s2 - s1 * mean cancels little; this costs only FMAs per
// element, where Welford's update costs a division.
fn momentsFromShiftedSums(n: vec4f, s1: vec4f, s2: vec4f, s0: vec4f) -> Moments {
  let some = n > vec4f(0.0);
  return Moments(n, s1, s2 - s1 * select(vec4f(0.0), s1 / n, some), select(vec4f(0.0), s0, some));
}

// Chan et al.'s pairwise merge: exact in exact arithmetic, stable in f32 because
// it only ever combines deviations, never raw sums of squares.
fn chanMerge(a: Moments, b: Moments) -> Moments {
  let n = a.n + b.n;
  let delta = select(vec4f(0.0), b.sumD / b.n, b.n > vec4f(0.0)) - select(vec4f(0.0), a.sumD / a.n, a.n > vec4f(0.0));
  let weight = select(vec4f(0.0), a.n * b.n / n, n > vec4f(0.0));
  return Moments(n, a.sumD + b.sumD, a.m2 + b.m2 + delta * delta * weight, a.sumX + b.sumX);
}

// Column k of a Moments in every column.
fn column(a: Moments, k: u32) -> Moments {
  return Moments(vec4f(a.n[k]), vec4f(a.sumD[k]), vec4f(a.m2[k]), vec4f(a.sumX[k]));
}

// The four columns of one Moments, merged into column x.
fn mergeColumns(a: Moments) -> Moments {
  return chanMerge(chanMerge(column(a, 0u), column(a, 1u)), chanMerge(column(a, 2u), column(a, 3u)));
}

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
// (SwiftShader runs four threads as one SIMD group: bn-apply on NC and NHWC 1.1-1.7x
// faster). Where a lane group has one lane, or the lanes end in the first of a pair,
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

// ---- sums to about twice f32 precision ------------------------------------------
// A float32 sum of n values of zero-mean data (N(0, 1), say) is off by
// about eps * sqrt(n log n) even when added pairwise: more than 1e-6 of a mean near
// zero. Carried as hi + lo, with each addition's rounding error recovered exactly,
// the error stays near one rounding of the result, whatever the order.

struct Compensated {
  hi: vec4f,
  lo: vec4f,   // what hi misses: the sum is hi + lo
}

// v itself, through an operation a compiler cannot see through. WGSL lets compilers
// reassociate float arithmetic, and some do (NVIDIA's Vulkan driver): knowing
// s = a + b, they fold (s - a) - b to 0, and every error term below with it. So each
// step of an error term goes through opaque(): there, hiding only the sums left the
// mean of a long contiguous run short of its test (measured on an H200). CPU
// adapters keep float order (SwiftShader's compiler does), and there the XORs would
// cost 11-17 % of an op: the host sets OPAQUE_SUMS false for them.
override OPAQUE_SUMS: bool = true;

fn opaque(v: vec4f) -> vec4f {
  if (OPAQUE_SUMS) {
    return bitcast<vec4f>(bitcast<vec4u>(v) ^ vec4u(params.zeroBits));
  }
  return v;
}

// The rounding error of s = a + b (Knuth's two-sum: exact for any a, b).
fn twoSumError(a: vec4f, b: vec4f, s: vec4f) -> vec4f {
  let t = opaque(s);
  let bb = opaque(t - a);
  let aa = opaque(t - bb);
  return opaque(a - aa) + opaque(b - bb);
}

fn addCompensated(a: Compensated, b: Compensated) -> Compensated {
  let hi = a.hi + b.hi;
  return Compensated(hi, (a.lo + b.lo) + twoSumError(a.hi, b.hi, hi));
}

// How a thread adds values into a compensated sum, set per tuning. Fast2Sum's
// error (a.hi - t) + x, three adds, is exact while |a.hi| >= |x|, which a running
// sum past its first values nearly always is (and otherwise off by no more than a
// plain sum's own rounding): long contiguous loops (CPU tunings). Short or
// interleaved loops (GPU tunings), where a value is as large as the sum so far
// about as often as not, take two-sum: six adds, exact for any magnitudes.
override EXACT_SUMS: bool = true;

fn accumulate(a: Compensated, x: vec4f) -> Compensated {
  let t = opaque(a.hi + x);
  if (EXACT_SUMS) {
    return Compensated(t, a.lo + twoSumError(a.hi, x, t));
  }
  return Compensated(t, a.lo + opaque(opaque(a.hi - t) + x));
}

fn accumulateTwo(a: Compensated, x0: vec4f, x1: vec4f) -> Compensated {
  if (EXACT_SUMS) {
    return accumulate(accumulate(a, x0), x1);
  }
  let t0 = opaque(a.hi + x0);
  let t1 = opaque(t0 + x1);
  let e0 = opaque(opaque(a.hi - t0) + x0);
  let e1 = opaque(opaque(t0 - t1) + x1);
  return Compensated(t1, a.lo + opaque(e0 + e1));
}

// ---- decisions on the bits --------------------------------------------------------
// WGSL lets a compiler assume that no float is NaN or infinite, and some use it
// (NVIDIA's Vulkan driver turns select(v, 0, v <= 0) into max(v, 0), which returns 0
// for NaN). Where NaN and Inf must flow through as PyTorch lets them, the
// comparison is made on the bits.

// v <= 0: +0, and every value with the sign bit from -0 to -Infinity (not NaN).
fn atMostZero(v: vec4f) -> vec4<bool> {
  let u = bitcast<vec4u>(v);
  return (u == vec4u(0u)) | ((u >= vec4u(0x80000000u)) & (u <= vec4u(0xff800000u)));
}

// v > 0: from the smallest subnormal to +Infinity (not NaN).
fn aboveZero(v: vec4f) -> vec4<bool> {
  let u = bitcast<vec4u>(v);
  return (u >= vec4u(1u)) & (u <= vec4u(0x7f800000u));
}

// The ReLU's gradient applied to dy: dy where the ReLU's output y > 0, else 0
// (PyTorch's threshold_backward: 0 at the kink and where y is NaN).
fn reluGradient(dy: vec4f, y: vec4f) -> vec4f {
  return select(vec4f(0.0), dy, aboveZero(y));
}

// Neither ±Infinity nor NaN.
fn isFinite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}
