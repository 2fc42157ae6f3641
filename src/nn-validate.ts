// Checks for the training modules. Like batch norm's (src/validate.ts), they throw a
// BatchNormError naming the bad value, before any GPU work and with no state changed.
import type { CanonicalView } from './layout.js';
import { checkBindingBytes, checkTensorBuffer, fail, show } from './validate.js';

type Limits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>;

/** Outputs are padded to whole vec4s, as batch norm's are. */
const checkBytes = (what: string, elements: number, limits: Limits) => checkBindingBytes(what, Math.ceil(elements / 4) * 16, limits);

/** A shape of any rank, for elementwise layers; returns its element count. */
export function checkAnyShape(shape: unknown, limits: Limits): number {
  if (!Array.isArray(shape) || shape.length === 0) fail(`shape must be a non-empty array of dimensions, got ${show(shape)}`);
  const dims = shape as unknown[];
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) fail(`shape ${show(dims)}: dimension ${i} must be a positive integer, got ${show(d)}`);
  });
  const elements = (dims as number[]).reduce((a, b) => a * b, 1);
  checkBytes(`shape ${show(dims)}`, elements, limits);
  return elements;
}

/** A shape [rows, columns] with the given column count; returns rows. */
export function checkRows(shape: unknown, columns: number, what: string, limits: Limits, widest = columns): number {
  if (!Array.isArray(shape) || shape.length !== 2) fail(`shape must be [batch, ${columns}] (${what}), got ${show(shape)}`);
  const [rows, cols] = shape as unknown[];
  if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 1) fail(`shape ${show(shape)}: batch must be a positive integer, got ${show(rows)}`);
  if (cols !== columns) fail(`shape ${show(shape)} has ${show(cols)} columns, but ${what} takes ${columns}`);
  checkBytes(`shape ${show(shape)}`, (rows as number) * widest, limits);
  return rows as number;
}

const flat = (elements: number): CanonicalView => ({ outer: 1, features: elements, inner: 1, count: elements, size: elements });

/** A GPUBuffer of `elements` f32 (exactly, or rounded up to 16 bytes) with STORAGE usage. */
export const checkFloats = (name: string, buffer: unknown, elements: number): GPUBuffer => checkTensorBuffer(name, buffer, flat(elements));

/** A GPUBuffer of one u32 class id per row. */
export function checkLabelBuffer(buffer: unknown, rows: number): GPUBuffer {
  const b = buffer as GPUBuffer;
  if (!b || typeof b !== 'object' || typeof b.size !== 'number' || typeof b.usage !== 'number') fail(`labels must be a GPUBuffer of u32 class ids, got ${show(buffer)}`);
  if (b.size < rows * 4) fail(`labels has ${b.size} bytes, but ${rows} rows need ${rows * 4} (one u32 class id each)`);
  if (!(b.usage & GPUBufferUsage.STORAGE)) fail(`labels needs GPUBufferUsage.STORAGE (its usage is ${b.usage})`);
  return b;
}

/** Class ids on the CPU: integers in [0, classes), one per row. */
export function checkLabelArray(labels: unknown, rows: number, classes: number): Uint32Array<ArrayBuffer> {
  if (!(labels instanceof Uint32Array || labels instanceof Int32Array || Array.isArray(labels))) {
    fail(`labels must be a Uint32Array, Int32Array or array of class ids, got ${show(labels)}`);
  }
  const ids = labels as ArrayLike<unknown>;
  if (ids.length !== rows) fail(`labels has ${ids.length} class ids, but the batch has ${rows} rows`);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= classes) {
      fail(`labels[${i}] must be a class id in [0, ${classes - 1}], got ${show(v)}`);
    }
  }
  return Uint32Array.from(ids as ArrayLike<number>);
}

/** A finite number in [min, max] (or [min, max) with `openMax`). */
export function checkNumber(name: string, v: unknown, min: number, max: number, openMax = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= min && (openMax ? v < max : v <= max);
  if (!ok) fail(`${name} must be a finite number in [${min}, ${max}${openMax ? ')' : ']'}, got ${show(v)}`);
  return v as number;
}

/** Fails on option names that are not in `known`, suggesting the right one where the name is another library's. */
export function checkOptionNames(what: string, options: object, known: readonly string[], aliases: Record<string, string> = {}): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = aliases[key] && known.includes(aliases[key]) ? ` (did you mean ${aliases[key]}?)` : '';
    fail(`${what}: unknown option ${key}${hint}; the options are ${known.join(', ')}`);
  }
}

export { fail, show };
