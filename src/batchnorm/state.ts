// BatchNorm's state in and out: gamma, beta, the running statistics and
// numBatchesTracked, read back from its buffers or checked and written into them,
// under our names or PyTorch's state_dict names; and what follows from a state
// (the folded eval-mode map, the options of a copy).
import { checkArray, checkCount, checkOptionNames } from '../gpu/checks.js';
import { fail, show } from '../gpu/errors.js';
import type { Layout } from './layout.js';
import type { BatchNormOptions, BatchNormState } from './options.js';
import type { ModuleBuffers } from './plan.js';
import { fromTorchNames, TORCH_NAMES } from './torch-names.js';

/** getState()'s options: which names it reads back under, ours unless 'torch'. */
export function checkStateNames(options: unknown): 'ours' | 'torch' {
  if (!options || typeof options !== 'object') fail(`getState() takes { names: 'ours' | 'torch' }, got ${show(options)}`);
  checkOptionNames('getState()', options as object, ['names']);
  const names = (options as { names?: unknown }).names ?? 'ours';
  if (names !== 'ours' && names !== 'torch') fail(`getState(): names must be 'ours' or 'torch', got ${show(names)}`);
  return names as 'ours' | 'torch';
}

/** The state a BatchNorm keeps (gamma and beta with affine, the rest with trackRunningStats) in its buffers. */
export class StateBuffers {
  constructor(
    private readonly buffers: ModuleBuffers,
    private readonly numFeatures: number,
    private readonly affine: boolean,
    private readonly trackRunningStats: boolean,
  ) {}

  /** What getState() reads back, in the order `read` takes it. */
  get reads(): { buffer: GPUBuffer; floats: number }[] {
    const b = this.buffers;
    const c = this.numFeatures;
    return [
      { buffer: b.gamma, floats: c },
      { buffer: b.beta, floats: c },
      { buffer: b.runningMean, floats: c },
      { buffer: b.runningVar, floats: c },
      { buffer: b.batches, floats: 1 },
    ];
  }

  /** The state from what `reads` read back; null where PyTorch has None. */
  read([gamma, beta, runningMean, runningVar, batches]: Float32Array[]): BatchNormState {
    return {
      gamma: this.affine ? gamma : null,
      beta: this.affine ? beta : null,
      runningMean: this.trackRunningStats ? runningMean : null,
      runningVar: this.trackRunningStats ? runningVar : null,
      numBatchesTracked: this.trackRunningStats ? new Uint32Array(batches.buffer, 0, 1)[0] : null,
    };
  }

  /** setState()'s writes, under our names or PyTorch's: all are checked before any is written. */
  writes(given: unknown): [GPUBuffer, ArrayBufferView<ArrayBuffer>][] {
    if (!given || typeof given !== 'object') fail(`setState() takes an object, got ${show(given)}`);
    const state = fromTorchNames(given as object) as Partial<BatchNormState>;
    const writes: [GPUBuffer, ArrayBufferView<ArrayBuffer>][] = [];
    const known = ['gamma', 'beta', 'runningMean', 'runningVar', 'numBatchesTracked'];
    const unknown = Object.keys(state).filter((k) => !known.includes(k));
    if (unknown.length) fail(`setState(): unknown field ${unknown.join(', ')}; expected ${known.join(', ')} (or PyTorch's ${Object.values(TORCH_NAMES).join(', ')})`);
    for (const [key, buffer, enabled, option] of [
      ['gamma', this.buffers.gamma, this.affine, 'affine'],
      ['beta', this.buffers.beta, this.affine, 'affine'],
      ['runningMean', this.buffers.runningMean, this.trackRunningStats, 'trackRunningStats'],
      ['runningVar', this.buffers.runningVar, this.trackRunningStats, 'trackRunningStats'],
    ] as const) {
      const value = state[key];
      if (value === undefined || value === null) continue;
      if (!enabled) fail(`setState(): ${key} is not kept when ${option} is false`);
      const data = checkArray(key, value, this.numFeatures);
      if (key === 'runningVar') {
        // below 0 has no square root; NaN (what training on NaN data leaves) round-trips
        const at = data.findIndex((v) => v < 0);
        if (at >= 0) fail(`setState(): runningVar[${at}] is ${show(data[at])}; a variance must be >= 0 (or NaN)`);
      }
      writes.push([buffer, data]);
    }
    if (state.numBatchesTracked !== undefined && state.numBatchesTracked !== null) {
      if (!this.trackRunningStats) fail('setState(): numBatchesTracked is not kept when trackRunningStats is false');
      writes.push([this.buffers.batches, new Uint32Array([checkCount('numBatchesTracked', state.numBatchesTracked)])]);
    }
    return writes;
  }
}

/** foldedAffine()'s map y = x·scale + shift for a state with running statistics, in float64 from its f32. */
export function foldAffine(state: BatchNormState, eps: number): { scale: Float32Array; shift: Float32Array } {
  const c = state.runningVar!.length;
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let f = 0; f < c; f++) {
    const g = state.gamma ? state.gamma[f] : 1;
    const k = g / Math.sqrt(state.runningVar![f] + eps);
    scale[f] = k;
    shift[f] = (state.beta ? state.beta[f] : 0) - state.runningMean![f] * k;
  }
  return { scale, shift };
}

/** What a BatchNorm was made with, as it keeps it: a layout or an axis, the other null. */
type Made<Affine extends boolean> = Required<Omit<BatchNormOptions<Affine>, 'layout' | 'axis'>> & { layout: Layout | null; axis: number | null };

/** The options that make a BatchNorm like this one (copyForInference()). */
export function sameOptions<Affine extends boolean>(bn: Made<Affine>): BatchNormOptions<Affine> {
  const { numFeatures, eps, momentum, affine, trackRunningStats, unbiasedRunningVar, tuning, activation, residual, storage } = bn;
  return { numFeatures, ...(bn.layout ? { layout: bn.layout } : { axis: bn.axis! }), eps, momentum, affine, trackRunningStats, unbiasedRunningVar, tuning, activation, residual, storage };
}
