// Float64 CPU reference of batch normalization with PyTorch's semantics. Plain
// loops, two-pass statistics: the oracle every GPU result is checked against.
// With the fused epilogue it is y = relu(BN(x) + z) as PyTorch writes it, and the
// backward is PyTorch's: ReLU's gradient from its output (dy where y > 0, so 0 at
// the kink and where y is NaN), then batch norm's; dresidual is that masked dy.
import { canonicalView, type FeaturePlacement, type Layout } from './layout.js';

export interface ReferenceOptions {
  /** The layout, or `axis`: the feature axis of any rank (negative from the end), as BatchNorm takes them. */
  layout?: Layout;
  axis?: number;
  eps?: number;
  momentum?: number | null;
  trackRunningStats?: boolean;
  /** Bessel's correction m / (m - 1) on the running variance (PyTorch); false for Keras and ONNX */
  unbiasedRunningVar?: boolean;
  training?: boolean;
  /** The epilogue after batch norm (and the residual add): 'relu' or 'none' (default). */
  activation?: 'none' | 'relu';
  /** The forward takes z and adds it before the activation. */
  residual?: boolean;
}

export interface ReferenceState {
  gamma: Float64Array;
  beta: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
  numBatchesTracked: number;
}

/** What a forward pass computed per feature, as the backward pass needs it. */
export interface ReferenceSaved {
  mean: Float64Array;
  /** biased variance */
  variance: Float64Array;
  invstd: Float64Array;
  /** true when the batch's own statistics were used (training, or no running statistics) */
  batchStatistics: boolean;
  /** The epilogue, and the final output y that ReLU's gradient is taken from. */
  activation?: 'none' | 'relu';
  residual?: boolean;
  y?: Float64Array;
}

export interface ReferenceForward extends ReferenceSaved {
  y: Float64Array;
  /** the state after the pass (running statistics updated in training) */
  state: ReferenceState;
}

export function initialState(numFeatures: number): ReferenceState {
  return {
    gamma: new Float64Array(numFeatures).fill(1),
    beta: new Float64Array(numFeatures),
    runningMean: new Float64Array(numFeatures),
    runningVar: new Float64Array(numFeatures).fill(1),
    numBatchesTracked: 0,
  };
}

/** Calls visit(c, index) for every element of feature c. */
/** The placement the options give: the layout, else the axis. */
function placementOf(options: { layout?: Layout; axis?: number }): FeaturePlacement {
  if (options.layout !== undefined) return options.layout;
  if (options.axis !== undefined) return { axis: options.axis };
  throw new Error('the reference needs a layout or an axis');
}

function eachElement(layout: FeaturePlacement, shape: readonly number[], c: number, visit: (index: number) => void) {
  const { outer, features, inner } = canonicalView(layout, shape);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) visit((o * features + c) * inner + i);
  }
}

/** PyTorch: invstd 0 where var + eps = 0 with batch statistics; 1/sqrt(0) = Infinity with running ones. */
const inverseStd = (variance: number, eps: number, batchStatistics: boolean) =>
  variance + eps === 0 && batchStatistics ? 0 : 1 / Math.sqrt(variance + eps);

/** PyTorch's relu: NaN stays NaN. */
const relu = (v: number) => (v <= 0 ? 0 : v);

