// A fully connected layer, y = x · Wᵀ (+ b), as PyTorch's nn.Linear: W is
// [outFeatures, inFeatures], x is [batch, inFeatures], all row-major f32 on the GPU.
// Forward and both backward products run through one tiled matrix-multiply kernel
// (shaders/nn/matmul.wgsl) specialised by override constants.
import { isCpuAdapter, simpleWorkgroupSize } from '../gpu/adapter.js';
import { outputUsage, OwnedBuffers } from '../gpu/buffers.js';
import { KeyedCache } from '../gpu/cache.js';
import { checkArray, checkBoolean, checkFloats, checkNumber, checkOptionNames, checkOptions, checkPositiveInteger } from '../gpu/checks.js';
import { dispatch, recordPass } from '../gpu/dispatch.js';
import { fail, show } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { randomSeed, uniform } from './random.js';
import { nnStages, uniforms } from './stages.js';
import { checkRows } from './validate.js';

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** A learnable bias b. Default true, as in PyTorch; false before a BatchNorm, whose β takes its place. */
  bias?: boolean;
  /** Seed of the initial weights, uniform in ±1/√inFeatures as in PyTorch. Default: a random seed. */
  seed?: number;
  /** Matrix-multiply workgroups: side² threads, each computing 4 x 4 outputs; depth: the K-slab held in workgroup memory. */
  tuning?: Partial<MatmulTuning>;
}

export interface LinearGradients<T> {
  /** null when backward() was asked not to compute it */
  dx: T | null;
  dweight: T;
  /** null without bias */
  dbias: T | null;
}

export interface LinearWeights {
  weight: Float32Array;
  bias: Float32Array | null;
}

export interface MatmulTuning {
  side: number;
  depth: number;
}

/** CPU adapters (SwiftShader) do best with few threads and deep slabs; GPUs with 256 threads. Both use 8 KiB of workgroup memory. */
export const MATMUL_CPU_TUNING: MatmulTuning = { side: 8, depth: 32 };
export const MATMUL_GPU_TUNING: MatmulTuning = { side: 16, depth: 16 };

const OPTIONS = ['inFeatures', 'outFeatures', 'bias', 'seed', 'tuning'] as const;

function checkTuning(device: GPUDevice, tuning: MatmulTuning): MatmulTuning {
  const { side, depth } = tuning;
  const maxSide = Math.floor(Math.sqrt(device.limits.maxComputeInvocationsPerWorkgroup));
  if (!Number.isInteger(side) || side < 1 || side > maxSide) fail(`tuning.side must be an integer in [1, ${maxSide}] (side² threads per workgroup), got ${side}`);
  checkPositiveInteger('tuning.depth', depth);
  const bytes = 2 * depth * side * 16; // two slabs of depth x side vec4
  if (bytes > device.limits.maxComputeWorkgroupStorageSize) {
    fail(`tuning ${JSON.stringify(tuning)} needs ${bytes} bytes of workgroup memory, more than this device's maxComputeWorkgroupStorageSize of ${device.limits.maxComputeWorkgroupStorageSize}`);
  }
  return { side, depth };
}

/** Uniforms, outputs and bind groups for one batch size; its buffers are its own. */
class LinearPlan {
  readonly y: GPUBuffer;
  readonly uniforms: { forward: GPUBuffer; weightGrad: GPUBuffer; inputGrad: GPUBuffer; biasGrad: GPUBuffer };
  readonly groups = { forward: new KeyedCache<GPUBindGroup>(), weightGrad: new KeyedCache<GPUBindGroup>(), inputGrad: new KeyedCache<GPUBindGroup>(), biasGrad: new KeyedCache<GPUBindGroup>() };
  readonly blocks: { forward: number; weightGrad: number; inputGrad: number };
  private readonly owned: OwnedBuffers;
  private dxBuffer?: GPUBuffer;

  constructor(
    device: GPUDevice,
    label: string,
    readonly batch: number,
    private readonly inFeatures: number,
    outFeatures: number,
    side: number,
  ) {
    const block = 4 * side; // rows and columns of C per workgroup
    const product = (m: number, n: number, k: number) => {
      const blocksN = Math.ceil(n / block);
      return { m, n, k, blocksN, blocks: blocksN * Math.ceil(m / block) };
    };
    const forward = product(batch, outFeatures, inFeatures);
    const weightGrad = product(outFeatures, inFeatures, batch);
    const inputGrad = product(batch, inFeatures, outFeatures);
    const owned = (this.owned = new OwnedBuffers(device, label));
    this.uniforms = {
      forward: owned.uniform('forward params', uniforms.matmul, forward),
      weightGrad: owned.uniform('dweight params', uniforms.matmul, weightGrad),
      inputGrad: owned.uniform('dx params', uniforms.matmul, inputGrad),
      biasGrad: owned.uniform('dbias params', uniforms.biasGrad, { rows: batch, cols: outFeatures }),
    };
    this.blocks = { forward: forward.blocks, weightGrad: weightGrad.blocks, inputGrad: inputGrad.blocks };
    this.y = owned.tensor('y', batch * outFeatures);
  }

