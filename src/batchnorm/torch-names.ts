// PyTorch's state_dict names for batch norm's state, so a trained model's state
// moves across without renaming: weight and bias are γ and β.
import { fail } from '../gpu/errors.js';

/** Our name of each field, and PyTorch's. */
export const TORCH_NAMES = {
  gamma: 'weight',
  beta: 'bias',
  runningMean: 'running_mean',
  runningVar: 'running_var',
  numBatchesTracked: 'num_batches_tracked',
} as const;

type Ours = keyof typeof TORCH_NAMES;

/** getState({ names: 'torch' }): the state as a PyTorch batch-norm module's state_dict names it. */
export interface TorchBatchNormState<T = Float32Array | null> {
  weight: T;
  bias: T;
  running_mean: Float32Array | null;
  running_var: Float32Array | null;
  num_batches_tracked: number | null;
}

const OURS = Object.keys(TORCH_NAMES) as Ours[];

/** A state with PyTorch's names in ours; either naming (or a mix) is accepted, a field given under both is not. */
export function fromTorchNames(state: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...state };
  for (const ours of OURS) {
    const theirs = TORCH_NAMES[ours];
    if (!(theirs in out)) continue;
    if (ours in out) fail(`setState(): ${ours} and ${theirs} name the same field; give one`);
    out[ours] = out[theirs];
    delete out[theirs];
  }
  return out;
}

export function toTorchNames<T>(state: Record<Ours, unknown>): TorchBatchNormState<T> {
  return Object.fromEntries(OURS.map((ours) => [TORCH_NAMES[ours], state[ours]])) as unknown as TorchBatchNormState<T>;
}
