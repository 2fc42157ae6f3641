// The package's one error class, and how a message shows a bad value.

/**
 * Thrown for bad input by every module of the package (batch norm and the training
 * layers alike), before any GPU work and with no state changed.
 */
export class BatchNormError extends Error {
  override name = 'BatchNormError';
}

export const fail = (message: string): never => {
  throw new BatchNormError(message);
};

const SHOWN_ITEMS = 4;
const SHOWN_CHARS = 60;

const firstItems = (items: ArrayLike<unknown>) => {
  const head = Array.from({ length: Math.min(items.length, SHOWN_ITEMS) }, (_, i) => show(items[i]));
  return `[${head.join(', ')}${items.length > SHOWN_ITEMS ? ', …' : ''}]`;
};

/** A value as an error message shows it: short, never the whole of a large array. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > SHOWN_CHARS ? `${v.slice(0, SHOWN_CHARS)}…` : v);
  if (Array.isArray(v)) return v.length <= SHOWN_ITEMS ? firstItems(v) : `an array of ${v.length} ${firstItems(v)}`;
  if (v instanceof DataView) return `a DataView of ${v.byteLength} bytes`;
  if (ArrayBuffer.isView(v)) {
    const items = v as unknown as ArrayLike<number>;
    return `${v.constructor.name}(${items.length}) ${firstItems(items)}`;
  }
  if (v instanceof ArrayBuffer) return `an ArrayBuffer of ${v.byteLength} bytes`;
  if (typeof v === 'function') return `a function ${v.name || '(anonymous)'}`;
  if (v !== null && typeof v === 'object') {
    const name = v.constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : `an object with keys ${firstItems(Object.keys(v))}`;
  }
  return String(v);
}
