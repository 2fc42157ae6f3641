// Params, the uniform every batch-norm stage reads, and the sections of its feature
// and partials buffers. The host fills `Params` field by field, by name: it parses
// this struct (src/batchnorm/stages.ts), so the field list lives here and nowhere
// else; the canonical view and the traversals the fields describe are in
// traversal.wgsl.

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
