import { outputUsage } from '../gpu/buffers.js';
import { checkArray, checkBoolean, checkCount, checkOptionNames, checkOptions, checkPositiveInteger } from '../gpu/checks.js';
import { recordPass } from '../gpu/dispatch.js';
import { fail, show } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { placementName, type CanonicalView, type FeaturePlacement, type Layout } from './layout.js';
import { defaultTuning, featureStride, type Tuning } from './partition.js';
import { Plan, type ModuleBuffers, type StatisticsMode } from './plan.js';
import { FEATURE_SECTIONS } from './stages.js';
import { fromTorchNames, TORCH_NAMES, toTorchNames, type TorchBatchNormState } from './torch-names.js';
import { checkBatchStatistics, checkEps, checkMomentum, checkPlacement, checkShape, checkTensorBuffer } from './validate.js';

/**
 * What exists only with `affine`: T when it is true (the default), null when false,
 * either when only known at run time.
 */
export type AffineOnly<Affine extends boolean, T> = [Affine] extends [true] ? T : [Affine] extends [false] ? null : T | null;

export interface BatchNormOptions<Affine extends boolean = boolean> {
  numFeatures: number;
  /** The memory layout: NC, NCL, NCHW, NHWC, NCDHW or NDHWC. Give it, or `axis`. */
  layout?: Layout;
  /**
   * Instead of a layout, the feature axis of tensors of any rank of at least 2,
   * negative counting from the end as in Keras: -1 for channels last, 1 for channels first.
   */
  axis?: number;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Weight of the new batch in the running statistics; null for a cumulative average. Default 0.1. */
  momentum?: number | null;
  /** Learnable gamma (scale) and beta (shift). Default true. */
  affine?: Affine;
  /** Keep running statistics for eval. Default true; when false, batch statistics are used in eval too. */
  trackRunningStats?: boolean;
  /**
   * Fold the batch variance into the running variance with Bessel's correction m / (m - 1),
   * as PyTorch does (default true). Keras, TF.js and ONNX keep the biased variance: false.
   */
  unbiasedRunningVar?: boolean;
  /** Workgroup sizing; defaults depend on the adapter (CPU or GPU). */
  tuning?: Partial<Tuning>;
}

export interface BatchNormState<Affine extends boolean = boolean> {
  gamma: AffineOnly<Affine, Float32Array>;
  beta: AffineOnly<Affine, Float32Array>;
  runningMean: Float32Array | null;
  runningVar: Float32Array | null;
  numBatchesTracked: number | null;
}

export interface Gradients<T, Affine extends boolean = boolean> {
  dx: T;
  /** null when affine is false */
  dgamma: AffineOnly<Affine, T>;
  dbeta: AffineOnly<Affine, T>;
}

const OPTIONS = ['numFeatures', 'layout', 'axis', 'eps', 'momentum', 'affine', 'trackRunningStats', 'unbiasedRunningVar', 'tuning'] as const;
/** Other libraries' names for these options, for a hint when one is used. */
const ALIASES = { num_features: 'numFeatures', epsilon: 'eps', track_running_stats: 'trackRunningStats' };
const TUNING = ['workgroupSize', 'targetWorkgroups', 'minItemsPerThread', 'contiguousItems'] as const;
/**
 * Shapes whose plans (uniforms, partials, y, dx, uploads: 6 buffers) are kept: with
 * the 9 shared buffers and 4 kept readbacks, at most 61 live buffers.
 */
export const MAX_PLANS = 8;

interface LastForward {
  plan: Plan;
  x: GPUBuffer;
  shape: number[];
  batchStatistics: boolean;
}

/**
 * Batch normalization over the feature dimension, with PyTorch's nn.BatchNorm semantics.
 * GPU-resident (`forward`, `backward`: GPUBuffer in and out) or on typed arrays
 * (`forwardArray`, `backwardArray`). Buffers it returns are its own and are reused by
 * the next call with the same shape.
 */
export class BatchNorm<Affine extends boolean = true> extends GpuModule<Plan> {
  readonly numFeatures: number;
  /** The layout it was made with; null when made with `axis`. */
  readonly layout: Layout | null;
  /** The feature axis it was made with; null when made with `layout`. */
  readonly axis: number | null;
  /** Where the features are, whichever way it was given. */
  readonly placement: FeaturePlacement;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: Affine;
  readonly trackRunningStats: boolean;
  readonly unbiasedRunningVar: boolean;
  readonly tuning: Tuning;
  private mode = true;
  /** A plan per shape is kept for at most this many shapes (see README: y and dx of older shapes are destroyed). */
  protected override readonly maxPlans = MAX_PLANS;

  /** Buffers shared by all shapes: parameters, statistics, gradients. */
  private readonly state: ModuleBuffers;
  private last?: LastForward;

