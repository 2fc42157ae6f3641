// How a shape's work is split into workgroups for the two traversals of
// traversal.wgsl, and the tuning that sizes them per adapter.
import { isCpuAdapter } from '../gpu/adapter.js';
import type { CanonicalView } from './layout.js';
import { PARTIAL_SECTIONS, type ParamsValues } from './stages.js';

export interface Tuning {
  /** Threads per workgroup, a power of 2. */
  workgroupSize: number;
  /** Workgroups a reduce or elementwise dispatch aims for: enough to keep the adapter busy. */
  targetWorkgroups: number;
  /** Items (vec4 or scalar loads) each thread should stream at least before more workgroups pay off. */
  minItemsPerThread: number;
  /**
   * Per-feature passes: each thread reads a contiguous run of items (true: CPU adapters
   * run one thread's loop at a time, so a run streams through memory) or every
   * workgroupSize-th item (false: neighbouring GPU threads read neighbouring items).
   */
  contiguousItems: boolean;
  /**
   * bn-finalize and bn-grad-finalize: up to this many partials per feature one thread
   * merges them in order; above it, the threads of a workgroup share each feature's.
   */
  serialMergePartials: number;
  /**
   * Training forwards and backwards of tensors up to this many elements take one
   * dispatch each (the one-pass stages) where the shape allows it (onePassTraversal);
   * 0: never. Set by measurement per tuning (docs/performance.md).
   */
  onePassElements: number;
}

/**
 * CPU adapters (SwiftShader) run workgroups as tasks on a few cores: few threads with
 * long loops win. Measured on 2 cores: about 1.0x the copy floor for NC and NHWC
 * against 1.3-2.1x with 64 threads x 32 workgroups x 16 items.
 */
export const CPU_TUNING: Tuning = { workgroupSize: 16, targetWorkgroups: 16, minItemsPerThread: 64, contiguousItems: true, serialMergePartials: 64, onePassElements: 1 << 18 };
/** GPUs need tens of thousands of threads in flight to saturate memory. */
export const GPU_TUNING: Tuning = { workgroupSize: 256, targetWorkgroups: 1024, minItemsPerThread: 4, contiguousItems: false, serialMergePartials: 16, onePassElements: 1 << 18 };

export function defaultTuning(device: GPUDevice): Tuning {
  return isCpuAdapter(device.adapterInfo) ? CPU_TUNING : GPU_TUNING;
}

/** The fields of Params the plan's options give (src/batchnorm/plan.ts): the rest come from the shape. */
type OptionField = 'eps' | 'momentum' | 'cumulative' | 'unbiased' | 'zeroBits';
/** The fields of Params a partition gives: every one but the options'. */
export type PartitionFields = Omit<ParamsValues, OptionField>;

/** How a shape is split into workgroups, and the shape fields of Params. */
export interface Partition {
  /** Reduce traversal: periodic lanes (inner = 1, or small features) or a workgroup per feature. */
  reduce: 'periodic' | 'planes';
  /**
   * Elementwise traversal: periodic lanes; where inner runs whole vec4s and features
   * are large, per feature (GPU tunings) or in memory order (`flat`: contiguous items).
   */
  apply: 'periodic' | 'planes' | 'flat';
  /** Plane items are vec4 (inner % 4 == 0) rather than scalars. */
  aligned: boolean;
  fields: PartitionFields;
  periodicWorkgroups: number;
  planeWorkgroups: number;
  featureWorkgroups: number;
  /** bn-apply's flat traversal: workgroups of threads that each take flatPerThread vec4s. */
  flatWorkgroups: number;
  /** bn-finalize without workgroupMerge: a quarter of the threads, four features to a thread, as many workgroups. */
  featureColumnThreads: number;
  /** bn-stats and bn-grad-reduce merge a workgroup's threads before storing a partial (partial-slots.wgsl's SHARED_LANES). */
  sharedLanes: boolean;
  /** Their periodic traversal gives each thread two neighbouring lanes and its own partials (partial-slots.wgsl's PAIRED_LANES). */
  pairedLanes: boolean;
  /** bn-finalize and bn-grad-finalize merge each feature's partials with mergeRowLanes threads (many partials), not one. */
  workgroupMerge: boolean;
  /** Their workgroups when they do: mergeLanes features to each. */
  mergeWorkgroups: number;
  partialFloats: number;
}

/**
 * At most this many partials per feature: bn-finalize merges them pairwise, so its
 * rounding grows with log2 of the count, and the count bounds its time.
 */
export const MAX_PARTIALS_PER_FEATURE = 256;

/*
 * Merging a feature's partials (Tuning.serialMergePartials): GPU tunings have up to
 * 256 per feature, and one thread merging them took 15x eval's whole forward on an
 * H200, so above 16 a workgroup's threads share them. SwiftShader runs a shader with
 * any barrier as coroutines: in Chrome, one thread (four features to a thread) took
 * half the time of the workgroup merge at 32 and 64 partials (NC [65536,64]
 * 0.23 ms against 0.41, NC [8192,32] 0.30 against 0.66) and twice it at 96 and up
 * (NCHW [32,3,32,32], NC [16384,16]).
 */