  /** The dx output, created with the first backward that asks for it. */
  get dx(): GPUBuffer {
    this.dxBuffer ??= this.owned.tensor('dx', this.batch * this.inFeatures);
    return this.dxBuffer;
  }

  writes(buffer: GPUBuffer): boolean {
    return buffer === this.y || buffer === this.dxBuffer;
  }

  destroy(): void {
    this.owned.destroy();
  }
}

/** y = x · Wᵀ (+ b) over a batch of rows, with backward for dW, db and dx. */
export class Linear extends GpuModule<LinearPlan> {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
  readonly tuning: MatmulTuning;
  /** No effect on a linear layer; kept so that every layer can be switched by a model's train() and eval(). */
  training = true;

  private readonly weight: GPUBuffer;
  private readonly biasBuffer: GPUBuffer | null;
  private readonly dweight: GPUBuffer;
  private readonly dbias: GPUBuffer | null;
  private readonly workgroupSize: number;
  private last?: { plan: LinearPlan; x: GPUBuffer };

  constructor(device: GPUDevice, options: LinearOptions) {
    checkOptions('Linear', options, OPTIONS, { in_features: 'inFeatures', out_features: 'outFeatures', units: 'outFeatures' });
    const inFeatures = checkPositiveInteger('inFeatures', options.inFeatures);
    const outFeatures = checkPositiveInteger('outFeatures', options.outFeatures);
    const bias = checkBoolean('bias', options.bias ?? true);
    super(device, `linear[${inFeatures}→${outFeatures}${bias ? '' : ', no bias'}]`);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.bias = bias;
    const seed = options.seed ?? randomSeed();
    checkNumber('seed', seed, 0, 0xffffffff);
    this.tuning = checkTuning(device, { ...(isCpuAdapter(device.adapterInfo) ? MATMUL_CPU_TUNING : MATMUL_GPU_TUNING), ...options.tuning });
    this.workgroupSize = simpleWorkgroupSize(device);

    const { inFeatures: n, outFeatures: m } = this;
    const bound = 1 / Math.sqrt(n);
    const PARAMETER = outputUsage();
    this.weight = this.buffers.create('weight', m * n * 4, PARAMETER, uniform(m * n, seed, -bound, bound));
    this.biasBuffer = this.bias ? this.buffers.create('bias', m * 4, PARAMETER, uniform(m, seed + 1, -bound, bound)) : null;
    this.dweight = this.buffers.create('dweight', m * n * 4, PARAMETER);
    this.dbias = this.bias ? this.buffers.create('dbias', m * 4, PARAMETER) : null;
  }

  /** The weight [outFeatures, inFeatures] and bias [outFeatures] as GPU buffers, for an optimizer to update in place. */
  get parameters(): { weight: GPUBuffer; bias: GPUBuffer | null } {
    this.assertAlive('parameters');
    return { weight: this.weight, bias: this.biasBuffer };
  }

  /** Features in and out of the rows [batch, features] it takes and gives. */
  get features(): { in: number; out: number } {
    return { in: this.inFeatures, out: this.outFeatures };
  }

  /** weight and bias with their sizes, for a model to hand to an optimizer. */
  parameterList(): { name: string; value: GPUBuffer; size: number }[] {
    const p = this.parameters;
    const list = [{ name: 'weight', value: p.weight, size: this.outFeatures * this.inFeatures }];
    return p.bias ? [...list, { name: 'bias', value: p.bias, size: this.outFeatures }] : list;
  }

  private plan(batch: number): LinearPlan {
    return this.planFor([batch], (label) => new LinearPlan(this.device, label, batch, this.inFeatures, this.outFeatures, this.tuning.side));
  }

  private matmul(transA: boolean, transB: boolean, bias: boolean): GPUComputePipeline {
    return this.pipelines.pipeline(nnStages.matmul, 'main', { SIDE: this.tuning.side, TILE_K: this.tuning.depth, TRANS_A: transA, TRANS_B: transB, BIAS: bias });
  }