  constructor(device: GPUDevice, options: BatchNormOptions<Affine>) {
    checkOptions<BatchNormOptions>('BatchNorm', options, OPTIONS, ALIASES);
    const numFeatures = checkPositiveInteger('numFeatures', options.numFeatures);
    const placement = checkPlacement(options.layout, options.axis);
    if (options.tuning !== undefined) checkOptions('BatchNorm tuning', options.tuning, TUNING);
    super(device, `batchnorm[${numFeatures} ${placementName(placement)}]`);
    this.numFeatures = numFeatures;
    this.placement = placement;
    this.layout = typeof placement === 'string' ? placement : null;
    this.axis = typeof placement === 'string' ? null : placement.axis;
    this.eps = checkEps(options.eps ?? 1e-5);
    this.momentum = checkMomentum(options.momentum === undefined ? 0.1 : options.momentum);
    this.affine = checkBoolean('affine', options.affine ?? true) as Affine;
    this.trackRunningStats = checkBoolean('trackRunningStats', options.trackRunningStats ?? true);
    this.unbiasedRunningVar = checkBoolean('unbiasedRunningVar', options.unbiasedRunningVar ?? true);
    this.tuning = { ...defaultTuning(device), ...options.tuning };
    // 256 threads fit every WebGPU device: it is the least maxComputeWorkgroupSizeX and
    // maxComputeInvocationsPerWorkgroup may be, and their reductions' workgroup memory
    // (4 vec4 per thread: 16 KiB at 256) stays within the least maxComputeWorkgroupStorageSize, 16 KiB.
    const wg = this.tuning.workgroupSize;
    if (!Number.isInteger(wg) || wg < 1 || (wg & (wg - 1)) !== 0 || wg > 256) {
      fail(`tuning.workgroupSize must be a power of 2 from 1 to 256, got ${wg}`);
    }
    checkPositiveInteger('tuning.targetWorkgroups', this.tuning.targetWorkgroups);
    checkPositiveInteger('tuning.minItemsPerThread', this.tuning.minItemsPerThread);
    checkBoolean('tuning.contiguousItems', this.tuning.contiguousItems);

    const c = this.numFeatures;
    const STORAGE = outputUsage();
    const make = (name: string, bytes: number, usage: GPUBufferUsageFlags, data?: ArrayBufferView<ArrayBuffer>) =>
      this.buffers.create(name, bytes, usage, data);
    this.state = {
      gamma: make('gamma', c * 4, STORAGE, new Float32Array(c).fill(1)),
      beta: make('beta', c * 4, STORAGE, new Float32Array(c)),
      runningMean: make('running mean', c * 4, STORAGE, new Float32Array(c)),
      runningVar: make('running var', c * 4, STORAGE, new Float32Array(c).fill(1)),
      batches: make('num batches tracked', 8, STORAGE, new Uint32Array(2)),
      feature: make('per-feature constants', FEATURE_SECTIONS * featureStride(c) * 4, GPUBufferUsage.STORAGE),
      gradGamma: make('dgamma', c * 4, STORAGE),
      gradBeta: make('dbeta', c * 4, STORAGE),
      pad: make('pad', 16, GPUBufferUsage.STORAGE),
    };
  }

  /** Like PyTorch's train() / eval(): batch statistics in training, running statistics in eval. Only booleans. */
  get training(): boolean {
    return this.mode;
  }

  set training(value: boolean) {
    this.mode = checkBoolean('training', value);
  }

  /**
   * gamma and beta as GPU buffers of numFeatures f32, for an optimizer to update in
   * place (their gradients are backward()'s dgamma and dbeta); null when affine is false.
   */
  get parameters(): AffineOnly<Affine, { gamma: GPUBuffer; beta: GPUBuffer }> {
    this.assertAlive('parameters');
    return (this.affine ? { gamma: this.state.gamma, beta: this.state.beta } : null) as AffineOnly<Affine, { gamma: GPUBuffer; beta: GPUBuffer }>;
  }

  /**
   * The buffers every backward() writes dgamma and dbeta into (the same ones it
   * returns), so an optimizer can bind them before the first backward; null when
   * affine is false.
   */
  get gradients(): AffineOnly<Affine, { dgamma: GPUBuffer; dbeta: GPUBuffer }> {
    this.assertAlive('gradients');
    return (this.affine ? { dgamma: this.state.gradGamma, dbeta: this.state.gradBeta } : null) as AffineOnly<Affine, { dgamma: GPUBuffer; dbeta: GPUBuffer }>;
  }

  /** Features in and out, as a layer of a Sequential sees them: [batch, numFeatures] rows, in layout NC only. */
  get features(): { in: number; out: number } | null {
    const rows = this.layout === 'NC' || this.axis === 1 || this.axis === -1;
    return rows ? { in: this.numFeatures, out: this.numFeatures } : null;
  }

