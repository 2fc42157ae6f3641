import { canonicalView, LAYOUTS, RANK, FEATURE_AXIS, type CanonicalView, type Layout } from './layout.js';

/** Thrown for bad input, before any GPU work and with no state changed. */
export class BatchNormError extends Error {
  override name = 'BatchNormError';
}

const fail = (message: string): never => {
  throw new BatchNormError(message);
};

/** A value as an error message shows it. */
export const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  return String(v);
};

export function checkPositiveInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`${name} must be a positive integer, got ${show(v)}`);
  return v as number;
}

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

export function checkBoolean(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(`${name} must be a boolean, got ${show(v)}`);
  return v as boolean;
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
  checkBindingBytes(`shape ${show(dims)}`, Math.ceil(view.size / 4) * 16, limits); // outputs are padded to whole vec4s
  return view;
}

type BufferLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>;

/** Fails when `bytes` do not fit one buffer bound as storage on this device. */
export function checkBindingBytes(what: string, bytes: number, limits: BufferLimits): void {
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (bytes > limit) {
    const which = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    fail(`${what} needs ${bytes} bytes, more than this device's ${which} of ${limit} bytes`);
  }
}

/** PyTorch refuses batch statistics over a single value per feature. */
export function checkBatchStatistics(shape: readonly number[], view: CanonicalView): void {
  if (view.count < 2) fail(`Expected more than 1 value per channel when training, got input size ${show(shape)}`);
}

/** A buffer holding one f32 per element: exactly n * 4 bytes, or that rounded up to 16 as this library allocates. */
export function checkTensorBuffer(name: string, buffer: unknown, view: CanonicalView): GPUBuffer {
  const b = buffer as GPUBuffer;
  if (!b || typeof b !== 'object' || typeof b.size !== 'number' || typeof b.usage !== 'number') {
    fail(`${name} must be a GPUBuffer, got ${show(buffer)}`);
  }
  const bytes = view.size * 4;
  const padded = Math.ceil(bytes / 16) * 16;
  if (b.size !== bytes && b.size !== padded) {
    fail(`${name} has ${b.size} bytes, but the shape has ${view.size} f32 elements (${bytes} bytes${padded !== bytes ? ` or ${padded} padded` : ''})`);
  }
  if (!(b.usage & GPUBufferUsage.STORAGE)) fail(`${name} needs GPUBufferUsage.STORAGE (its usage is ${b.usage})`);
  return b;
}

export function checkArray(name: string, data: unknown, length: number): Float32Array<ArrayBuffer> {
  if (!(data instanceof Float32Array)) fail(`${name} must be a Float32Array, got ${show(data)}`);
  const a = data as Float32Array<ArrayBuffer>;
  if (a.length !== length) fail(`${name} has ${a.length} elements, but ${length} are expected`);
  return a;
}

export function checkCount(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    fail(`${name} must be an integer in [0, 2^32 - 1], got ${show(v)}`);
  }
  return v as number;
}

export { fail };
