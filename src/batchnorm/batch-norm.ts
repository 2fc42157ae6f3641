import { outputUsage } from '../gpu/buffers.js';
import { asFloat16Array, checkArray, checkBoolean, checkCount, checkFloats, checkHalfArray, checkOptionNames, checkOptions, checkPositiveInteger, isFloat16Array } from '../gpu/checks.js';
import { dispatch, recordPass } from '../gpu/dispatch.js';
import { fail, show } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { placementName, type CanonicalView, type FeaturePlacement, type Layout } from './layout.js';
import { defaultTuning, featureStride, type Tuning } from './partition.js';
import { Plan, type ModuleBuffers, type StatisticsMode } from './plan.js';
import { opaqueSums, probeFloatOrder } from './float-order.js';
import { FEATURE_SECTIONS, mergeFields, STATISTICS_SECTIONS, SUM_SECTIONS, stagesOf, type Stages, type TensorStorage } from './stages.js';
import {
  checkRecord,
  GRADIENT_SUM_FIELDS,
  mergeGradientSums,
  mergeStatistics,
  STATISTICS_FIELDS,
  statisticsBytes,
  statisticsFrom,
  sumsBytes,
  sumsFrom,
  type GradientSums,
  type ShardStatistics,
} from './statistics.js';
import { fromTorchNames, TORCH_NAMES, toTorchNames, type TorchBatchNormState } from './torch-names.js';
import type { AffineOnly, ArrayGradients, BackwardOptions, BatchNormActivation, BatchNormOptions, BatchNormState, ForwardOptions, Gradients, TensorArray } from './options.js';
import { checkActivation, checkBatchStatistics, checkCallOptions, checkEps, checkMomentum, checkPlacement, checkShape, checkStorage, checkTensorBuffer } from './validate.js';

/** A host tensor checked for this BatchNorm: its bytes to upload (whole u32s) and how to hand results back. */
interface HostTensor {
  upload: ArrayBufferView<ArrayBuffer>;
  kind: 'float32' | 'uint16' | 'float16';
}

const OPTIONS = ['numFeatures', 'layout', 'axis', 'eps', 'momentum', 'affine', 'trackRunningStats', 'unbiasedRunningVar', 'tuning', 'activation', 'residual', 'storage'] as const;
/** Other libraries' names for these options, for a hint when one is used. */
const ALIASES = { num_features: 'numFeatures', epsilon: 'eps', track_running_stats: 'trackRunningStats' };
const TUNING = ['workgroupSize', 'targetWorkgroups', 'minItemsPerThread', 'contiguousItems', 'serialMergePartials'] as const;
interface LastForward {
  plan: Plan;
  x: GPUBuffer;
  shape: number[];
  batchStatistics: boolean;
  /** normalized with given (global) statistics: its backward may take given sums */
  given: boolean;
}