  /** Batch statistics need more than one value per feature. */
  readonly minTrainingRows = 2;

  /** gamma and beta with their sizes, for a model to hand to an optimizer. */
  parameterList(): { name: string; value: GPUBuffer; size: number }[] {
    const p = this.parameters;
    return p ? [{ name: 'gamma', value: p.gamma, size: this.numFeatures }, { name: 'beta', value: p.beta, size: this.numFeatures }] : [];
  }

  protected override sharedOutputs() {
    return [this.state.gradGamma, this.state.gradBeta];
  }

  protected override pinned() {
    return [this.last?.plan];
  }

  /** Normalizes with batch statistics (updating the running ones) in training, running statistics in eval. */
  private statisticsMode(): StatisticsMode {
    if (!this.trackRunningStats) return 'batch';
    return this.training ? 'batch-and-running' : 'running';
  }

  private checkInput(shape: unknown): { view: CanonicalView; shape: number[]; mode: StatisticsMode } {
    const view = checkShape(shape, this.placement, this.numFeatures, this.device.limits);
    const mode = this.statisticsMode();
    if (mode !== 'running') checkBatchStatistics(shape as number[], view);
    return { view, shape: [...(shape as number[])], mode };
  }

  private plan(shape: number[], view: CanonicalView): Plan {
    return this.planFor(shape, (label) => new Plan(this.device, this.pipelines, view, label, this.tuning,
      { eps: this.eps, momentum: this.momentum, unbiasedRunningVar: this.unbiasedRunningVar }, this.state));
  }

  private run(encoder: GPUCommandEncoder | undefined, label: string, record: (pass: GPUComputePassEncoder) => void) {
    recordPass(this.device, encoder, `${this.name} ${label}`, record);
  }

  /**
   * y = (x - mean) / sqrt(var + eps) * gamma + beta over a GPU buffer of f32 in this layout.
   * Recorded into `encoder` when given (the caller submits), else submitted at once.
   * x must stay unchanged until backward() if one follows.
   */
  forward(x: GPUBuffer, shape: readonly number[], encoder?: GPUCommandEncoder): GPUBuffer {
    this.assertAlive('forward()');
    const input = this.checkInput(shape);
    checkTensorBuffer('x', x, input.view);
    this.checkNotOutput('x', x, 'forward()');
    const plan = this.plan(input.shape, input.view);
    this.run(encoder, 'forward', (pass) => plan.encodeForward(pass, x, input.mode));
    this.last = { plan, x, shape: input.shape, batchStatistics: input.mode !== 'running' };
    return plan.y;
  }

  /** Gradients for the last forward(): dx, and dgamma and dbeta when affine. */
  backward(dy: GPUBuffer, encoder?: GPUCommandEncoder): Gradients<GPUBuffer, Affine> {
    this.assertAlive('backward()');
    const last = this.last ?? fail('backward() called before any forward()');
    checkTensorBuffer('dy', dy, last.plan.view);
    this.checkNotOutput('dy', dy, 'backward()');
    if (last.x === last.plan.dx) fail(`${this.name}: x of the last forward() is the dx buffer this backward() writes; copy it first`);
    this.run(encoder, 'backward', (pass) => last.plan.encodeBackward(pass, last.x, dy, last.batchStatistics));
    return {
      dx: last.plan.dx,
      dgamma: this.affine ? this.state.gradGamma : null,
      dbeta: this.affine ? this.state.gradBeta : null,
    } as Gradients<GPUBuffer, Affine>;
  }

  /** forward() on a typed array: uploads x, runs, and reads y back. */
  async forwardArray(x: Float32Array, shape: readonly number[]): Promise<Float32Array> {
    this.assertAlive('forwardArray()');
    const input = this.checkInput(shape);
    const data = checkArray('x', x, input.view.size);
    const previous = this.last;
    // a forward that failed on the GPU never ran: it is not the last forward
    return this.guarded('forwardArray()', async () => {
      const plan = this.plan(input.shape, input.view);
      const upload = plan.owned.upload('x', data);
      const encoder = this.encoder('forwardArray');
      const y = this.forward(upload, input.shape, encoder);
      const [out] = await this.readBack(encoder, [{ buffer: y, floats: input.view.size }]);
      return out;
    }, () => (this.last = previous));
  }

  /** backward() on a typed array, for the last forward() or forwardArray(). */
  async backwardArray(dy: Float32Array): Promise<Gradients<Float32Array, Affine>> {
    this.assertAlive('backwardArray()');
    const last = this.last ?? fail('backwardArray() called before any forward()');
    const data = checkArray('dy', dy, last.plan.view.size);
    return this.guarded('backwardArray()', async () => {
      const upload = last.plan.owned.upload('dy', data);
      const encoder = this.encoder('backwardArray');
      const g = this.backward(upload, encoder);
      const c = this.numFeatures;
      const [dx, dgamma, dbeta] = await this.readBack(encoder, [
        { buffer: g.dx, floats: last.plan.view.size },
        { buffer: this.state.gradGamma, floats: c },
        { buffer: this.state.gradBeta, floats: c },
      ]);
      return { dx, dgamma: this.affine ? dgamma : null, dbeta: this.affine ? dbeta : null } as Gradients<Float32Array, Affine>;
    });
  }

