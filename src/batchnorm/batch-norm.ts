import { outputUsage } from '../gpu/buffers.js';
import { checkBoolean, checkOptions, checkPositiveInteger } from '../gpu/checks.js';
import { recordPass } from '../gpu/dispatch.js';
import { fail, show } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { checkSumsFollowStatistics, DataParallel, type Statistics, type Sums } from './data-parallel.js';
import { HostTensors } from './host-tensor.js';
import { placementName, type CanonicalView, type FeaturePlacement, type Layout } from './layout.js';
import type { AffineOnly, ArrayGradients, BackwardOptions, BatchNormActivation, BatchNormOptions, BatchNormState, ForwardOptions, Gradients, TensorArray } from './options.js';
import { defaultTuning, featureStride, type Tuning } from './partition.js';
import { Plan, type ModuleBuffers, type StatisticsMode } from './plan.js';
import { probeFloatOrder } from './float-order.js';
import { FEATURE_SECTIONS, STATISTICS_SECTIONS, SUM_SECTIONS, stagesOf, type Stages, type TensorStorage } from './stages.js';
import { checkStateNames, foldAffine, sameOptions, StateBuffers } from './state.js';
import { mergeGradientSums, mergeStatistics, statisticsFrom, sumsFrom, type GradientSums, type ShardStatistics } from './statistics.js';
import { toTorchNames, type TorchBatchNormState } from './torch-names.js';
import { checkActivation, checkBatchStatistics, checkCallOptions, checkEps, checkMomentum, checkPlacement, checkShape, checkStorage, checkTensorBuffer, checkTuning, checkTuningNames } from './validate.js';

const OPTIONS = ['numFeatures', 'layout', 'axis', 'eps', 'momentum', 'affine', 'trackRunningStats', 'unbiasedRunningVar', 'tuning', 'activation', 'residual', 'storage'] as const;
/** Other libraries' names for these options, for a hint when one is used. */
const ALIASES = { num_features: 'numFeatures', epsilon: 'eps', track_running_stats: 'trackRunningStats' };
interface LastForward {
  plan: Plan;
  x: GPUBuffer;
  batchStatistics: boolean;
  /** normalized with given (global) statistics: its backward may take given sums */
  given: boolean;
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
  /** The fused activation after batch norm (and the residual add). */
  readonly activation: BatchNormActivation;
  /** Whether the forward adds a residual z before the activation. */
  readonly residual: boolean;
  /** How the tensors (x, y, dy, dx, residual) are stored. */
  readonly storage: TensorStorage;
  /** The storage's stages, chosen once: with float16, WGSL f16 where the device has `shader-f16`, else packed. */
  private readonly stages: Stages;
  private mode = true;
  /** Buffers shared by all shapes: parameters, statistics, gradients. */
  private readonly shared: ModuleBuffers;
  private last?: LastForward;
  /** The typed-array calls' tensors in this storage. */
  private readonly host: HostTensors;
  /** getState() and setState()'s side of the shared buffers. */
  private readonly state: StateBuffers;
  /** Given statistics and sums, their host records, and merging statistics buffers. */
  private readonly parallel: DataParallel;