type Statistics = ShardStatistics<Float32Array | Float64Array>;
type Sums = GradientSums<Float32Array | Float64Array>;

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
  private readonly state: ModuleBuffers;
  private last?: LastForward;
  /** mergeStatisticsBuffers()'s buffers, made on its first call. */
  private mergeState?: { output: GPUBuffer; uniform: GPUBuffer; records: number; scratch?: GPUBuffer; groups?: Map<number, GPUBindGroup> };

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
    this.activation = checkActivation(options.activation === undefined ? 'none' : options.activation);
    this.residual = checkBoolean('residual', options.residual ?? false);
    this.storage = checkStorage(options.storage ?? 'float32');
    this.stages = stagesOf(this.storage, device);
    this.tuning = { ...defaultTuning(device), ...options.tuning };
    void probeFloatOrder(device);
    // 256 threads fit every WebGPU device: it is the least maxComputeWorkgroupSizeX and
    // maxComputeInvocationsPerWorkgroup may be, and their reductions' workgroup memory
    // (5 vec4 on half the threads: 10 KiB at 256) stays within the least maxComputeWorkgroupStorageSize, 16 KiB.
    const wg = this.tuning.workgroupSize;
    if (!Number.isInteger(wg) || wg < 1 || (wg & (wg - 1)) !== 0 || wg > 256) {
      fail(`tuning.workgroupSize must be a power of 2 from 1 to 256, got ${wg}`);
    }
    checkPositiveInteger('tuning.targetWorkgroups', this.tuning.targetWorkgroups);
    checkPositiveInteger('tuning.minItemsPerThread', this.tuning.minItemsPerThread);
    checkBoolean('tuning.contiguousItems', this.tuning.contiguousItems);
    checkCount('tuning.serialMergePartials', this.tuning.serialMergePartials);

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
      statistics: make('statistics', STATISTICS_SECTIONS * c * 4, STORAGE),
      sums: make('gradient sums', SUM_SECTIONS * c * 4, STORAGE),
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

  /**
   * The running mean and variance as GPU buffers of numFeatures f32 (the ones every
   * training forward updates and eval normalizes with), for code that keeps them in
   * sync with another framework's variables on the GPU; null without trackRunningStats.
   */
  get runningStatistics(): { runningMean: GPUBuffer; runningVar: GPUBuffer } | null {
    this.assertAlive('runningStatistics');
    return this.trackRunningStats ? { runningMean: this.state.runningMean, runningVar: this.state.runningVar } : null;
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
    return [this.state.gradGamma, this.state.gradBeta, this.state.statistics, this.state.sums, this.mergeState?.output];
  }

  // A plan holds 6 buffers (uniforms, partials, y, dx, uploads): with the 9 shared
  // buffers and 4 kept readbacks, the PLANS_KEPT plans make at most 61 live buffers.
  protected override pinned() {
    return [this.last?.plan];
  }

  /** Normalizes with batch statistics (updating the running ones) in training, running statistics in eval. */
  private statisticsMode(): StatisticsMode {
    if (!this.trackRunningStats) return 'batch';
    return this.training ? 'batch-and-running' : 'running';
  }

  /** A shape for this BatchNorm, and the statistics its forward uses; given (global) statistics may cover a shard of one row. */
  private checkInput(shape: unknown, given = false): { view: CanonicalView; shape: number[]; mode: StatisticsMode } {
    const view = checkShape(shape, this.placement, this.numFeatures, this.device.limits, this.elementBytes);
    const mode = this.statisticsMode();
    if (mode !== 'running' && !given) checkBatchStatistics(shape as number[], view);
    return { view, shape: [...(shape as number[])], mode };
  }

  private plan(shape: number[], view: CanonicalView): Plan {
    return this.planFor(shape, (label) => new Plan(this.device, this.pipelines, view, label, this.tuning,
      { eps: this.eps, momentum: this.momentum, unbiasedRunningVar: this.unbiasedRunningVar, relu: this.activation === 'relu', residual: this.residual, storage: this.storage, stages: this.stages },
      this.state));
  }

  /** Bytes of one tensor element in this storage. */
  private get elementBytes(): 4 | 2 {
    return this.storage === 'float16' ? 2 : 4;
  }

  /** A host tensor of n elements in this storage (Float32Array; or float16 bits, padded to whole u32s to upload). */
  private hostTensor(name: string, data: unknown, n: number): HostTensor {
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
  private words(n: number): number {
    return this.storage === 'float16' ? Math.ceil(n / 2) : n;
  }

  /** A tensor read back as `words(n)` words, as the kind the caller gave. */
  private tensorOut(words: Float32Array, n: number, kind: HostTensor['kind']): TensorArray {
    if (kind === 'float32') return words;
    const bits = new Uint16Array(words.buffer, words.byteOffset, n).slice();
    return (kind === 'float16' ? asFloat16Array(bits) : bits) as TensorArray;
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
    if (statistics !== undefined) this.checkGivenBuffer('statistics', statistics, STATISTICS_SECTIONS, [], input.mode);
    const plan = this.plan(input.shape, input.view);
    this.run(encoder, 'forward', (pass) => plan.encodeForward(pass, x, input.mode, statistics, residual));
    this.last = { plan, x, shape: input.shape, batchStatistics: input.mode !== 'running', given: statistics !== undefined };
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
    if (sums !== undefined) this.checkGivenBuffer('sums', sums, SUM_SECTIONS, [this.state.gradGamma, this.state.gradBeta]);
    this.run(encoder, 'backward', (pass) => last.plan.encodeBackward(pass, last.x, dy, last.batchStatistics, sums));
    return {
      dx: last.plan.dx,
      dgamma: this.affine ? this.state.gradGamma : null,
      dbeta: this.affine ? this.state.gradBeta : null,
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
    if (needsGiven) this.checkSumsFollowStatistics(call, last);
    return last;
  }

  /** Gradient sums are taken with the global statistics that a forward with statistics normalized with. */
  private checkSumsFollowStatistics(call: string, last: LastForward): void {
    if (!last.given) fail(`${call}: gradient sums need a forward with statistics first (they are taken with the global statistics it normalized with)`);
  }

  /** Given statistics stand for a batch's own: training, or no running statistics. */
  private checkStatisticsMode(call: string, mode: StatisticsMode | undefined): void {
    if (mode === 'running') fail(`${call}: statistics are batch statistics, for training (or trackRunningStats: false); this BatchNorm is in eval mode`);
  }

  /**
   * A buffer of split statistics or sums: `sections` sections of numFeatures f32, and
   * not one the same dispatch writes (any other, this BatchNorm's own statistics() or
   * gradientSums() output included, may be read).
   */
  private checkGivenBuffer(name: string, buffer: GPUBuffer, sections: number, written: GPUBuffer[], mode?: StatisticsMode): void {
    this.checkStatisticsMode('forward()', mode);
    checkFloats(name, buffer, sections * this.numFeatures);
    if (written.includes(buffer)) fail(`${this.name}: ${name} is a buffer this call writes; copy it first`);
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
    const data = this.hostTensor('x', x, input.view.size);
    const z = residual === undefined ? undefined : this.hostTensor('residual', residual, input.view.size);
    const given = statistics === undefined ? undefined : this.checkStatistics(statistics, input.mode);
    const previous = this.last;
    // a forward that failed on the GPU never ran: it is not the last forward
    return this.guarded('forwardArray()', async () => {
      const plan = this.plan(input.shape, input.view);
      const upload = plan.owned.upload('x', data.upload);
      const encoder = this.encoder('forwardArray');
      const y = this.forward(upload, input.shape, {
        encoder,
        statistics: given && this.buffers.upload('statistics', given),
        residual: z && plan.owned.upload('residual', z.upload),
      });
      const [out] = await this.readBack(encoder, [{ buffer: y, floats: this.words(input.view.size) }]);
      return this.tensorOut(out, input.view.size, data.kind);
    }, () => (this.last = previous));
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
    const data = this.hostTensor('dy', dy, n);
    if (sums !== undefined) this.checkSumsFollowStatistics('backwardArray()', last);
    const given = sums === undefined ? undefined : sumsBytes(checkRecord<Sums>('backwardArray() sums', sums, this.numFeatures, GRADIENT_SUM_FIELDS), this.numFeatures);
    return this.guarded('backwardArray()', async () => {
      const upload = last.plan.owned.upload('dy', data.upload);
      const encoder = this.encoder('backwardArray');
      const g = this.backward(upload, { encoder, sums: given && this.buffers.upload('sums', given) });
      const c = this.numFeatures;
      const masked = this.residual && this.activation === 'relu';
      const [dx, dgamma, dbeta, dresidual] = await this.readBack(encoder, [
        { buffer: g.dx, floats: this.words(n) },
        { buffer: this.state.gradGamma, floats: c },
        { buffer: this.state.gradBeta, floats: c },
        ...(masked ? [{ buffer: g.dresidual!, floats: this.words(n) }] : []),
      ]);
      const copy = () => (data.kind === 'float32' ? Float32Array.from(dy as Float32Array) : this.tensorOut(new Float32Array(data.upload.buffer.slice(0)), n, data.kind));
      return {
        dx: this.tensorOut(dx, n, data.kind),
        dgamma: this.affine ? dgamma : null,
        dbeta: this.affine ? dbeta : null,
        dresidual: masked ? this.tensorOut(dresidual, n, data.kind) : this.residual ? copy() : null,
      } as ArrayGradients<TensorArray, Affine>;
    });
  }

  /** Host statistics for a forward: C features, and in training more than one value per feature overall. */
  private checkStatistics(statistics: Statistics, mode: StatisticsMode): Float32Array<ArrayBuffer> {
    this.checkStatisticsMode('forwardArray()', mode);
    const record = checkRecord<Statistics>('forwardArray() statistics', statistics, this.numFeatures, STATISTICS_FIELDS);
    const few = record.count.findIndex((n) => n < 2);
    if (few >= 0) fail(`Expected more than 1 value per channel when training, got statistics with count ${record.count[few]} for feature ${few}`);
    return statisticsBytes(record, this.numFeatures);
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
    const view = checkShape(shape, this.placement, this.numFeatures, this.device.limits, this.elementBytes);
    checkTensorBuffer('x', x, view, this.elementBytes);
    const plan = this.plan([...shape], view);
    this.run(enc, 'statistics', (pass) => plan.encodeStatistics(pass, x));
    return this.state.statistics;
  }

  /** statistics() on a typed array: { count, mean, m2 } per feature, in float64. */
  async statisticsArray(x: TensorArray, shape: readonly number[]): Promise<ShardStatistics> {
    this.assertAlive('statisticsArray()');
    const view = checkShape(shape, this.placement, this.numFeatures, this.device.limits, this.elementBytes);
    const data = this.hostTensor('x', x, view.size).upload;
    const floats = await this.guarded('statisticsArray()', async () => {
      const plan = this.plan([...shape], view);
      const encoder = this.encoder('statisticsArray');
      const out = this.statistics(plan.owned.upload('x', data), shape, encoder);
      const [read] = await this.readBack(encoder, [{ buffer: out, floats: STATISTICS_SECTIONS * this.numFeatures }]);
      return read;
    });
    return statisticsFrom(floats, this.numFeatures);
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
    return this.state.sums;
  }

  /** gradientSums() on a typed array: { count, sumDy, sumDyXhat } per feature, in float64. */
  async gradientSumsArray(dy: TensorArray): Promise<GradientSums> {
    this.assertAlive('gradientSumsArray()');
    const last = this.last ?? fail('gradientSumsArray() called before any forward()');
    const data = this.hostTensor('dy', dy, last.plan.view.size).upload;
    const floats = await this.guarded('gradientSumsArray()', async () => {
      const encoder = this.encoder('gradientSumsArray');
      const out = this.gradientSums(last.plan.owned.upload('dy', data), encoder);
      const [read] = await this.readBack(encoder, [{ buffer: out, floats: SUM_SECTIONS * this.numFeatures }]);
      return read;
    });
    return sumsFrom(floats, this.numFeatures);
  }

  /**
   * Host statistics ({ count, mean, m2 }, float64) from a statistics buffer's
   * STATISTICS_SECTIONS·numFeatures f32, read back: for a transport that carries
   * host records between devices.
   */
  statisticsFromFloats(floats: Float32Array): ShardStatistics {
    return statisticsFrom(checkArray('statisticsFromFloats() floats', floats, STATISTICS_SECTIONS * this.numFeatures), this.numFeatures);
  }

  /** Host statistics as the f32 of a statistics buffer (forward({ statistics }) reads them), to upload. */
  statisticsToFloats(statistics: Statistics): Float32Array<ArrayBuffer> {
    return statisticsBytes(checkRecord<Statistics>('statisticsToFloats()', statistics, this.numFeatures, STATISTICS_FIELDS), this.numFeatures);
  }

  /** Host gradient sums ({ count, sumDy, sumDyXhat }, float64) from a sums buffer's SUM_SECTIONS·numFeatures f32, read back. */
  gradientSumsFromFloats(floats: Float32Array): GradientSums {
    return sumsFrom(checkArray('gradientSumsFromFloats() floats', floats, SUM_SECTIONS * this.numFeatures), this.numFeatures);
  }

  /** Host gradient sums as the f32 of a sums buffer (backward({ sums }) reads them), to upload. */
  gradientSumsToFloats(sums: Sums): Float32Array<ArrayBuffer> {
    return sumsBytes(checkRecord<Sums>('gradientSumsToFloats()', sums, this.numFeatures, GRADIENT_SUM_FIELDS), this.numFeatures);
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
    const { encoder: enc } = checkCallOptions<{ encoder?: GPUCommandEncoder }>('mergeStatisticsBuffers()', encoder, ['encoder']);
    if (!Array.isArray(list) || list.length === 0) fail(`mergeStatisticsBuffers() takes a non-empty array of GPUBuffers, got ${show(list)}`);
    const floats = STATISTICS_SECTIONS * this.numFeatures;
    list.forEach((b, i) => {
      checkFloats(`statistics buffer ${i}`, b, floats);
      if (!(b.usage & GPUBufferUsage.COPY_SRC)) fail(`statistics buffer ${i} needs GPUBufferUsage.COPY_SRC to be merged (its usage is ${b.usage})`);
    });
    const { scratch, group } = this.mergeScratch(list.length);
    const own = enc ?? this.encoder('mergeStatisticsBuffers');
    list.forEach((b, i) => own.copyBufferToBuffer(b, 0, scratch, i * floats * 4, floats * 4));
    const pipeline = this.pipelines.pipeline(this.stages.merge, 'merge_shards', { WG_SIZE: this.tuning.workgroupSize, OPAQUE_SUMS: opaqueSums(this.device) });
    recordPass(this.device, own, `${this.name} merge statistics`, (pass) =>
      dispatch(this.device, pass, pipeline, group, Math.ceil(this.numFeatures / this.tuning.workgroupSize)),
    );
    if (!enc) this.device.queue.submit([own.finish()]);
    return this.merged.output;
  }

  /** The merge's output, uniform, and a scratch buffer for `records` records with its bind group (grown as needed). */
  private get merged() {
    const floats = STATISTICS_SECTIONS * this.numFeatures;
    this.mergeState ??= {
      output: this.buffers.create('merged statistics', floats * 4, outputUsage()),
      uniform: this.buffers.uniform('merge params', mergeFields, { features: this.numFeatures, zeroBits: 0 }),
      records: 0,
    };
    return this.mergeState;
  }

  private mergeScratch(records: number): { scratch: GPUBuffer; group: GPUBindGroup } {
    const m = this.merged;
    const bytes = records * STATISTICS_SECTIONS * this.numFeatures * 4;
    if (!m.scratch || m.records < records) {
      if (m.scratch) this.buffers.release(m.scratch);
      m.scratch = this.buffers.create('statistics to merge', bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      m.records = records;
      m.groups = new Map();
    }
    let group = m.groups!.get(records);
    if (!group) {
      group = this.pipelines.bindGroup(this.stages.merge, `${this.name} merge ${records}`, {
        params: { buffer: m.uniform }, shards: { buffer: m.scratch, size: bytes }, merged: { buffer: m.output },
      });
      m.groups!.set(records, group);
    }
    return { scratch: m.scratch, group };
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
   * Eval-mode batch norm as a per-feature affine map, for folding into the layer
   * before it at inference: y = x·scale + shift with scale = γ/√(runningVar + eps)
   * and shift = β − runningMean·scale (computed in float64 from the stored f32 values).
   */
  async foldedAffine(): Promise<{ scale: Float32Array; shift: Float32Array }> {
    this.assertAlive('foldedAffine()');
    if (!this.trackRunningStats) fail(`${this.name}: foldedAffine() needs running statistics; with trackRunningStats: false eval uses batch statistics, which no fixed map can fold`);
    const s = await this.getState();
    const c = this.numFeatures;
    const scale = new Float32Array(c);
    const shift = new Float32Array(c);
    for (let f = 0; f < c; f++) {
      const g = s.gamma ? s.gamma[f] : 1;
      const k = g / Math.sqrt(s.runningVar![f] + this.eps);
      scale[f] = k;
      shift[f] = (s.beta ? s.beta[f] : 0) - s.runningMean![f] * k;
    }
    return { scale, shift };
  }

  /** A new BatchNorm with these options and this state, in eval mode (for an inference model). */
  async copyForInference(): Promise<BatchNorm<Affine>> {
    const s = await this.getState();
    const { numFeatures, eps, momentum, affine, trackRunningStats, unbiasedRunningVar, tuning, activation, residual, storage } = this;
    const copy = new BatchNorm<Affine>(this.device, { numFeatures, ...(this.layout ? { layout: this.layout } : { axis: this.axis! }), eps, momentum, affine, trackRunningStats, unbiasedRunningVar, tuning, activation, residual, storage });
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
    this.mergeState = undefined;
  }
}
