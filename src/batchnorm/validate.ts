// Batch norm's own checks: layout, eps, momentum, tuning, shapes. Like every check in
// the package they throw a BatchNormError naming the value, before any GPU work.
import { checkBoolean, checkCount, checkFloats, checkOptionNames, checkOptions, checkPositiveInteger, checkTensorBytes, type BufferLimits } from '../gpu/checks.js';
import { fail, show } from '../gpu/errors.js';
import { canonicalView, featureAxis, LAYOUTS, RANK, type CanonicalView, type FeaturePlacement, type Layout } from './layout.js';
import type { Tuning } from './partition.js';

export function checkLayout(v: unknown): Layout {
  if (!LAYOUTS.includes(v as Layout)) fail(`layout must be one of ${LAYOUTS.join(', ')}, got ${show(v)}`);
  return v as Layout;
}

/** A layout, or a feature axis (an integer, negative from the end); exactly one of them. */
export function checkPlacement(layout: unknown, axis: unknown): FeaturePlacement {
  if (layout !== undefined && axis !== undefined) fail(`give layout or axis, not both (got layout ${show(layout)} and axis ${show(axis)})`);
  if (axis === undefined) return checkLayout(layout);
  if (typeof axis !== 'number' || !Number.isInteger(axis)) fail(`axis must be an integer (negative counts from the end), got ${show(axis)}`);
  return { axis: axis as number };
}

export function checkEps(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`eps must be a finite number >= 0, got ${show(v)}`);
  return v as number;
}

/** Tensor storage, spelt exactly: 'float32' or 'float16'. */
export function checkStorage(v: unknown): 'float32' | 'float16' {
  if (v !== 'float32' && v !== 'float16') fail(`storage must be 'float32' or 'float16', got ${show(v)}`);
  return v as 'float32' | 'float16';
}

/** The fused activations, spelt exactly (no case folding: 'ReLU' is refused, naming itself). */
export function checkActivation(v: unknown): 'none' | 'relu' {
  if (v !== 'none' && v !== 'relu') fail(`activation must be 'none' or 'relu', got ${show(v)}`);
  return v as 'none' | 'relu';
}

export function checkMomentum(v: unknown): number | null {
  if (v === null) return null;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(`momentum must be a number in [0, 1] or null, got ${show(v)}`);
  return v as number;
}

const TUNING = ['workgroupSize', 'targetWorkgroups', 'minItemsPerThread', 'contiguousItems', 'serialMergePartials', 'onePassElements'] as const;

/** The tuning option's names, checked with the other options' before the device is touched. */
export function checkTuningNames(tuning: unknown): void {
  if (tuning !== undefined) checkOptions('BatchNorm tuning', tuning, TUNING);
}

/** A whole tuning, the given values over the device's defaults. */
export function checkTuning(tuning: Tuning): Tuning {
  // 256 threads fit every WebGPU device: it is the least maxComputeWorkgroupSizeX and
  // maxComputeInvocationsPerWorkgroup may be, and their reductions' workgroup memory
  // (5 vec4 on half the threads: 10 KiB at 256) stays within the least maxComputeWorkgroupStorageSize, 16 KiB.
  const wg = tuning.workgroupSize;
  if (!Number.isInteger(wg) || wg < 1 || (wg & (wg - 1)) !== 0 || wg > 256) {
    fail(`tuning.workgroupSize must be a power of 2 from 1 to 256, got ${wg}`);
  }
  checkPositiveInteger('tuning.targetWorkgroups', tuning.targetWorkgroups);
  checkPositiveInteger('tuning.minItemsPerThread', tuning.minItemsPerThread);
  checkBoolean('tuning.contiguousItems', tuning.contiguousItems);
  checkCount('tuning.serialMergePartials', tuning.serialMergePartials);
  checkCount('tuning.onePassElements', tuning.onePassElements);
  return tuning;
}

/** Ranks a placement serves: a layout's own, or every rank from 2 that has the axis. */
function checkRank(dims: unknown[], where: FeaturePlacement): void {
  const rank = dims.length;
  if (typeof where === 'string') {
    if (rank !== RANK[where]) fail(`shape ${show(dims)} has rank ${rank}, but layout ${where} needs rank ${RANK[where]}`);
    return;
  }
  const least = Math.max(2, where.axis < 0 ? -where.axis : where.axis + 1);
  if (rank < least) fail(`shape ${show(dims)} has rank ${rank}, but axis ${where.axis} needs rank ${least} or more`);
}

/** Checks a shape against the placement, numFeatures and the device's limits; returns its canonical view. */
export function checkShape(shape: unknown, where: FeaturePlacement, numFeatures: number, limits: BufferLimits, elementBytes: 4 | 2 = 4): CanonicalView {
  const what = typeof where === 'string' ? `${RANK[where]} dimensions for layout ${where}` : `dimensions with feature axis ${where.axis}`;
  if (!Array.isArray(shape)) fail(`shape must be an array of ${what}, got ${show(shape)}`);
  const dims = shape as unknown[];
  checkRank(dims, where);
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) {
      fail(`shape ${show(dims)}: dimension ${i} must be a positive integer, got ${show(d)}`);
    }
  });
  const axis = featureAxis(where, dims.length);
  const c = dims[axis];
  if (c !== numFeatures) {
    fail(`shape ${show(dims)} has ${show(c)} features (dimension ${axis}${typeof where === 'string' ? ` of ${where}` : ''}), but numFeatures is ${numFeatures}`);
  }
  const view = canonicalView(where, dims as number[]);
  checkTensorBytes(`shape ${show(dims)}`, view.size, limits, elementBytes);
  return view;
}

/** PyTorch refuses batch statistics over a single value per feature. */
export function checkBatchStatistics(shape: readonly number[], view: CanonicalView): void {
  if (view.count < 2) fail(`Expected more than 1 value per channel when training, got input size ${show(shape)}`);
}

/**
 * A buffer holding the view's elements as f32 (as halves with elementBytes 2), not
 * mapped (a submit that used it would fail). Whether it was destroyed, or belongs to another device, WebGPU
 * does not tell: such errors surface when the work is submitted.
 */
export function checkTensorBuffer(name: string, buffer: unknown, view: CanonicalView, elementBytes: 4 | 2 = 4): GPUBuffer {
  const b = checkFloats(name, buffer, view.size, elementBytes);
  if (b.mapState !== undefined && b.mapState !== 'unmapped') fail(`${name} is mapped (mapState ${show(b.mapState)}); unmap it before using it`);
  return b;
}

const isEncoder = (v: unknown): v is GPUCommandEncoder =>
  !!v && typeof v === 'object' && typeof (v as GPUCommandEncoder).beginComputePass === 'function' && typeof (v as GPUCommandEncoder).finish === 'function';

/** A call's last argument: an encoder alone (as the calls have always taken), or an options object of the known names. */
export function checkCallOptions<T extends { encoder?: GPUCommandEncoder }>(call: string, given: unknown, known: readonly string[]): T {
  if (given === undefined) return {} as T;
  if (isEncoder(given)) {
    if (!known.includes('encoder')) fail(`${call} takes no encoder: it records and submits its own work`);
    return { encoder: given } as T;
  }
  if (!given || typeof given !== 'object') fail(`${call}: the last argument must be a GPUCommandEncoder or options { ${known.join(', ')} }, got ${show(given)}`);
  checkOptionNames(call, given as object, known);
  const options = given as T;
  if (options.encoder !== undefined && !isEncoder(options.encoder)) fail(`${call}: encoder must be a GPUCommandEncoder, got ${show(options.encoder)}`);
  return options;
}