export function forward(
  x: ArrayLike<number>,
  shape: readonly number[],
  state: ReferenceState,
  options: ReferenceOptions,
  /** the residual, with `residual: true` */
  z?: ArrayLike<number>,
): ReferenceForward {
  const layout = placementOf(options);
  const { eps = 1e-5, momentum = 0.1, trackRunningStats = true, unbiasedRunningVar = true, training = true } = options;
  const { activation = 'none', residual = false } = options;
  if (residual !== (z !== undefined)) throw new Error(residual ? 'the residual option needs z' : 'z given without the residual option');
  const { features, count: m, size } = canonicalView(layout, shape);
  const batchStatistics = training || !trackRunningStats;
  if (batchStatistics && m < 2) {
    throw new Error(`Expected more than 1 value per channel when training, got input size [${shape.join(', ')}]`);
  }
  const next: ReferenceState = {
    gamma: state.gamma.slice(),
    beta: state.beta.slice(),
    runningMean: state.runningMean.slice(),
    runningVar: state.runningVar.slice(),
    numBatchesTracked: state.numBatchesTracked,
  };
  const updateRunning = training && trackRunningStats;
  if (updateRunning) next.numBatchesTracked += 1;
  const factor = momentum ?? 1 / next.numBatchesTracked;

  const mean = new Float64Array(features);
  const variance = new Float64Array(features);
  const invstd = new Float64Array(features);
  const y = new Float64Array(size);
  for (let c = 0; c < features; c++) {
    if (batchStatistics) {
      let sum = 0;
      eachElement(layout, shape, c, (i) => (sum += x[i]));
      mean[c] = sum / m;
      let squares = 0;
      eachElement(layout, shape, c, (i) => (squares += (x[i] - mean[c]) ** 2));
      variance[c] = squares / m;
    } else {
      mean[c] = state.runningMean[c];
      variance[c] = state.runningVar[c];
    }
    invstd[c] = inverseStd(variance[c], eps, batchStatistics);
    eachElement(layout, shape, c, (i) => (y[i] = (x[i] - mean[c]) * invstd[c] * state.gamma[c] + state.beta[c]));
    if (updateRunning) {
      next.runningMean[c] = (1 - factor) * state.runningMean[c] + factor * mean[c];
      const correction = unbiasedRunningVar ? m / (m - 1) : 1;
      next.runningVar[c] = (1 - factor) * state.runningVar[c] + factor * variance[c] * correction;
    }
  }
  for (let i = 0; i < size; i++) {
    if (z) y[i] += z[i];
    if (activation === 'relu') y[i] = relu(y[i]);
  }
  return { y, mean, variance, invstd, batchStatistics, activation, residual, state: next };
}

export interface ReferenceGradients {
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
  /** null without the residual option */
  dresidual: Float64Array | null;
}

export function backward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  shape: readonly number[],
  layout: FeaturePlacement,
  gamma: ArrayLike<number>,
  saved: ReferenceSaved,
): ReferenceGradients {
  const { features, count: m, size } = canonicalView(layout, shape);
  if (saved.activation === 'relu') {
    const y = saved.y ?? (() => { throw new Error('the relu backward needs the forward\'s y'); })();
    dy = Float64Array.from(dy, (g, i) => (y[i] > 0 ? g : 0));
  }
  const dresidual = saved.residual ? Float64Array.from(dy) : null;
  const dx = new Float64Array(size);
  const dgamma = new Float64Array(features);
  const dbeta = new Float64Array(features);
  for (let c = 0; c < features; c++) {
    const { invstd } = saved;
    const xhat = (i: number) => (x[i] - saved.mean[c]) * invstd[c];
    let sumDy = 0;
    let sumDyXc = 0;
    eachElement(layout, shape, c, (i) => {
      sumDy += dy[i];
      sumDyXc += dy[i] * (x[i] - saved.mean[c]);
    });
    // as PyTorch: sum(dy * (x - mean)) * invstd, which stays finite times Inf in eval with var + eps = 0
    const sumDyXhat = sumDyXc * invstd[c];
    dbeta[c] = sumDy;
    dgamma[c] = sumDyXhat;
    eachElement(layout, shape, c, (i) => {
      dx[i] = saved.batchStatistics
        ? ((gamma[c] * invstd[c]) / m) * (m * dy[i] - sumDy - xhat(i) * sumDyXhat)
        : dy[i] * gamma[c] * invstd[c];
    });
  }
  return { dx, dgamma, dbeta, dresidual };
}

/** The same calls as BatchNorm, in float64 on the CPU, keeping its state between calls. */
export class ReferenceBatchNorm {
  training = true;
  state: ReferenceState;
  private last?: { x: Float64Array; shape: number[]; saved: ReferenceSaved };

  constructor(readonly options: Omit<ReferenceOptions, 'training'> & { numFeatures: number }) {
    this.state = initialState(options.numFeatures);
  }

  forward(x: ArrayLike<number>, shape: readonly number[], z?: ArrayLike<number>): Float64Array {
    const result = forward(x, shape, this.state, { ...this.options, training: this.training }, z);
    this.state = result.state;
    this.last = { x: Float64Array.from(x), shape: [...shape], saved: result };
    return result.y;
  }

  backward(dy: ArrayLike<number>): ReferenceGradients {
    if (!this.last) throw new Error('backward() called before any forward()');
    return backward(this.last.x, dy, this.last.shape, placementOf(this.options), this.state.gamma, this.last.saved);
  }
}

export const reference = { forward, backward, initialState, BatchNorm: ReferenceBatchNorm };
