/** Memory layouts, named like PyTorch's shapes: BatchNorm1d takes NC or NCL, BatchNorm2d NCHW (or channels-last NHWC). */
export type Layout = 'NC' | 'NCL' | 'NCHW' | 'NHWC';

export const LAYOUTS: readonly Layout[] = ['NC', 'NCL', 'NCHW', 'NHWC'];

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

export const RANK: Record<Layout, number> = { NC: 2, NCL: 3, NCHW: 4, NHWC: 4 };

/** Index of the feature (channel) dimension in a shape of this layout. */
export const FEATURE_AXIS: Record<Layout, number> = { NC: 1, NCL: 1, NCHW: 1, NHWC: 3 };

/** The canonical view of a shape that has already been validated for the layout. */
export function canonicalView(layout: Layout, shape: readonly number[]): CanonicalView {
  const axis = FEATURE_AXIS[layout];
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const features = shape[axis];
  return { outer, features, inner, count: outer * inner, size: outer * features * inner };
}
