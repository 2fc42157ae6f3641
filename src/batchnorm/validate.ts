// Batch norm's own checks: layout, eps, momentum, shapes. Like every check in the
// package they throw a BatchNormError naming the value, before any GPU work.
import { checkFloats, checkTensorBytes, type BufferLimits } from '../gpu/checks.js';
import { fail, show } from '../gpu/errors.js';
import { canonicalView, FEATURE_AXIS, LAYOUTS, RANK, type CanonicalView, type Layout } from './layout.js';

export function checkLayout(v: unknown): Layout {
  if (!LAYOUTS.includes(v as Layout)) fail(`layout must be one of ${LAYOUTS.join(', ')}, got ${show(v)}`);
  return v as Layout;
}

export function checkEps(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`eps must be a finite number >= 0, got ${show(v)}`);
  return v as number;
}

export function checkMomentum(v: unknown): number | null {
  if (v === null) return null;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(`momentum must be a number in [0, 1] or null, got ${show(v)}`);
  return v as number;
}

/** Checks a shape against the layout, numFeatures and the device's limits; returns its canonical view. */
export function checkShape(shape: unknown, layout: Layout, numFeatures: number, limits: BufferLimits): CanonicalView {
  if (!Array.isArray(shape)) fail(`shape must be an array of ${RANK[layout]} dimensions for layout ${layout}, got ${show(shape)}`);
  const dims = shape as unknown[];
  if (dims.length !== RANK[layout]) {
    fail(`shape ${show(dims)} has rank ${dims.length}, but layout ${layout} needs rank ${RANK[layout]}`);
  }
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) {
      fail(`shape ${show(dims)}: dimension ${i} must be a positive integer, got ${show(d)}`);
    }
  });
  const c = dims[FEATURE_AXIS[layout]];
  if (c !== numFeatures) {
    fail(`shape ${show(dims)} has ${show(c)} features (dimension ${FEATURE_AXIS[layout]} of ${layout}), but numFeatures is ${numFeatures}`);
  }
  const view = canonicalView(layout, dims as number[]);
  checkTensorBytes(`shape ${show(dims)}`, view.size, limits);
  return view;
}

/** PyTorch refuses batch statistics over a single value per feature. */
export function checkBatchStatistics(shape: readonly number[], view: CanonicalView): void {
  if (view.count < 2) fail(`Expected more than 1 value per channel when training, got input size ${show(shape)}`);
}

/** A buffer holding one f32 per element of the view. */
export const checkTensorBuffer = (name: string, buffer: unknown, view: CanonicalView): GPUBuffer => checkFloats(name, buffer, view.size);