  constructor(device: GPUDevice, options: BatchNormOptions<Affine>) {
    checkOptions<BatchNormOptions>('BatchNorm', options, OPTIONS, ALIASES);
    const numFeatures = checkPositiveInteger('numFeatures', options.numFeatures);
    const placement = checkPlacement(options.layout, options.axis);
    checkTuningNames(options.tuning);
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
    this.activation = checkActivation(options.activation === undefined ? 'none' : options.activation);
    this.residual = checkBoolean('residual', options.residual ?? false);
    this.storage = checkStorage(options.storage ?? 'float32');
    this.stages = stagesOf(this.storage, device);
    void probeFloatOrder(device);
    this.tuning = checkTuning({ ...defaultTuning(device), ...options.tuning });

    const c = this.numFeatures;
    const STORAGE = outputUsage();
    const make = (name: string, bytes: number, usage: GPUBufferUsageFlags, data?: ArrayBufferView<ArrayBuffer>) =>
      this.buffers.create(name, bytes, usage, data);
    this.shared = {
      gamma: make('gamma', c * 4, STORAGE, new Float32Array(c).fill(1)),
      beta: make('beta', c * 4, STORAGE, new Float32Array(c)),
      runningMean: make('running mean', c * 4, STORAGE, new Float32Array(c)),
      runningVar: make('running var', c * 4, STORAGE, new Float32Array(c).fill(1)),
      batches: make('num batches tracked', 16, STORAGE, new Uint32Array(4)),
      feature: make('per-feature constants', FEATURE_SECTIONS * featureStride(c) * 4, GPUBufferUsage.STORAGE),
      gradGamma: make('dgamma', c * 4, STORAGE),
      gradBeta: make('dbeta', c * 4, STORAGE),
      pad: make('pad', 16, GPUBufferUsage.STORAGE),
      statistics: make('statistics', STATISTICS_SECTIONS * c * 4, STORAGE),
      sums: make('gradient sums', SUM_SECTIONS * c * 4, STORAGE),
    };
    this.host = new HostTensors(this.storage);
    this.state = new StateBuffers(this.shared, c, this.affine, this.trackRunningStats);
    this.parallel = new DataParallel({
      device, name: this.name, numFeatures: c, buffers: this.buffers, pipelines: this.pipelines, stages: this.stages, tuning: this.tuning,
      encoder: (call) => this.encoder(call),
    });
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
    return (this.affine ? { gamma: this.shared.gamma, beta: this.shared.beta } : null) as AffineOnly<Affine, { gamma: GPUBuffer; beta: GPUBuffer }>;
  }

  /**
   * The buffers every backward() writes dgamma and dbeta into (the same ones it
   * returns), so an optimizer can bind them before the first backward; null when
   * affine is false.
   */
  get gradients(): AffineOnly<Affine, { dgamma: GPUBuffer; dbeta: GPUBuffer }> {
    this.assertAlive('gradients');
    return (this.affine ? { dgamma: this.shared.gradGamma, dbeta: this.shared.gradBeta } : null) as AffineOnly<Affine, { dgamma: GPUBuffer; dbeta: GPUBuffer }>;
  }

