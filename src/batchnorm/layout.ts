/**
 * Memory layouts, named like PyTorch's shapes: BatchNorm1d takes NC or NCL, BatchNorm2d
 * NCHW (or channels-last NHWC), BatchNorm3d NCDHW (or channels-last NDHWC).
 */
export type Layout = 'NC' | 'NCL' | 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC';

export const LAYOUTS: readonly Layout[] = ['NC', 'NCL', 'NCHW', 'NHWC', 'NCDHW', 'NDHWC'];

export const RANK: Record<Layout, number> = { NC: 2, NCL: 3, NCHW: 4, NHWC: 4, NCDHW: 5, NDHWC: 5 };

/** Index of the feature (channel) dimension in a shape of this layout. */
export const FEATURE_AXIS: Record<Layout, number> = { NC: 1, NCL: 1, NCHW: 1, NHWC: 3, NCDHW: 1, NDHWC: 4 };

/**
 * Where the features are: a layout (a fixed rank), or, as Keras says it, the feature
 * axis of a tensor of any rank of at least 2, negative counting from the end.
 */
export type FeaturePlacement = Layout | { axis: number };

/** Every tensor seen as [outer, C, inner]: reduced over outer and inner, m = outer * inner values per feature. */
export interface CanonicalView {
  outer: number;
  features: number;
  inner: number;
  /** Values per feature. */
  count: number;
  /** Elements in the tensor. */
  size: number;
}

/** The index of the feature dimension in a shape of this rank. */
export function featureAxis(where: FeaturePlacement, rank: number): number {
  if (typeof where === 'string') return FEATURE_AXIS[where];
  return where.axis < 0 ? rank + where.axis : where.axis;
}

/** The canonical view of a shape that has already been validated for the placement. */
export function canonicalView(where: FeaturePlacement, shape: readonly number[]): CanonicalView {
  const axis = featureAxis(where, shape.length);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const features = shape[axis];
  return { outer, features, inner, count: outer * inner, size: outer * features * inner };
}

/** How a placement reads in names and messages: "NCHW" or "axis -1". */
export const placementName = (where: FeaturePlacement) => (typeof where === 'string' ? where : `axis ${where.axis}`);
