// tf.batchNorm (tfjs-core's kernel 'FusedBatchNorm') on our eval kernels, on the
// webgpu backend: the inference op graph models and hand-written code use.
//
// tf.batchNorm(x, mean, variance, offset?, scale?, eps) reshapes x to 4D (rank 0–3
// to [1, 1, 1, n], [1, 1, a, b], [1, a, b, c]; rank ≥ 4 as it is) and runs the
// kernel with the parameters as the caller gave them: y = (x − mean)·scale/√(var +
// eps) + offset, each parameter broadcast against x. The op has no axis: the
// parameters' shapes say which dimensions they vary along. We take the common case,
// every parameter of shape [C] with C the last dimension of x (the feature axis is
// the last one): our BatchNorm in eval mode
// (axis −1, viewed as [n/C, C]), its running statistics, gamma and beta filled from
// the parameters' buffers by copyBufferToBuffer in TF.js's encoder (recordForward,
// shared with the layers), y copied into a new tensor from TF.js's pool. A missing
// scale or offset is our BatchNorm's own 1 or 0: one kernel per combination.
// Everything else (parameters of x's rank or size 1, another dtype, eps < 0, an
// empty x, WEBGPU_ENGINE_COMPILE_ONLY) runs the stock kernel. The gradient is
// tfjs-core's, from the saved inputs, whichever kernel ran.
import { BatchNorm } from '../batchnorm/index.js';
import { asWebGPUBackend, infoFromBuffer, recordingEncoder, type WebGPUBackendLike } from './backend.js';
import { recordForward, showValue, type KernelCache, type Tensor } from './layer.js';

/** A tensor as a kernel receives it (no `size`). */
interface TensorInfoLike {
  dataId: object;
  shape: number[];
  dtype: string;
}

export interface KernelArgs {
  inputs: Record<string, TensorInfoLike | null | undefined>;
  attrs?: Record<string, unknown>;
  backend: unknown;
}

export interface KernelConfigLike {
  kernelName: string;
  backendName: string;
  kernelFunc: (args: KernelArgs) => unknown;
  setupFunc?: unknown;
  disposeFunc?: unknown;
}

/** The tfjs-core registry functions this needs. */
export interface KernelRegistryLike {
  getKernel(kernelName: string, backendName: string): KernelConfigLike | undefined;
  registerKernel(config: KernelConfigLike): void;
  unregisterKernel(kernelName: string, backendName: string): void;
  env?(): { getBool(flag: string): boolean };
}

export const FUSED_BATCH_NORM = 'FusedBatchNorm';
const BACKEND = 'webgpu';
/** Kernels kept for tf.batchNorm (each holds a y buffer as large as its input): the least recently used goes first. */
const MAX_OP_KERNELS = 16;

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const withSize = (t: TensorInfoLike): Tensor => ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype, size: product(t.shape) });

export type OpPlan = { ok: true; c: number; eps: number } | { ok: false; reason: string };

/** Whether a FusedBatchNorm call runs on our kernel, or why it goes to the stock one. */
export function planOp(args: KernelArgs, backend: WebGPUBackendLike, core: KernelRegistryLike): OpPlan {
  if (core.env?.().getBool('WEBGPU_ENGINE_COMPILE_ONLY')) return { ok: false, reason: 'WEBGPU_ENGINE_COMPILE_ONLY is set' };
  const { x, mean, variance, scale, offset } = args.inputs;
  if (!x || !mean || !variance) return { ok: false, reason: 'missing input' };
  const eps = args.attrs?.varianceEpsilon;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) return { ok: false, reason: `varianceEpsilon ${showValue(eps)}` };
  const c = x.shape.at(-1) ?? 0;
  const n = product(x.shape);
  if (c === 0 || n === 0) return { ok: false, reason: 'empty input' };
  for (const [name, t] of [['x', x], ['mean', mean], ['variance', variance], ['scale', scale], ['offset', offset]] as const) {
    if (!t) continue;
    if (t.dtype !== 'float32') return { ok: false, reason: `${name} of dtype ${t.dtype}` };
    if (name !== 'x' && (t.shape.length !== 1 || t.shape[0] !== c)) {
      return { ok: false, reason: `${name} of shape ${showValue(t.shape)} (only [C], features on x's last axis: C = ${c})` };
    }
  }
  if (n * 4 > backend.device.limits.maxStorageBufferBindingSize) return { ok: false, reason: 'input larger than maxStorageBufferBindingSize' };
  return { ok: true, c, eps };
}