  protected override sharedOutputs() {
    return [this.dweight, this.dbias];
  }

  /**
   * y = x · Wᵀ (+ b) for x of shape [batch, inFeatures]: a GPU buffer of f32 with
   * STORAGE usage. Recorded into `encoder` when given (the caller submits), else
   * submitted at once. x must stay unchanged until backward() if one follows.
   */
  forward(x: GPUBuffer, shape: readonly number[], encoder?: GPUCommandEncoder): GPUBuffer {
    this.assertAlive('forward()');
    const batch = checkRows(shape, this.inFeatures, this.name, this.device.limits, Math.max(this.inFeatures, this.outFeatures));
    checkFloats('x', x, batch * this.inFeatures);
    this.checkNotOutput('x', x, 'layer');
    const plan = this.plan(batch);
    const group = plan.groups.forward.get([x], () =>
      this.pipelines.bindGroup(nnStages.matmul, `${this.name} [${batch}] forward`, {
        params: { buffer: plan.uniforms.forward },
        a: { buffer: x },
        b: { buffer: this.weight },
        bias: { buffer: this.biasBuffer ?? this.weight }, // read only with BIAS
        c: { buffer: plan.y },
      }),
    );
    recordPass(this.device, encoder, `${this.name} forward`, (pass) =>
      dispatch(this.device, pass, this.matmul(false, true, this.bias), group, plan.blocks.forward),
    );
    this.last = { plan, x };
    return plan.y;
  }

  /**
   * Gradients for the last forward(), given dy [batch, outFeatures]: dW = dyᵀ · x,
   * db = Σ_rows dy, and dx = dy · W unless `inputGradient` is false (a first layer
   * needs no dx). Each call overwrites the previous gradients.
   */
  backward(dy: GPUBuffer, encoder?: GPUCommandEncoder, options: { inputGradient?: boolean } = {}): LinearGradients<GPUBuffer> {
    this.assertAlive('backward()');
    const last = this.last ?? fail(`${this.name}: backward() called before any forward()`);
    const inputGradient = checkBoolean('inputGradient', options.inputGradient ?? true);
    const { plan, x } = last;
    checkFloats('dy', dy, plan.batch * this.outFeatures);
    this.checkNotOutput('dy', dy, 'layer');
    const label = `${this.name} [${plan.batch}]`;
    const weightGroup = plan.groups.weightGrad.get([dy, x], () =>
      this.pipelines.bindGroup(nnStages.matmul, `${label} dweight`, {
        params: { buffer: plan.uniforms.weightGrad }, a: { buffer: dy }, b: { buffer: x }, bias: { buffer: this.weight }, c: { buffer: this.dweight },
      }),
    );
    const inputGroup = inputGradient
      ? plan.groups.inputGrad.get([dy], () =>
          this.pipelines.bindGroup(nnStages.matmul, `${label} dx`, {
            params: { buffer: plan.uniforms.inputGrad }, a: { buffer: dy }, b: { buffer: this.weight }, bias: { buffer: this.weight }, c: { buffer: plan.dx },
          }),
        )
      : null;
    const biasGroup = this.dbias
      ? plan.groups.biasGrad.get([dy], () =>
          this.pipelines.bindGroup(nnStages.biasGrad, `${label} dbias`, {
            params: { buffer: plan.uniforms.biasGrad }, dy: { buffer: dy }, db: { buffer: this.dbias! },
          }),
        )
      : null;
    recordPass(this.device, encoder, `${this.name} backward`, (pass) => {
      dispatch(this.device, pass, this.matmul(true, false, false), weightGroup, plan.blocks.weightGrad);
      if (biasGroup) {
        const pipeline = this.pipelines.pipeline(nnStages.biasGrad, 'main', { WG_SIZE: this.workgroupSize });
        dispatch(this.device, pass, pipeline, biasGroup, Math.ceil(this.outFeatures / this.workgroupSize));
      }
      if (inputGroup) dispatch(this.device, pass, this.matmul(false, false, false), inputGroup, plan.blocks.inputGrad);
    });
    return { dx: inputGradient ? plan.dx : null, dweight: this.dweight, dbias: this.dbias };
  }

  /** forward() on a typed array: uploads x, runs, and reads y back. */
  async forwardArray(x: Float32Array, shape: readonly number[]): Promise<Float32Array> {
    this.assertAlive('forwardArray()');
    const batch = checkRows(shape, this.inFeatures, this.name, this.device.limits, Math.max(this.inFeatures, this.outFeatures));
    const upload = this.buffers.upload('x', checkArray('x', x, batch * this.inFeatures));
    const encoder = this.encoder('forwardArray');
    const y = this.forward(upload, shape, encoder);
    const [out] = await this.readBack(encoder, [{ buffer: y, floats: batch * this.outFeatures }]);
    return out;
  }

