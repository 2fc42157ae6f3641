// Batch norm's WGSL stages and what the host reads out of them.
import { parseConst, parseStruct, stageSource } from '../gpu/wgsl.js';
import params from '../../shaders/batchnorm/params.wgsl?raw';
import moments from '../../shaders/batchnorm/moments.wgsl?raw';
import traversal from '../../shaders/batchnorm/traversal.wgsl?raw';
import compensated from '../../shaders/batchnorm/compensated.wgsl?raw';
import bits from '../../shaders/batchnorm/bits.wgsl?raw';
import floatOrderProbe from '../../shaders/batchnorm/float-order-probe.wgsl?raw';
import tensorX from '../../shaders/batchnorm/tensor-x.wgsl?raw';
import tensorXScalar from '../../shaders/batchnorm/tensor-x-scalar.wgsl?raw';
import tensorDy from '../../shaders/batchnorm/tensor-dy.wgsl?raw';
import tensorDyScalar from '../../shaders/batchnorm/tensor-dy-scalar.wgsl?raw';
import reduce from '../../shaders/batchnorm/reduce.wgsl?raw';
import partialSlots from '../../shaders/batchnorm/partial-slots.wgsl?raw';
import statsPartial from '../../shaders/batchnorm/stats-partial.wgsl?raw';
import statsSums from '../../shaders/batchnorm/stats-sums.wgsl?raw';
import stats from '../../shaders/batchnorm/stats.wgsl?raw';
import forwardConstants from '../../shaders/batchnorm/forward-constants.wgsl?raw';
import runningUpdate from '../../shaders/batchnorm/running-update.wgsl?raw';
import finalize from '../../shaders/batchnorm/finalize.wgsl?raw';
import applyTransform from '../../shaders/batchnorm/apply-transform.wgsl?raw';
import apply from '../../shaders/batchnorm/apply.wgsl?raw';
import applyConstants from '../../shaders/batchnorm/apply-constants.wgsl?raw';
import applyRunning from '../../shaders/batchnorm/apply-running.wgsl?raw';
import gradSums from '../../shaders/batchnorm/grad-sums.wgsl?raw';
import gradReduce from '../../shaders/batchnorm/grad-reduce.wgsl?raw';
import gradConstants from '../../shaders/batchnorm/grad-constants.wgsl?raw';
import gradFinalize from '../../shaders/batchnorm/grad-finalize.wgsl?raw';
import onePassForward from '../../shaders/batchnorm/one-pass-forward.wgsl?raw';
import onePassBackward from '../../shaders/batchnorm/one-pass-backward.wgsl?raw';
import onePassWrite from '../../shaders/batchnorm/one-pass-write.wgsl?raw';
import merge from '../../shaders/batchnorm/merge.wgsl?raw';
import storageF32 from '../../shaders/batchnorm/storage-f32.wgsl?raw';
import storageF16 from '../../shaders/batchnorm/storage-f16.wgsl?raw';
import storageF16Native from '../../shaders/batchnorm/storage-f16-native.wgsl?raw';
import halfBits from '../../shaders/batchnorm/half-bits.wgsl?raw';
import maskF32 from '../../shaders/batchnorm/mask-f32.wgsl?raw';
import maskF16 from '../../shaders/batchnorm/mask-f16.wgsl?raw';

/** How x, y, dy, dx and the residual are stored (BatchNorm's `storage`); everything else is f32. */
export type TensorStorage = 'float32' | 'float16';

/**
 * How float16 tensors are bound: as WGSL f16 (`enable f16`, on devices with the
 * `shader-f16` feature) or packed two to a u32 (every device). The bytes in memory
 * are the same either way; loads are exact and stores round alike (half-bits.wgsl).
 */
export type HalfPath = 'f16' | 'packed';

/** The WGSL files that give a storage's element types and conversions. */
const STORAGE_FILES: Record<'float32' | HalfPath, string[]> = {
  float32: [storageF32],
  packed: [storageF16, halfBits],
  f16: [storageF16Native, halfBits],
};

/**
 * What every stage of the batch norm starts with: Params and the buffer sections,
 * the moments and Chan's merge, the traversals, compensated sums, bit tests.
 */