  /**
   * Reads gamma, beta and the running statistics back; null where PyTorch has None.
   * With `{ names: 'torch' }`, under PyTorch's state_dict names (weight, bias,
   * running_mean, running_var, num_batches_tracked).
   */
  async getState(): Promise<BatchNormState<Affine>>;
  async getState(options: { names: 'torch' }): Promise<TorchBatchNormState<Affine extends true ? Float32Array : Float32Array | null>>;
  async getState(options: { names?: 'ours' }): Promise<BatchNormState<Affine>>;
  async getState(options: { names?: 'ours' | 'torch' } = {}): Promise<BatchNormState<Affine> | TorchBatchNormState> {
    this.assertAlive('getState()');
    if (!options || typeof options !== 'object') fail(`getState() takes { names: 'ours' | 'torch' }, got ${show(options)}`);
    checkOptionNames('getState()', options, ['names']);
    const names = options.names ?? 'ours';
    if (names !== 'ours' && names !== 'torch') fail(`getState(): names must be 'ours' or 'torch', got ${show(names)}`);
    const b = this.state;
    const c = this.numFeatures;
    const [gamma, beta, runningMean, runningVar, batches] = await this.guarded('getState()', () =>
      this.readBack(this.encoder('getState'), [
        { buffer: b.gamma, floats: c },
        { buffer: b.beta, floats: c },
        { buffer: b.runningMean, floats: c },
        { buffer: b.runningVar, floats: c },
        { buffer: b.batches, floats: 1 },
      ]),
    );
    const state = {
      gamma: this.affine ? gamma : null,
      beta: this.affine ? beta : null,
      runningMean: this.trackRunningStats ? runningMean : null,
      runningVar: this.trackRunningStats ? runningVar : null,
      numBatchesTracked: this.trackRunningStats ? new Uint32Array(batches.buffer, 0, 1)[0] : null,
    };
    return names === 'torch' ? toTorchNames(state) : (state as BatchNormState<Affine>);
  }

  /**
   * Sets any of gamma, beta, the running statistics and numBatchesTracked, under our
   * names or PyTorch's state_dict names (weight, bias, running_mean, running_var,
   * num_batches_tracked); all are checked before any is written.
   */
  setState(given: Partial<BatchNormState> | Partial<TorchBatchNormState>): void {
    this.assertAlive('setState()');
    if (!given || typeof given !== 'object') fail(`setState() takes an object, got ${show(given)}`);
    const state = fromTorchNames(given) as Partial<BatchNormState>;
    const c = this.numFeatures;
    const writes: [GPUBuffer, ArrayBufferView<ArrayBuffer>][] = [];
    const known = ['gamma', 'beta', 'runningMean', 'runningVar', 'numBatchesTracked'];
    const unknown = Object.keys(state).filter((k) => !known.includes(k));
    if (unknown.length) fail(`setState(): unknown field ${unknown.join(', ')}; expected ${known.join(', ')} (or PyTorch's ${Object.values(TORCH_NAMES).join(', ')})`);
    for (const [key, buffer, enabled, option] of [
      ['gamma', this.state.gamma, this.affine, 'affine'],
      ['beta', this.state.beta, this.affine, 'affine'],
      ['runningMean', this.state.runningMean, this.trackRunningStats, 'trackRunningStats'],
      ['runningVar', this.state.runningVar, this.trackRunningStats, 'trackRunningStats'],
    ] as const) {
      const value = state[key];
      if (value === undefined || value === null) continue;
      if (!enabled) fail(`setState(): ${key} is not kept when ${option} is false`);
      const data = checkArray(key, value, c);
      if (key === 'runningVar') {
        // below 0 has no square root; NaN (what training on NaN data leaves) round-trips
        const at = data.findIndex((v) => v < 0);
        if (at >= 0) fail(`setState(): runningVar[${at}] is ${show(data[at])}; a variance must be >= 0 (or NaN)`);
      }
      writes.push([buffer, data]);
    }
    if (state.numBatchesTracked !== undefined && state.numBatchesTracked !== null) {
      if (!this.trackRunningStats) fail('setState(): numBatchesTracked is not kept when trackRunningStats is false');
      writes.push([this.state.batches, new Uint32Array([checkCount('numBatchesTracked', state.numBatchesTracked)])]);
    }
    this.writeAll(writes);
  }

  protected override released(): void {
    this.last = undefined;
  }
}