export interface OpStats {
  /** tf.batchNorm calls computed by our kernels. */
  ops: number;
  /** tf.batchNorm calls on the webgpu backend handed to the stock kernel. */
  opFallback: number;
  /** Why the last one was. */
  lastOpFallback: string | null;
}

/**
 * Our FusedBatchNorm kernel for the webgpu backend, replacing the stock one from
 * install() to uninstall(). install() does nothing while the webgpu backend's kernels
 * are not registered yet (its module not imported): it can be called again later.
 */
export class BatchNormOpKernel {
  private stock: KernelConfigLike | undefined;
  private config: KernelConfigLike | undefined;
  /** Keys of our kernels in the cache, least recently used first. */
  private readonly recent: string[] = [];
  /** The cache's owner object for this op's kernels. */
  private readonly owner = { name: 'tf.batchNorm', epsilon: 0, momentum: 0 };

  constructor(
    private readonly core: KernelRegistryLike,
    private readonly cache: KernelCache,
    private readonly stats: OpStats,
    private readonly onFallback: (reason: string) => void,
  ) {}

  get installed(): boolean {
    return this.config !== undefined;
  }

  install(): void {
    if (this.config) return;
    const stock = this.core.getKernel(FUSED_BATCH_NORM, BACKEND);
    if (!stock) return;
    const config: KernelConfigLike = { ...stock, kernelFunc: (args) => this.run(args, stock) };
    this.core.unregisterKernel(FUSED_BATCH_NORM, BACKEND);
    this.core.registerKernel(config);
    this.stock = stock;
    this.config = config;
  }

  /** Puts the stock kernel back (unless something else has replaced ours since). */
  uninstall(): void {
    const { stock, config } = this;
    if (!stock || !config) return;
    this.stock = this.config = undefined;
    this.recent.length = 0;
    if (this.core.getKernel(FUSED_BATCH_NORM, BACKEND) !== config) return;
    this.core.unregisterKernel(FUSED_BATCH_NORM, BACKEND);
    this.core.registerKernel(stock);
  }

  private run(args: KernelArgs, stock: KernelConfigLike): unknown {
    const backend = asWebGPUBackend(args.backend);
    if (!backend) return stock.kernelFunc(args);
    const plan = planOp(args, backend, this.core);
    if (!plan.ok) {
      this.stats.opFallback++;
      this.stats.lastOpFallback = plan.reason;
      this.onFallback(plan.reason);
      return stock.kernelFunc(args);
    }
    const { c, eps } = plan;
    const { x, mean, variance, scale, offset } = args.inputs as Record<string, TensorInfoLike | undefined>;
    const inputs = { x: withSize(x!), mean: withSize(mean!), variance: withSize(variance!), gamma: scale ? withSize(scale) : null, beta: offset ? withSize(offset) : null };
    const shape = [inputs.x.size / c, c];
    const bn = this.kernel(backend.device, c, eps, shape, scale != null, offset != null);
    const y = recordForward(backend, bn, c, shape, inputs, 'tf.batchNorm');
    const out = infoFromBuffer(backend, recordingEncoder(backend), y, x!.shape);
    this.stats.ops++;
    return out;
  }

  private kernel(device: GPUDevice, c: number, eps: number, shape: number[], scale: boolean, offset: boolean): BatchNorm {
    const key = `eval ${shape.join('x')} eps ${eps} scale ${scale} offset ${offset}`;
    const at = this.recent.indexOf(key);
    if (at >= 0) this.recent.splice(at, 1);
    this.recent.push(key);
    while (this.recent.length > MAX_OP_KERNELS) this.cache.releaseKey(this.owner, this.recent.shift()!);
    this.owner.epsilon = eps; // what the cache checks a kernel against (eps is part of the key too)
    return this.cache.get(this.owner, key, device, () => {
      // momentum: unused in eval; 1 − owner.momentum as the cache checks it
      const bn = new BatchNorm(device, { numFeatures: c, layout: 'NC', eps, momentum: 1, trackRunningStats: true });
      bn.training = false;
      return bn;
    });
  }
}
