// Checks shared by every module: each returns the checked value or throws a
// BatchNormError naming it, before any GPU work.
import { fail, show } from './errors.js';

export type BufferLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>;

export function checkPositiveInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`${name} must be a positive integer, got ${show(v)}`);
  return v as number;
}

export function checkBoolean(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(`${name} must be a boolean, got ${show(v)}`);
  return v as boolean;
}

/** A finite number in [min, max] (or [min, max) with `openMax`). */
export function checkNumber(name: string, v: unknown, min: number, max: number, openMax = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= min && (openMax ? v < max : v <= max);
  if (!ok) fail(`${name} must be a finite number in [${min}, ${max}${openMax ? ')' : ']'}, got ${show(v)}`);
  return v as number;
}

export function checkCount(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    fail(`${name} must be an integer in [0, 2^32 - 1], got ${show(v)}`);
  }
  return v as number;
}

/** An options object whose names are all in `known`; suggests the right name where a key is another library's. */
export function checkOptions<T extends object>(what: string, options: unknown, known: readonly string[], aliases: Record<string, string> = {}): T {
  if (!options || typeof options !== 'object') fail(`${what}: options must be an object with ${known.slice(0, 2).join(' and ')}, got ${show(options)}`);
  checkOptionNames(what, options as object, known, aliases);
  return options as T;
}

/** Fails on option names that are not in `known`, suggesting the right one where the name is another library's. */
export function checkOptionNames(what: string, options: object, known: readonly string[], aliases: Record<string, string> = {}): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = aliases[key] && known.includes(aliases[key]) ? ` (did you mean ${aliases[key]}?)` : '';
    fail(`${what}: unknown option ${key}${hint}; the options are ${known.join(', ')}`);
  }
}

export function checkArray(name: string, data: unknown, length: number): Float32Array<ArrayBuffer> {
  if (!(data instanceof Float32Array)) fail(`${name} must be a Float32Array, got ${show(data)}`);
  const a = data as Float32Array<ArrayBuffer>;
  if (a.length !== length) fail(`${name} has ${a.length} elements, but ${length} are expected`);
  return a;
}

/** Float16Array where the runtime has one (it is newer than Node 20). */
const float16Array = (globalThis as { Float16Array?: new (buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView }).Float16Array;

/** Whether `data` is a Float16Array (only where the runtime has one). */
export const isFloat16Array = (data: unknown): boolean => !!float16Array && data instanceof float16Array;

/** Float16 bits as a Float16Array over the same memory (the runtime must have one). */
export const asFloat16Array = (bits: Uint16Array<ArrayBuffer>): ArrayBufferView<ArrayBuffer> =>
  new float16Array!(bits.buffer, bits.byteOffset, bits.length) as ArrayBufferView<ArrayBuffer>;

/**
 * Float16 data: a Uint16Array of binary16 bits, or a Float16Array where the runtime
 * has one; returned as its bits (a Uint16Array over the same memory).
 */
export function checkHalfArray(name: string, data: unknown, length: number): Uint16Array<ArrayBuffer> {
  if (data instanceof Float32Array) {
    fail(`${name} is a Float32Array, but this BatchNorm has storage 'float16': pass the binary16 bits as a Uint16Array (toHalf(values)) or a Float16Array`);
  }
  const half = isFloat16Array(data);
  if (!(data instanceof Uint16Array) && !half) fail(`${name} must be a Uint16Array of float16 bits (or a Float16Array), got ${show(data)}`);
  const view = data as ArrayBufferView<ArrayBuffer> & { length: number };
  if (view.length !== length) fail(`${name} has ${view.length} elements, but ${length} are expected`);
  return half ? new Uint16Array(view.buffer, view.byteOffset, length) : (data as Uint16Array<ArrayBuffer>);
}

/** Fails when `bytes` do not fit one buffer bound as storage on this device. */
export function checkBindingBytes(what: string, bytes: number, limits: BufferLimits): void {
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (bytes > limit) {
    const which = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    fail(`${what} needs ${bytes} bytes, more than this device's ${which} of ${limit} bytes`);
  }
}

/** Fails when a tensor of `elements` f32 (or float16: `elementBytes` 2), padded to whole 16 bytes as the library's outputs are, does not fit one binding. */
export const checkTensorBytes = (what: string, elements: number, limits: BufferLimits, elementBytes: 4 | 2 = 4) =>
  checkBindingBytes(what, Math.ceil((elements * elementBytes) / 16) * 16, limits);

/**
 * A GPUBuffer of `elements` f32 (exactly n * 4 bytes, or that rounded up to 16 as this
 * library allocates) with STORAGE usage. With `elementBytes` 2, float16 elements: n * 2
 * bytes rounded up to whole u32s (a binding's size is whole u32s), or to 16.
 */
export function checkFloats(name: string, buffer: unknown, elements: number, elementBytes: 4 | 2 = 4): GPUBuffer {
  const b = buffer as GPUBuffer;
  if (!b || typeof b !== 'object' || typeof b.size !== 'number' || typeof b.usage !== 'number') {
    fail(`${name} must be a GPUBuffer, got ${show(buffer)}`);
  }
  const bytes = Math.ceil((elements * elementBytes) / 4) * 4;
  const padded = Math.ceil(bytes / 16) * 16;
  if (b.size !== bytes && b.size !== padded) {
    const what = elementBytes === 2 ? 'float16' : 'f32';
    fail(`${name} has ${b.size} bytes, but the shape has ${elements} ${what} elements (${bytes} bytes${padded !== bytes ? ` or ${padded} padded` : ''})`);
  }
  if (!(b.usage & GPUBufferUsage.STORAGE)) fail(`${name} needs GPUBufferUsage.STORAGE (its usage is ${b.usage})`);
  return b;
}