  /** backward() on a typed array, for the last forward() or forwardArray(). */
  async backwardArray(dy: Float32Array): Promise<LinearGradients<Float32Array>> {
    this.assertAlive('backwardArray()');
    const { batch } = (this.last ?? fail(`${this.name}: backwardArray() called before any forward()`)).plan;
    const upload = this.buffers.upload('dy', checkArray('dy', dy, batch * this.outFeatures));
    const encoder = this.encoder('backwardArray');
    const g = this.backward(upload, encoder);
    const { inFeatures: n, outFeatures: m } = this;
    const parts = [{ buffer: g.dx!, floats: batch * n }, { buffer: g.dweight, floats: m * n }, ...(g.dbias ? [{ buffer: g.dbias, floats: m }] : [])];
    const [dx, dweight, dbias] = await this.readBack(encoder, parts);
    return { dx, dweight, dbias: dbias ?? null };
  }

  /**
   * A new Linear computing this layer followed by an eval-mode BatchNorm over its
   * outputs, for inference: W' = diag(scale)·W and b' = scale·b + shift, with the
   * BatchNorm's foldedAffine(). It has a bias; this layer and the BatchNorm are left as they are.
   */
  async foldBatchNorm(bn: { numFeatures: number; foldedAffine(): Promise<{ scale: Float32Array; shift: Float32Array }> }): Promise<Linear> {
    this.assertAlive('foldBatchNorm()');
    if (bn?.numFeatures !== this.outFeatures) fail(`${this.name}: foldBatchNorm() needs a BatchNorm of ${this.outFeatures} features, got ${show(bn?.numFeatures)}`);
    return this.foldAffine(await bn.foldedAffine());
  }

  /** A new Linear computing this one followed by y·scale + shift per output feature. */
  async foldAffine({ scale, shift }: { scale: Float32Array; shift: Float32Array }): Promise<Linear> {
    this.assertAlive('foldAffine()');
    const m = this.outFeatures;
    if (scale?.length !== m || shift?.length !== m) fail(`${this.name}: foldAffine() needs scale and shift of ${m} values, got ${show(scale)} and ${show(shift)}`);
    const { weight, bias } = await this.getWeights();
    const n = this.inFeatures;
    const folded = new Linear(this.device, { inFeatures: n, outFeatures: this.outFeatures, bias: true, seed: 0, tuning: this.tuning });
    const w = weight.map((v, i) => v * scale[Math.floor(i / n)]);
    const b = shift.map((t, o) => (bias ? bias[o] : 0) * scale[o] + t);
    folded.setWeights({ weight: w, bias: b });
    return folded;
  }

  async copyForInference(): Promise<Linear> {
    const { weight, bias } = await this.getWeights();
    const copy = new Linear(this.device, { inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias, seed: 0, tuning: this.tuning });
    copy.setWeights(bias ? { weight, bias } : { weight });
    return copy;
  }

  /** Reads the weight and bias back. */
  async getWeights(): Promise<LinearWeights> {
    this.assertAlive('getWeights()');
    const parts = [{ buffer: this.weight, floats: this.outFeatures * this.inFeatures }, ...(this.biasBuffer ? [{ buffer: this.biasBuffer, floats: this.outFeatures }] : [])];
    const [weight, bias] = await this.readBack(this.encoder('getWeights'), parts);
    return { weight, bias: bias ?? null };
  }

  /** Sets the weight [outFeatures · inFeatures] and/or the bias [outFeatures]; both are checked before either is written. */
  setWeights(weights: Partial<LinearWeights>): void {
    this.assertAlive('setWeights()');
    if (!weights || typeof weights !== 'object') fail(`setWeights() takes an object with weight and/or bias, got ${show(weights)}`);
    checkOptionNames('setWeights()', weights, ['weight', 'bias']);
    const writes: [GPUBuffer, Float32Array<ArrayBuffer>][] = [];
    if (weights.weight != null) writes.push([this.weight, checkArray('weight', weights.weight, this.outFeatures * this.inFeatures)]);
    if (weights.bias != null) {
      const bias = this.biasBuffer ?? fail(`setWeights(): ${this.name} has no bias`);
      writes.push([bias, checkArray('bias', weights.bias, this.outFeatures)]);
    }
    this.writeAll(writes);
  }

  protected override released(): void {
    this.last = undefined;
  }
}