/**
 * The one-pass stages' periodic workgroups take at least this many lanes side by
 * side (where the tensor has them): 64 contiguous bytes of every row, a CPU's cache
 * line. With a lane a workgroup (16 bytes of every row, four workgroups to a cache
 * line), lavapipe took 1.9 to 2.8 times as long on NHWC [64, 8, 8, 64] and NC
 * [256, 64]; with 4 or 8 lanes it took the same time (docs/performance.md), and 4
 * leaves twice the workgroups to the cores where C is 32.
 */
const ONE_PASS_LANES = 4;

/** Partials each merging thread takes at least, in order, before the workgroup tree. */
const PARTIALS_PER_MERGE_THREAD = 4;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const nextPow2 = (v: number) => 2 ** Math.ceil(Math.log2(Math.max(1, v)));
const prevPow2 = (v: number) => 2 ** Math.floor(Math.log2(Math.max(1, v)));

/** Splits `total` items into at most `wanted` chunks of at least `minPerChunk`; returns [chunks, perChunk]. */
function split(total: number, wanted: number, minPerChunk: number): [number, number] {
  const chunks = Math.max(1, Math.min(wanted, Math.floor(total / minPerChunk)));
  const perChunk = Math.max(1, Math.ceil(total / chunks));
  return [Math.max(1, Math.ceil(total / perChunk)), perChunk];
}

/**
 * The one-pass stages' traversal for a shape, where it has one: periodic where a
 * lane's four values are four whole features (inner = 1, C % 4 == 0), planes where
 * items are whole vec4s (inner % 4 == 0). Elsewhere a feature's values share lanes
 * with others' or end in a partial vec4, and the three passes take it.
 */
export function onePassTraversal(view: CanonicalView): 'periodic' | 'planes' | undefined {
  if (view.inner === 1 && view.features % 4 === 0) return 'periodic';
  if (view.inner % 4 === 0) return 'planes';
  return undefined;
}

const forcedOnePass = new WeakMap<GPUDevice, boolean>();

/**
 * Not exported by the package: lets the tests run every case on both paths. Plans
 * made on `device` while it is set take the one-pass stages (true; where the shape
 * allows them) or the three passes (false) whatever the size; undefined: by size.
 * Returns the setting it replaces.
 */
export function forceOnePass(device: GPUDevice, onePass: boolean | undefined): boolean | undefined {
  const before = forcedOnePass.get(device);
  if (onePass === undefined) forcedOnePass.delete(device);
  else forcedOnePass.set(device, onePass);
  return before;
}

/** Whether a plan for this shape takes the one-pass stages (a forward with a residual never does: see one-pass-forward.wgsl). */
export function takesOnePass(device: GPUDevice, view: CanonicalView, tuning: Tuning, residual: boolean): boolean {
  if (residual || onePassTraversal(view) === undefined) return false;
  return forcedOnePass.get(device) ?? view.size <= tuning.onePassElements;
}

/**
 * How a shape is split. `onePass`: the one-pass stages' split, a chunk per lane
 * group's (periodic) or feature's (planes) whole data, so that one workgroup owns it.
 */
