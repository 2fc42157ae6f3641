// Checks for the training modules' shapes and labels. Like every check in the
// package they throw a BatchNormError naming the bad value, before any GPU work.
import { checkTensorBytes as checkBytes, type BufferLimits as Limits } from '../gpu/checks.js';
import { fail, show } from '../gpu/errors.js';

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

/** A GPUBuffer of one u32 class id per row. */
export function checkLabelBuffer(buffer: unknown, rows: number): GPUBuffer {
  const b = buffer as GPUBuffer;
  if (!b || typeof b !== 'object' || typeof b.size !== 'number' || typeof b.usage !== 'number') fail(`labels must be a GPUBuffer of u32 class ids, a Uint32Array, an Int32Array or an array of class ids, got ${show(buffer)}`);
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