const PRELUDE = [params, moments, traversal, compensated, bits];

/** x's and dy's bindings and loaders: the vec4 view, and the scalar one (partial vec4s, scalar items). */
const X = [tensorX, tensorXScalar];
const DY = [tensorDy, tensorDyScalar];

/**
 * Each stage: grid.wgsl and the PRELUDE; the storage's element types and
 * conversions (STORAGE_FILES) where it touches tensors; x's and dy's bindings and
 * loaders (X, DY; the one-pass stages only their vec4 views) where it reads them;
 * reduce.wgsl (the workgroup tree) where it reduces or merges partials, with
 * partial-slots.wgsl (where partials are stored) where it stores them, and
 * stats-partial.wgsl (the tree's Partial) and stats-sums.wgsl (a thread's sums) for
 * the statistics, grad-sums.wgsl for the gradients; forward-constants.wgsl and
 * grad-constants.wgsl where it finishes a feature (running-update.wgsl where it
 * folds the batch into the running statistics); apply-transform.wgsl where it
 * writes y or dx (the one-pass stages: with one-pass-write.wgsl); then its own file (bn-apply: after the file that gives its
 * constants, apply-constants.wgsl or apply-running.wgsl; bn-grad-reduce: and its
 * masked-dy stores for the storage). One module per stage and storage: binding
 * types cannot be overridden.
 */
function stagesFor(storage: 'float32' | HalfPath) {
  const types = STORAGE_FILES[storage];
  const suffix = storage === 'float32' ? '' : ` (float16 ${storage})`;
  const tensors = (...files: string[]) => [...PRELUDE, ...types, ...files];
  return {
    stats: stageSource(`batchnorm stats${suffix}`, ...tensors(...X, reduce, partialSlots, statsPartial, statsSums, stats)),
    finalize: stageSource(`batchnorm finalize${suffix}`, ...tensors(reduce, statsPartial, forwardConstants, runningUpdate, finalize)),
    apply: stageSource(`batchnorm apply${suffix}`, ...tensors(...X, ...DY, applyConstants, applyTransform, apply)),
    /** Eval in one pass: bn-apply with the constants from the running statistics (apply-running.wgsl). */
    applyRunning: stageSource(`batchnorm apply running${suffix}`, ...tensors(...X, forwardConstants, applyRunning, applyTransform, apply)),
    gradReduce: stageSource(`batchnorm grad reduce${suffix}`, ...tensors(...X, ...DY, reduce, partialSlots, gradSums, gradReduce, storage === 'float32' ? maskF32 : maskF16)),
    gradFinalize: stageSource('batchnorm grad finalize', ...PRELUDE, reduce, gradConstants, gradFinalize),
    /** A training forward of a small tensor in one dispatch (one-pass-forward.wgsl). */
    onePassForward: stageSource(`batchnorm one-pass forward${suffix}`, ...tensors(tensorX, reduce, statsPartial, statsSums, forwardConstants, runningUpdate, applyTransform, onePassWrite, onePassForward)),
    /** Its backward in one dispatch (one-pass-backward.wgsl). */
    onePassBackward: stageSource(`batchnorm one-pass backward${suffix}`, ...tensors(tensorX, tensorDy, reduce, gradSums, gradConstants, applyTransform, onePassWrite, onePassBackward)),
    merge: stageSource('batchnorm merge', compensated, merge),
  };
}

export type Stages = ReturnType<typeof stagesFor>;
export const stages: Stages = stagesFor('float32');
/** The float16 stages of each path; grad-finalize and merge touch no tensors and are shared. */
export const halfStages: Record<HalfPath, Stages> = {
  packed: { ...stagesFor('packed'), gradFinalize: stages.gradFinalize, merge: stages.merge },
  f16: { ...stagesFor('f16'), gradFinalize: stages.gradFinalize, merge: stages.merge },
};

/** Devices whose float16 BatchNorms take the packed path though they have `shader-f16`: see forcePackedHalves. */
const packedOnly = new WeakSet<GPUDevice>();

/**
 * Not exported by the package: lets the tests run both float16 paths on a device
 * with `shader-f16`. BatchNorms made on `device` while `packed` is true take the
 * packed path; those made before keep theirs.
 */