export function partition(view: CanonicalView, tuning: Tuning, onePass = false): Partition {
  const { outer, features, inner } = view;
  const wg = tuning.workgroupSize;
  const aligned = inner % 4 === 0;

  // periodic: blocks of `repeat` periods are whole vec4s, lane q always sees the same 4 features
  const period = features * inner;
  const repeat = 4 / gcd(period, 4);
  const lanes = (repeat * period) / 4;
  const blocks = Math.floor(outer / repeat);
  // one-pass: a workgroup owns its lanes' every block, so workgroups are lane groups, up to the tuning's
  // target of them, each of at least ONE_PASS_LANES side by side
  const lanesPerGroup = Math.min(wg, nextPow2(onePass ? Math.min(lanes, Math.max(ONE_PASS_LANES, Math.ceil(lanes / tuning.targetWorkgroups))) : lanes));
  const rowLanes = wg / lanesPerGroup;
  const laneGroups = Math.ceil(lanes / lanesPerGroup);
  // threads owning two neighbouring lanes each (traversal.wgsl's pairThread), so twice the threads down the blocks
  const pairRowLanes = lanesPerGroup > 1 ? 2 * rowLanes : rowLanes;
  // CPU tunings: the reduce stages' periodic threads own pairs of lanes and store their own
  // partials (bn-grad-reduce on NC and NHWC 1.3x faster in Chrome on SwiftShader), where
  // a single chunk's partials stay within the bound
  const pairedLanes = tuning.contiguousItems && repeat * inner * pairRowLanes <= MAX_PARTIALS_PER_FEATURE;
  const partialsPerChunk = pairedLanes ? pairRowLanes : 1;
  const [periodicChunks, blocksPerChunk] = split(
    blocks,
    onePass ? 1 : Math.min(Math.ceil(tuning.targetWorkgroups / laneGroups), Math.floor(MAX_PARTIALS_PER_FEATURE / (repeat * inner * partialsPerChunk))),
    (pairedLanes ? pairRowLanes : rowLanes) * tuning.minItemsPerThread,
  );

  // planes: a workgroup per (feature, chunk of its outer * groups items); with CPU
  // tunings each of its threads stores its own partial (no workgroup tree, reduce.wgsl)
  const groups = aligned ? inner / 4 : inner;
  const planePartials = tuning.contiguousItems ? wg : 1;
  const [planeChunks, itemsPerChunk] = split(
    outer * groups,
    onePass ? 1 : Math.min(Math.ceil(tuning.targetWorkgroups / features), Math.floor(MAX_PARTIALS_PER_FEATURE / planePartials)),
    wg * tuning.minItemsPerThread,
  );

  // A feature with fewer items than a workgroup has threads would leave most of a
  // planes workgroup idle: such shapes use the periodic traversal throughout.
  const small = outer * groups < wg;
  const reduce = inner === 1 || small ? 'periodic' : 'planes';
  // flat: the tensor's vec4s in memory order, a contiguous run a thread (bn-apply, CPU tunings)
  const [flatThreads, flatPerThread] = split(outer * features * groups, tuning.targetWorkgroups * wg, tuning.minItemsPerThread);
  const flatWorkgroups = Math.ceil(flatThreads / wg);
  const slots: Pick<PartitionFields, 'slotsPerChunk' | 'slotRepeat' | 'slotInner' | 'partialChunks'> =
    reduce === 'periodic'
      ? { slotsPerChunk: 4 * lanes, slotRepeat: repeat, slotInner: inner, partialChunks: periodicChunks * partialsPerChunk }
      : { slotsPerChunk: features, slotRepeat: 1, slotInner: 1, partialChunks: planeChunks * planePartials };
  // merging: mergeRowLanes threads per feature, a power of 2 that leaves each at least
  // PARTIALS_PER_MERGE_THREAD partials (1: a thread per feature), mergeLanes features side by side
  const perFeature = slots.partialChunks * slots.slotRepeat * slots.slotInner;
  const workgroupMerge = perFeature > tuning.serialMergePartials;
  const mergeRowLanes = workgroupMerge ? Math.min(wg, prevPow2(Math.floor(perFeature / PARTIALS_PER_MERGE_THREAD))) : 1;
  const mergeLanes = wg / mergeRowLanes;
  return {
    reduce,
    apply: inner === 1 || small || !aligned ? 'periodic' : tuning.contiguousItems ? 'flat' : 'planes',
    aligned,
    fields: {
      outer,
      features,
      inner,
      count: view.count,
      featureStride: featureStride(features),
      period,
      repeat,
      lanes,
      blocks,
      tailLen: (outer - blocks * repeat) * period,
      lanesPerGroup,
      rowLanes,
      laneGroups,
      blocksPerChunk,
      blocksPerRowLane: Math.ceil(blocksPerChunk / rowLanes),
      pairRowLanes,
      blocksPerPairRowLane: Math.ceil(blocksPerChunk / pairRowLanes),
      periodicChunks,
      periodicWorkgroups: laneGroups * periodicChunks,
      groups,
      itemsPerChunk,
      planeChunks,
      planeWorkgroups: features * planeChunks,
      ...planeSteps(tuning, itemsPerChunk, groups, features),
      flatPerThread,
      flatWorkgroups,
      ...slots,
      mergeLanes,
      mergeRowLanes,
    },
    periodicWorkgroups: laneGroups * periodicChunks,
    planeWorkgroups: features * planeChunks,
    flatWorkgroups,
    featureWorkgroups: Math.ceil(features / wg),
    featureColumnThreads: Math.max(1, wg / 4),
    sharedLanes: reduce === 'periodic' ? !pairedLanes && rowLanes > 1 : planePartials === 1,
    pairedLanes,
    workgroupMerge,
    mergeWorkgroups: Math.ceil(features / mergeLanes),
    partialFloats: PARTIAL_SECTIONS * slots.partialChunks * slots.slotsPerChunk,
  };
}

type PlaneStepField = 'planeThreadStart' | 'planeThreadSpan' | 'planeStep' | 'planeStepGroups' | 'planeStepIndex' | 'planeWrapIndex';
/** How a thread walks its items in the planes traversal (see PlaneCursor in shaders/batchnorm/traversal.wgsl). */
function planeSteps(tuning: Tuning, itemsPerChunk: number, groups: number, features: number): Pick<PartitionFields, PlaneStepField> {
  const wg = tuning.workgroupSize;
  const perThread = Math.ceil(itemsPerChunk / wg);
  const step = tuning.contiguousItems ? 1 : wg;
  return {
    planeThreadStart: tuning.contiguousItems ? perThread : 1,
    planeThreadSpan: tuning.contiguousItems ? perThread : itemsPerChunk,
    planeStep: step,
    planeStepGroups: step % groups,
    planeStepIndex: Math.floor(step / groups) * features * groups + (step % groups),
    planeWrapIndex: (features - 1) * groups,
  };
}

/** Per-feature sections are C rounded up to 4 floats apart. */
export const featureStride = (features: number) => Math.ceil(features / 4) * 4;