  /**
   * The running mean and variance as GPU buffers of numFeatures f32 (the ones every
   * training forward updates and eval normalizes with), for code that keeps them in
   * sync with another framework's variables on the GPU; null without trackRunningStats.
   */
  get runningStatistics(): { runningMean: GPUBuffer; runningVar: GPUBuffer } | null {
    this.assertAlive('runningStatistics');
    return this.trackRunningStats ? { runningMean: this.shared.runningMean, runningVar: this.shared.runningVar } : null;
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

  // ---- GpuModule's hooks ----------------------------------------------------------

  protected override sharedOutputs() {
    return [this.shared.gradGamma, this.shared.gradBeta, this.shared.statistics, this.shared.sums, this.parallel.output];
  }

  // A plan holds 6 buffers (uniforms, partials, y, dx, uploads): with the 9 shared
  // buffers and 4 kept readbacks, the PLANS_KEPT plans make at most 61 live buffers.
  protected override pinned() {
    return [this.last?.plan];
  }

  protected override released(): void {
    this.last = undefined;
    this.parallel.released();
  }

  // ---- GPU buffers ----------------------------------------------------------------

  /** Normalizes with batch statistics (updating the running ones) in training, running statistics in eval. */
  private statisticsMode(): StatisticsMode {
    if (!this.trackRunningStats) return 'batch';
    return this.training ? 'batch-and-running' : 'running';
  }

  /** A shape checked against this BatchNorm and the device: its canonical view. */
  private view(shape: unknown): CanonicalView {
    return checkShape(shape, this.placement, this.numFeatures, this.device.limits, this.elementBytes);
  }

  /** A shape for this BatchNorm, and the statistics its forward uses; given (global) statistics may cover a shard of one row. */
  private checkInput(shape: unknown, given = false): { view: CanonicalView; shape: number[]; mode: StatisticsMode } {
    const view = this.view(shape);
    const mode = this.statisticsMode();
    if (mode !== 'running' && !given) checkBatchStatistics(shape as number[], view);
    return { view, shape: [...(shape as number[])], mode };
  }

  private plan(shape: number[], view: CanonicalView): Plan {
    return this.planFor(shape, (label) => new Plan(this.device, this.pipelines, view, label, this.tuning,
      { eps: this.eps, momentum: this.momentum, unbiasedRunningVar: this.unbiasedRunningVar, relu: this.activation === 'relu', residual: this.residual, storage: this.storage, stages: this.stages },
      this.shared));
  }

  /** Bytes of one tensor element in this storage. */
  private get elementBytes(): 4 | 2 {
    return this.storage === 'float16' ? 2 : 4;
  }

  private run(encoder: GPUCommandEncoder | undefined, label: string, record: (pass: GPUComputePassEncoder) => void) {
    recordPass(this.device, encoder, `${this.name} ${label}`, record);
  }

  /**
   * y = (x - mean) / sqrt(var + eps) * gamma + beta over a GPU buffer of f32 in this layout.
   * Recorded into the encoder when one is given (the caller submits), else submitted at
   * once. x must stay unchanged until backward() if one follows. The third argument is
   * an encoder, or `{ encoder?, statistics? }` (see ForwardOptions).
   */
  forward(x: GPUBuffer, shape: readonly number[], options?: GPUCommandEncoder | ForwardOptions): GPUBuffer {
    this.assertAlive('forward()');
    const { encoder, statistics, residual } = checkCallOptions<ForwardOptions>('forward()', options, ['encoder', 'statistics', 'residual']);
    this.checkResidualGiven('forward()', residual);
    const input = this.checkInput(shape, statistics !== undefined);
    checkTensorBuffer('x', x, input.view, this.elementBytes);
    this.checkNotOutput('x', x, 'forward()');
    if (residual !== undefined) {
      checkTensorBuffer('residual', residual, input.view, this.elementBytes);
      this.checkNotOutput('residual', residual, 'forward()');
    }
    if (statistics !== undefined) this.parallel.checkStatisticsBuffer(statistics, input.mode);
    const plan = this.plan(input.shape, input.view);
    this.run(encoder, 'forward', (pass) => plan.encodeForward(pass, x, input.mode, statistics, residual));
    this.last = { plan, x, batchStatistics: input.mode !== 'running', given: statistics !== undefined };
    return plan.y;
  }

  /**
   * Gradients for the last forward(): dx, and dgamma and dbeta when affine. The second
   * argument is an encoder, or `{ encoder?, sums? }` (see BackwardOptions).
   */
  backward(dy: GPUBuffer, options?: GPUCommandEncoder | BackwardOptions): Gradients<GPUBuffer, Affine> {
    this.assertAlive('backward()');
    const { encoder, sums } = checkCallOptions<BackwardOptions>('backward()', options, ['encoder', 'sums']);
    const last = this.checkLast('backward()', dy, sums !== undefined);
    if (sums !== undefined) this.parallel.checkSumsBuffer(sums, [this.shared.gradGamma, this.shared.gradBeta]);
    this.run(encoder, 'backward', (pass) => last.plan.encodeBackward(pass, last.x, dy, last.batchStatistics, sums));
    return {
      dx: last.plan.dx,
      dgamma: this.affine ? this.shared.gradGamma : null,
      dbeta: this.affine ? this.shared.gradBeta : null,
      dresidual: this.dresidual(last.plan, dy),
    } as Gradients<GPUBuffer, Affine>;
  }

  /** dresidual: dy itself without an activation (d(BN + z)/dz = 1), dy' = dy·mask with ReLU. */
  private dresidual(plan: Plan, dy: GPUBuffer): GPUBuffer | null {
    if (!this.residual) return null;
    return this.activation === 'relu' ? plan.masked : dy;
  }

  /** A residual exactly when the BatchNorm was made with `residual: true`. */
  private checkResidualGiven(call: string, residual: unknown): void {
    if (this.residual && residual === undefined) {
      fail(`${call}: this BatchNorm was made with residual: true; pass the residual tensor: ${call.replace('()', '')}(x, shape, { residual: z })`);
    }
    if (!this.residual && residual !== undefined) {
      fail(`${call}: residual given (${show(residual)}), but this BatchNorm was made without residual: true`);
    }
  }

  /** The last forward, checked for a backward-like call taking dy. */
  private checkLast(call: string, dy: GPUBuffer, needsGiven: boolean): LastForward {
    const last = this.last ?? fail(`${call} called before any forward()`);
    checkTensorBuffer('dy', dy, last.plan.view, this.elementBytes);
    this.checkNotOutput('dy', dy, call);
    if (last.x === last.plan.dx) fail(`${this.name}: x of the last forward() is the dx buffer this ${call} writes; copy it first`);
    if (needsGiven) checkSumsFollowStatistics(call, last.given);
    return last;
  }

  // ---- typed arrays ---------------------------------------------------------------

  /**
   * What each typed-array call (and getState()) does after its checks: inside
   * `guarded` (a GPU error rejects, and `undo` runs), `encode` uploads and records its
   * GPU-buffer call into a new encoder and names the buffers to read back, which
   * resolve as f32.
   */
  private readArrays(call: string, encode: (encoder: GPUCommandEncoder) => { buffer: GPUBuffer; floats: number }[], undo?: () => void): Promise<Float32Array[]> {
    return this.guarded(`${call}()`, () => {
      const encoder = this.encoder(call);
      return this.readBack(encoder, encode(encoder));
    }, undo);
  }

  /**
   * forward() on a typed array: uploads x (and given statistics), runs, and reads y
   * back. With storage 'float16', x, the residual and y are binary16 bits
   * (Uint16Array, or Float16Array where the runtime has one: y is the kind x is).
   */
  async forwardArray(x: Float32Array, shape: readonly number[], options?: { statistics?: Statistics; residual?: Float32Array }): Promise<Float32Array>;
  async forwardArray(x: Uint16Array, shape: readonly number[], options?: { statistics?: Statistics; residual?: Uint16Array }): Promise<Uint16Array>;
  async forwardArray(x: TensorArray, shape: readonly number[], options?: { statistics?: Statistics; residual?: TensorArray }): Promise<TensorArray>;
  async forwardArray(x: TensorArray, shape: readonly number[], options: { statistics?: Statistics; residual?: TensorArray } = {}): Promise<TensorArray> {
    this.assertAlive('forwardArray()');
    const { statistics, residual } = checkCallOptions<{ encoder?: never; statistics?: Statistics; residual?: TensorArray }>('forwardArray()', options, ['statistics', 'residual']);
    this.checkResidualGiven('forwardArray()', residual);
    const input = this.checkInput(shape, statistics !== undefined);
    const n = input.view.size;
    const data = this.host.check('x', x, n);
    const z = residual === undefined ? undefined : this.host.check('residual', residual, n);
    const given = statistics === undefined ? undefined : this.parallel.givenStatistics(statistics, input.mode);
    // a forward that failed on the GPU never ran: it is not the last forward
    const previous = this.last;
    const [y] = await this.readArrays('forwardArray', (encoder) => {
      const plan = this.plan(input.shape, input.view);
      const out = this.forward(plan.owned.upload('x', data.upload), input.shape, {
        encoder,
        statistics: given && this.buffers.upload('statistics', given),
        residual: z && plan.owned.upload('residual', z.upload),
      });
      return [{ buffer: out, floats: this.host.words(n) }];
    }, () => (this.last = previous));
    return this.host.out(y, n, data.kind);
  }

  /**
   * backward() on a typed array, for the last forward() or forwardArray(); with the
   * (global) gradient sums when given. dx and dresidual in the tensors' storage (the
   * kind dy is), dgamma and dbeta f32.
   */
  async backwardArray(dy: Float32Array, options?: { sums?: Sums }): Promise<ArrayGradients<Float32Array, Affine>>;
  async backwardArray(dy: Uint16Array, options?: { sums?: Sums }): Promise<ArrayGradients<Uint16Array, Affine>>;
  async backwardArray(dy: TensorArray, options?: { sums?: Sums }): Promise<ArrayGradients<TensorArray, Affine>>;
  async backwardArray(dy: TensorArray, options: { sums?: Sums } = {}): Promise<ArrayGradients<TensorArray, Affine>> {
    this.assertAlive('backwardArray()');
    const { sums } = checkCallOptions<{ encoder?: never; sums?: Sums }>('backwardArray()', options, ['sums']);
    const last = this.last ?? fail('backwardArray() called before any forward()');
    const n = last.plan.view.size;
    const data = this.host.check('dy', dy, n);
    if (sums !== undefined) checkSumsFollowStatistics('backwardArray()', last.given);
    const given = sums === undefined ? undefined : this.parallel.givenSums(sums);
    const masked = this.residual && this.activation === 'relu';
    const [dx, dgamma, dbeta, dresidual] = await this.readArrays('backwardArray', (encoder) => {
      const g = this.backward(last.plan.owned.upload('dy', data.upload), { encoder, sums: given && this.buffers.upload('sums', given) });
      return [
        { buffer: g.dx, floats: this.host.words(n) },
        { buffer: this.shared.gradGamma, floats: this.numFeatures },
        { buffer: this.shared.gradBeta, floats: this.numFeatures },
        ...(masked ? [{ buffer: g.dresidual!, floats: this.host.words(n) }] : []),
      ];
    });
    const copy = () => (data.kind === 'float32' ? Float32Array.from(dy as Float32Array) : this.host.out(new Float32Array(data.upload.buffer.slice(0)), n, data.kind));
    return {
      dx: this.host.out(dx, n, data.kind),
      dgamma: this.affine ? dgamma : null,
      dbeta: this.affine ? dbeta : null,
      dresidual: masked ? this.host.out(dresidual, n, data.kind) : this.residual ? copy() : null,
    } as ArrayGradients<TensorArray, Affine>;
  }

  /** statistics() on a typed array: { count, mean, m2 } per feature, in float64. */
  async statisticsArray(x: TensorArray, shape: readonly number[]): Promise<ShardStatistics> {
    this.assertAlive('statisticsArray()');
    const view = this.view(shape);
    const data = this.host.check('x', x, view.size).upload;
    const [floats] = await this.readArrays('statisticsArray', (encoder) => {
      const upload = this.plan([...shape], view).owned.upload('x', data);
      return [{ buffer: this.statistics(upload, shape, encoder), floats: STATISTICS_SECTIONS * this.numFeatures }];
    });
    return statisticsFrom(floats, this.numFeatures);
  }

  /** gradientSums() on a typed array: { count, sumDy, sumDyXhat } per feature, in float64. */
  async gradientSumsArray(dy: TensorArray): Promise<GradientSums> {
    this.assertAlive('gradientSumsArray()');
    const last = this.last ?? fail('gradientSumsArray() called before any forward()');
    const data = this.host.check('dy', dy, last.plan.view.size).upload;
    const [floats] = await this.readArrays('gradientSumsArray', (encoder) => {
      const upload = last.plan.owned.upload('dy', data);
      return [{ buffer: this.gradientSums(upload, encoder), floats: SUM_SECTIONS * this.numFeatures }];
    });
    return sumsFrom(floats, this.numFeatures);
  }

  // ---- data-parallel: split statistics and gradient sums -------------------------

  /**
   * This batch's (this shard's) per-feature statistics, for an all-reduce to merge:
   * a buffer of the BatchNorm's (overwritten by the next call) holding
   * STATISTICS_SECTIONS sections of numFeatures f32: count, mean, meanLow (what the
   * f32 mean misses), M2. 2 dispatches; nothing else changes.
   */
  statistics(x: GPUBuffer, shape: readonly number[], encoder?: GPUCommandEncoder): GPUBuffer {
    this.assertAlive('statistics()');
    const { encoder: enc } = checkCallOptions<{ encoder?: GPUCommandEncoder }>('statistics()', encoder, ['encoder']);
    const view = this.view(shape);
    checkTensorBuffer('x', x, view, this.elementBytes);
    const plan = this.plan([...shape], view);
    this.run(enc, 'statistics', (pass) => plan.encodeStatistics(pass, x));
    return this.shared.statistics;
  }

  /**
   * This shard's per-feature gradient sums for the last forward, which must have had
   * (global) statistics: a buffer of the BatchNorm's holding SUM_SECTIONS sections of
   * numFeatures f32: count, Σdy, Σdy·x̂. 2 dispatches.
   */
  gradientSums(dy: GPUBuffer, encoder?: GPUCommandEncoder): GPUBuffer {
    this.assertAlive('gradientSums()');
    const { encoder: enc } = checkCallOptions<{ encoder?: GPUCommandEncoder }>('gradientSums()', encoder, ['encoder']);
    const last = this.checkLast('gradientSums()', dy, true);
    this.run(enc, 'gradient sums', (pass) => last.plan.encodeGradientSums(pass, last.x, dy));
    return this.shared.sums;
  }

  /**
   * Host statistics ({ count, mean, m2 }, float64) from a statistics buffer's
   * STATISTICS_SECTIONS·numFeatures f32, read back: for a transport that carries
   * host records between devices.
   */
  statisticsFromFloats(floats: Float32Array): ShardStatistics {
    return this.parallel.statisticsFromFloats(floats);
  }

  /** Host statistics as the f32 of a statistics buffer (forward({ statistics }) reads them), to upload. */
  statisticsToFloats(statistics: Statistics): Float32Array<ArrayBuffer> {
    return this.parallel.statisticsToFloats(statistics);
  }

  /** Host gradient sums ({ count, sumDy, sumDyXhat }, float64) from a sums buffer's SUM_SECTIONS·numFeatures f32, read back. */
  gradientSumsFromFloats(floats: Float32Array): GradientSums {
    return this.parallel.gradientSumsFromFloats(floats);
  }

  /** Host gradient sums as the f32 of a sums buffer (backward({ sums }) reads them), to upload. */
  gradientSumsToFloats(sums: Sums): Float32Array<ArrayBuffer> {
    return this.parallel.gradientSumsToFloats(sums);
  }

  /** Merges shards' statistics on the host (float64, Chan's formula, in an order that does not depend on arrival). */
  static mergeStatistics(list: readonly Statistics[]): ShardStatistics {
    return mergeStatistics(list);
  }

  /** Adds shards' gradient sums on the host (float64, in an order that does not depend on arrival). */
  static mergeGradientSums(list: readonly Sums[]): GradientSums {
    return mergeGradientSums(list);
  }

  /**
   * Merges statistics buffers already on this device (each in statistics()'s layout,
   * with COPY_SRC usage), in the order given: 1 copy each and 1 dispatch. Returns a
   * buffer of the BatchNorm's, overwritten by the next merge.
   */
  mergeStatisticsBuffers(list: readonly GPUBuffer[], encoder?: GPUCommandEncoder): GPUBuffer {
    this.assertAlive('mergeStatisticsBuffers()');
    return this.parallel.mergeBuffers(list, encoder);
  }

  // ---- state in and out -----------------------------------------------------------

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
    const names = checkStateNames(options);
    const state = this.state.read(await this.readArrays('getState', () => this.state.reads));
    return names === 'torch' ? toTorchNames(state) : (state as BatchNormState<Affine>);
  }