export function forcePackedHalves(device: GPUDevice, packed: boolean): void {
  if (packed) packedOnly.add(device);
  else packedOnly.delete(device);
}

/** The float16 path a BatchNorm made now on `device` takes: f16 where the device has `shader-f16`. */
export const halfPathOf = (device: GPUDevice): HalfPath =>
  device.features.has('shader-f16') && !packedOnly.has(device) ? 'f16' : 'packed';

/** The stages of a BatchNorm made now on `device` with this storage. */
export const stagesOf = (storage: TensorStorage, device: GPUDevice): Stages =>
  storage === 'float16' ? halfStages[halfPathOf(device)] : stages;

export const mergeFields = parseStruct(merge, 'MergeParams');
/** Sections of C floats in split statistics (count, mean, meanLow, M2) and in gradient sums (count, Σdy, Σdy·x̂). */
export const STATISTICS_SECTIONS = parseConst(merge, 'STATISTICS_SECTIONS');
export const SUM_SECTIONS = parseConst(gradFinalize, 'SUM_SECTIONS');

/** Params as parsed from params.wgsl: the layout the uniform is packed by. */
export const paramsFields = parseStruct(params, 'Params');
/**
 * The same fields, in the same order, as TypeScript knows them, so a misspelt or
 * missing value fails at compile time; tests/wgsl.test.ts checks the list against
 * paramsFields, so a field added or renamed in params.wgsl must be added here too.
 */
export const PARAMS_FIELDS = [
  'outer', 'features', 'inner', 'count', 'eps', 'momentum', 'cumulative', 'unbiased', 'featureStride',
  'period', 'repeat', 'lanes', 'blocks', 'tailLen', 'lanesPerGroup', 'rowLanes', 'laneGroups', 'blocksPerChunk',
  'blocksPerRowLane', 'pairRowLanes', 'blocksPerPairRowLane', 'periodicChunks', 'periodicWorkgroups',
  'groups', 'itemsPerChunk', 'planeChunks', 'planeWorkgroups', 'planeThreadStart', 'planeThreadSpan', 'planeStep',
  'planeStepGroups', 'planeStepIndex', 'planeWrapIndex',
  'flatPerThread', 'flatWorkgroups',
  'slotsPerChunk', 'slotRepeat', 'slotInner', 'partialChunks', 'mergeLanes', 'mergeRowLanes', 'zeroBits',
] as const;
export type ParamsField = (typeof PARAMS_FIELDS)[number];
/** A value for every field of Params. */
export type ParamsValues = Record<ParamsField, number>;
export const FEATURE_SECTIONS = parseConst(params, 'FEATURE_SECTIONS');
export const PARTIAL_SECTIONS = parseConst(params, 'PARTIAL_SECTIONS');

/** The float-order probe (src/batchnorm/float-order.ts): compensated.wgsl's functions on known values. */
export const floatOrderStage = stageSource('batchnorm float-order probe', compensated, floatOrderProbe);
export const probeFields = parseStruct(floatOrderProbe, 'ProbeParams');
export const PROBE_TERMS = parseConst(floatOrderProbe, 'PROBE_TERMS');

/** bn-finalize's MODE: which statistics a forward normalizes with, and whether it updates the running ones. */
export const FINALIZE_MODE = {
  batch: parseConst(finalize, 'BATCH'),
  'batch-and-running': parseConst(finalize, 'BATCH_AND_RUNNING'),
  running: parseConst(finalize, 'RUNNING'),
  shard: parseConst(finalize, 'SHARD'),
  given: parseConst(finalize, 'GIVEN'),
  'given-and-running': parseConst(finalize, 'GIVEN_AND_RUNNING'),
  tick: parseConst(finalize, 'TICK'),
};

/** bn-grad-finalize's MODE: gradients through batch statistics or through running ones. */
export const GRAD_FINALIZE_MODE = {
  batch: parseConst(gradFinalize, 'BATCH'),
  running: parseConst(gradFinalize, 'RUNNING'),
  sums: parseConst(gradFinalize, 'SUMS'),
  'given-sums': parseConst(gradFinalize, 'GIVEN_SUMS'),
};
