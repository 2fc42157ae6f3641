// The typed-array calls' tensors: checked for a BatchNorm's storage, uploaded as
// whole u32s, and handed back as the kind the caller gave.
import { asFloat16Array, checkArray, checkHalfArray, isFloat16Array } from '../gpu/checks.js';
import { fail } from '../gpu/errors.js';
import type { TensorArray } from './options.js';
import type { TensorStorage } from './stages.js';

/** A host tensor checked for a BatchNorm: its bytes to upload (whole u32s) and how to hand results back. */
export interface HostTensor {
  upload: ArrayBufferView<ArrayBuffer>;
  kind: 'float32' | 'uint16' | 'float16';
}

export class HostTensors {
  constructor(private readonly storage: TensorStorage) {}

  /** A host tensor of n elements in this storage (Float32Array; or float16 bits, padded to whole u32s to upload). */
  check(name: string, data: unknown, n: number): HostTensor {
    if (this.storage === 'float32') {
      if (data instanceof Uint16Array) fail(`${name} is a Uint16Array, but this BatchNorm has storage 'float32': pass a Float32Array (fromHalf(bits)), or make it with storage: 'float16'`);
      return { upload: checkArray(name, data, n), kind: 'float32' };
    }
    const bits = checkHalfArray(name, data, n);
    const kind = isFloat16Array(data) ? 'float16' : 'uint16';
    if (n % 2 === 0) return { upload: bits, kind };
    const padded = new Uint16Array(n + 1);
    padded.set(bits);
    return { upload: padded, kind };
  }

  /** u32 words (f32 floats) a tensor of n elements takes in this storage, to read back. */
  words(n: number): number {
    return this.storage === 'float16' ? Math.ceil(n / 2) : n;
  }

  /** A tensor read back as `words(n)` words, as the kind the caller gave. */
  out(words: Float32Array, n: number, kind: HostTensor['kind']): TensorArray {
    if (kind === 'float32') return words;
    const bits = new Uint16Array(words.buffer, words.byteOffset, n).slice();
    return (kind === 'float16' ? asFloat16Array(bits) : bits) as TensorArray;
  }
}