  /**
   * Eval-mode batch norm as a per-feature affine map, for folding into the layer
   * before it at inference: y = x·scale + shift with scale = γ/√(runningVar + eps)
   * and shift = β − runningMean·scale (computed in float64 from the stored f32 values).
   */
  async foldedAffine(): Promise<{ scale: Float32Array; shift: Float32Array }> {
    this.assertAlive('foldedAffine()');
    if (!this.trackRunningStats) fail(`${this.name}: foldedAffine() needs running statistics; with trackRunningStats: false eval uses batch statistics, which no fixed map can fold`);
    return foldAffine(await this.getState(), this.eps);
  }

  /** A new BatchNorm with these options and this state, in eval mode (for an inference model). */
  async copyForInference(): Promise<BatchNorm<Affine>> {
    const s = await this.getState();
    const copy = new BatchNorm<Affine>(this.device, sameOptions(this));
    copy.setState(s);
    copy.training = false;
    return copy;
  }

  /**
   * Sets any of gamma, beta, the running statistics and numBatchesTracked, under our
   * names or PyTorch's state_dict names (weight, bias, running_mean, running_var,
   * num_batches_tracked); all are checked before any is written.
   */
  setState(given: Partial<BatchNormState> | Partial<TorchBatchNormState>): void {
    this.assertAlive('setState()');
    this.writeAll(this.state.writes(given));
  }
}
