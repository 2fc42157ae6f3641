// BatchNormalization.call on our kernels: the Keras layer's training forward (batch
// statistics, then the moving averages) and inference forward, with gradients for
// x, gamma and beta from our backward through tf.customGrad, all recorded in TF.js's
// own command encoder on TF.js's buffers.
//
// - Any rank ≥ 2 and any axis: the input is viewed as [outer, C, inner] (outer: the
//   product of the dimensions before the axis, inner: after it), our 'NC' layout
//   when inner is 1 and 'NCL' otherwise. No data moves. The axis may be a one-element
//   list, as tf.keras 2.x writes it in a model's config (featureAxis).
// - Keras's moving averages (tfjs-layers normalization.js): moving ← moving −
//   (moving − batch)·(1 − momentum), with the *biased* batch variance from
//   tf.moments: our running update with momentum 1 − layer.momentum and
//   unbiasedRunningVar false.
// - TF.js owns the variables. Each call copies gamma, beta and the moving statistics
//   from the variables' buffers into the BatchNorm's (16·C bytes), and in training
//   copies the updated running statistics into new tensors that are assigned to the
//   moving variables, as the stock layer assigns its own update. Nothing is read back.
// - center: false / scale: false: the BatchNorm's beta stays 0 and its gamma 1,
//   and no gradient is returned for the missing weight (the stock layer crashes on
//   them in training, tfjs#2868).
import { BatchNorm } from '../batchnorm/index.js';
import type { Layout } from '../batchnorm/index.js';
import { bufferOf, recordingEncoder, copyFloats, tensorFromBuffer, type EngineLike, type TensorLike, type WebGPUBackendLike } from './backend.js';

/** A TF.js Tensor as the adapter passes it around (opaque beyond TensorLike). */
export type Tensor = TensorLike;

export interface LayerVariableLike {
  read(): Tensor;
  write(value: Tensor): unknown;
}

/** The fields of tfjs-layers' BatchNormalization the adapter reads. */
export interface BatchNormLayerLike {
  name: string;
  /**
   * The config's axis as TF.js keeps it: a number, or whatever the model's JSON
   * said (tf.keras 2.x writes a list, `"axis": [3]`, which TF.js does not convert).
   */
  axis: unknown;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  built?: boolean;
  gamma?: LayerVariableLike | null;
  beta?: LayerVariableLike | null;
  movingMean?: LayerVariableLike | null;
  movingVariance?: LayerVariableLike | null;
}

/** The tfjs-core functions the adapter calls. */
export interface CoreLike {
  tidy<T>(fn: () => T): T;
  customGrad(f: (...args: never[]) => unknown): (...inputs: Tensor[]) => Tensor;
  engine(): EngineLike;
}

/** Counters of what ran where, for tests and for users checking that the kernels are used. */
export interface AdapterStats {
  /** Layer calls computed by our kernels, training and inference. */
  forward: number;
  /** Gradients computed by our backward. */
  backward: number;
  /** Backward calls that first had to recompute their forward (the layer ran again on the same shape before its gradient). */
  replays: number;
  /** Layer calls handed to the stock TF.js implementation. */
  fallback: number;
  /** Why the last fallback happened. */
  lastFallback: string | null;
  /** tf.batchNorm calls (kernel FusedBatchNorm) computed by our kernels on the webgpu backend. */
  ops: number;
  /** tf.batchNorm calls on the webgpu backend handed to the stock kernel (parameters not of shape [C], say). */
  opFallback: number;
  /** Why the last of those happened. */
  lastOpFallback: string | null;
}

export class AdapterError extends Error {
  override name = 'ValueError';
}

/** How one call maps onto our kernels, or why it cannot. */
type CallPlan =
  | { ok: true; x: Tensor; training: boolean; c: number; layout: Layout; bnShape: number[]; axis: number }
  | { ok: false; reason: string };

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * A config value as a fallback reason prints it: strings quoted and lists
 * bracketed, so that `axis "1"` or `axis [1,2]` cannot be read as `axis 1`.
 */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(showValue).join(',')}]`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value); // NaN, Infinity: JSON would print null
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value); // undefined, booleans, symbols
  try {
    return JSON.stringify(value);
  } catch {
    return String(value); // a cycle
  }
}

/**
 * The feature axis, in [0, rank), of a layer's `axis` for an input of rank `rank`,
 * or why it is not one. An integer counts from the end when negative. A
 * one-element list is that axis: tf.keras 2.x saves `axis` as a list (its build
 * turns −1 into [rank − 1]), and TF.js loads the list as it is. A list of several
 * axes (Keras's normalization over more than one axis) has no [outer, C, inner]
 * view, and anything else is not an axis at all: both are the stock layer's.
 */
export function featureAxis(axis: unknown, rank: number): { ok: true; axis: number } | { ok: false; reason: string } {
  if (Array.isArray(axis) && axis.length > 1) return { ok: false, reason: `axis ${showValue(axis)} (more than one axis)` };
  const single: unknown = Array.isArray(axis) ? axis[0] : axis;
  if (typeof single !== 'number' || !Number.isInteger(single)) return { ok: false, reason: `axis ${showValue(axis)}` };
  const resolved = single < 0 ? single + rank : single;
  if (resolved < 0 || resolved >= rank) return { ok: false, reason: `axis ${showValue(axis)} out of range for rank ${rank}` };
  return { ok: true, axis: resolved };
}

/** The single input tensor of a call, as getExactlyOneTensor takes it. */
function singleTensor(inputs: unknown): Tensor | null {
  const t = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
  return t && typeof t === 'object' && 'dataId' in t && Array.isArray((t as Tensor).shape) ? (t as Tensor) : null;
}

/**
 * Decides whether the call runs on our kernels. Throws (like the layer's InputSpec
 * check, naming the layer) when the input's feature dimension does not match the
 * layer's weights; every other unsupported case is a fallback with its reason.
 */
export function planCall(layer: BatchNormLayerLike, inputs: unknown, kwargs: Record<string, unknown> | undefined, device: GPUDevice): CallPlan {
  const x = singleTensor(inputs);
  if (!x) return { ok: false, reason: 'not exactly one input tensor' };
  if (x.dtype !== 'float32') return { ok: false, reason: `input dtype ${x.dtype}` };
  const rank = x.shape.length;
  if (rank < 2) return { ok: false, reason: `input of rank ${rank}` };
  const feature = featureAxis(layer.axis, rank);
  if (!feature.ok) return feature;
  const { axis } = feature;
  if (!layer.movingMean || !layer.movingVariance) return { ok: false, reason: 'layer not built' };
  if ((layer.scale && !layer.gamma) || (layer.center && !layer.beta)) return { ok: false, reason: 'layer weights missing' };
  const weights = [layer.movingMean, layer.movingVariance, layer.scale ? layer.gamma : null, layer.center ? layer.beta : null];
  const odd = weights.find((w) => w && w.read().dtype !== 'float32');
  if (odd) return { ok: false, reason: `weights of dtype ${odd.read().dtype}` };
  const c = layer.movingMean.read().size;
  if (x.shape[axis] !== c) {
    throw new AdapterError(`Input 0 is incompatible with layer ${layer.name}: expected axis ${axis} of input shape to have value ${c} but got shape ${x.shape}.`);
  }
  const momentum = layer.momentum;
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) return { ok: false, reason: `momentum ${showValue(momentum)}` };
  const eps = layer.epsilon;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) return { ok: false, reason: `epsilon ${showValue(eps)}` };
  const training = kwargs?.training == null ? false : Boolean(kwargs.training);
  if (x.size === 0) return { ok: false, reason: 'empty input' };
  if (training && x.size / c < 2) return { ok: false, reason: 'training with one value per feature' };
  if (x.size * 4 > device.limits.maxStorageBufferBindingSize) return { ok: false, reason: 'input larger than maxStorageBufferBindingSize' };
  const outer = product(x.shape.slice(0, axis));
  const inner = product(x.shape.slice(axis + 1));
  return inner === 1
    ? { ok: true, x, training, c, axis, layout: 'NC', bnShape: [outer, c] }
    : { ok: true, x, training, c, axis, layout: 'NCL', bnShape: [outer, c, inner] };
}

/** Our BatchNorms: one per (layer, mode, shape), made on first use, all destroyed by clear(). */
export class KernelCache {
  /** `flush` submits the commands TF.js has recorded, which may use a kernel about to be destroyed. */
  constructor(private readonly flush: () => void) {}

  private readonly byLayer = new WeakMap<object, Map<string, BatchNorm>>();
  private readonly all = new Set<BatchNorm>();

  /** `layer`: a BatchNormalization layer, or any owner object with the epsilon and (Keras) momentum its kernels are made with. */
  get(layer: Pick<BatchNormLayerLike, 'epsilon' | 'momentum'>, key: string, device: GPUDevice, make: () => BatchNorm): BatchNorm {
    let map = this.byLayer.get(layer);
    if (!map) this.byLayer.set(layer, (map = new Map()));
    let bn = map.get(key);
    if (bn && (bn.device !== device || bn.eps !== layer.epsilon || bn.momentum !== 1 - layer.momentum)) {
      // Another device (the backend was re-created) or the layer's epsilon/momentum were changed.
      this.all.delete(bn);
      this.flush();
      bn.destroy();
      bn = undefined;
    }
    if (!bn) {
      bn = make();
      map.set(key, bn);
      this.all.add(bn);
    }
    return bn;
  }

  get size(): number {
    return this.all.size;
  }

  /** Destroys one kernel of an owner (evicted from a bounded set). */
  releaseKey(layer: object, key: string): void {
    const map = this.byLayer.get(layer);
    const bn = map?.get(key);
    if (!map || !bn) return;
    map.delete(key);
    this.all.delete(bn);
    this.flush();
    bn.destroy();
  }

  /** Destroys a layer's kernels (when the layer is disposed). */
  release(layer: object): void {
    const map = this.byLayer.get(layer);
    if (!map) return;
    this.byLayer.delete(layer);
    if (map.size) this.flush();
    for (const bn of map.values()) {
      this.all.delete(bn);
      bn.destroy();
    }
  }

  clear(): void {
    if (this.all.size) this.flush();
    for (const bn of this.all) bn.destroy();
    this.all.clear();
  }
}

/** The BatchNorm's running-statistics buffers (its kernels always keep them). */
function runningBuffers(bn: BatchNorm): { runningMean: GPUBuffer; runningVar: GPUBuffer } {
  const running = bn.runningStatistics;
  if (!running) throw new Error('webgpu-batchnorm/tfjs: a BatchNorm without running statistics was asked for them');
  return running;
}

/** The tensors a forward reads: x, and the values copied into the BatchNorm's own buffers first (null: left as they are). */
export interface ForwardInputs {
  x: Tensor;
  gamma: Tensor | null;
  beta: Tensor | null;
  mean: Tensor | null;
  variance: Tensor | null;
}

/**
 * Records, in TF.js's pending encoder, copies of gamma, beta and (when both are
 * given) the running mean and variance from their tensors' buffers into bn's
 * (16·C bytes, no readback), then bn's forward over x viewed as `shape`. Returns
 * bn's y buffer (overwritten by its next forward: copy it out in the same encoder).
 * Throws, naming `what`, when a tensor is not in a GPU storage buffer.
 */
export function recordForward(backend: WebGPUBackendLike, bn: BatchNorm, c: number, shape: number[], inputs: ForwardInputs, what: string): GPUBuffer {
  const list = [inputs.x, inputs.gamma, inputs.beta, inputs.mean, inputs.variance];
  const buffers = list.map((t) => (t ? bufferOf(backend, t) : null));
  list.forEach((t, i) => {
    if (t && !buffers[i]) throw new Error(`webgpu-batchnorm/tfjs: ${what}: tensor ${i} is not in a GPU storage buffer`);
  });
  const encoder = recordingEncoder(backend, list.filter((t): t is Tensor => t !== null));
  const [xb, gb, bb, mb, vb] = buffers;
  const p = bn.parameters;
  if (gb) copyFloats(encoder, gb, p!.gamma, c);
  if (bb) copyFloats(encoder, bb, p!.beta, c);
  if (mb && vb) {
    const r = runningBuffers(bn);
    copyFloats(encoder, mb, r.runningMean, c);
    copyFloats(encoder, vb, r.runningVar, c);
  }
  return bn.forward(xb!, shape, encoder);
}

let nextToken = 1;
/** Which forward each BatchNorm ran last, so a backward knows whether its forward is still the current one. */
const lastForward = new WeakMap<BatchNorm, number>();

export interface Adapter {
  core: CoreLike;
  cache: KernelCache;
  stats: AdapterStats;
}

/** The layer's call on our kernels, for a plan that planCall accepted. */
export function acceleratedCall(adapter: Adapter, backend: WebGPUBackendLike, layer: BatchNormLayerLike, plan: Extract<CallPlan, { ok: true }>): Tensor {
  const { core, cache, stats } = adapter;
  const engine = core.engine();
  const device = backend.device;
  const { c, layout, bnShape, training } = plan;
  const shapeKey = bnShape.join('x');
  const options = { numFeatures: c, layout, eps: layer.epsilon, momentum: 1 - layer.momentum, unbiasedRunningVar: false };
  const kernel = (mode: 'train' | 'eval' | 'replay') =>
    cache.get(layer, `${mode} ${shapeKey}`, device, () => {
      const bn = new BatchNorm(device, { ...options, trackRunningStats: mode !== 'replay' });
      bn.training = mode !== 'eval';
      return bn;
    });

  const gammaVar = layer.scale ? layer.gamma! : null;
  const betaVar = layer.center ? layer.beta! : null;
  const params = [gammaVar, betaVar].filter((v): v is LayerVariableLike => v !== null);

  /** Copies gamma, beta and (when kept) the running statistics into bn, then records its forward over x. */
  const runForward = (bn: BatchNorm, x: Tensor, gamma: Tensor | null, beta: Tensor | null, mean: Tensor | null, variance: Tensor | null): GPUBuffer => {
    const y = recordForward(backend, bn, c, bnShape, { x, gamma, beta, mean, variance }, `layer ${layer.name}`);
    lastForward.set(bn, nextToken++);
    return y;
  };

  const forward = core.customGrad(((...args: unknown[]) => {
    const save = args.pop() as (tensors: Tensor[]) => void;
    const [x, ...values] = args as Tensor[];
    const gamma = gammaVar ? values.shift()! : null;
    const beta = betaVar ? values.shift()! : null;
    const mean = layer.movingMean!.read();
    const variance = layer.movingVariance!.read();
    const bn = kernel(training ? 'train' : 'eval');
    const y = runForward(bn, x, gamma, beta, mean, variance);
    const token = lastForward.get(bn)!;
    const encoder = recordingEncoder(backend);
    const value = tensorFromBuffer<Tensor>(engine, backend, encoder, y, x.shape);
    if (training) {
      const r = runningBuffers(bn);
      layer.movingMean!.write(tensorFromBuffer<Tensor>(engine, backend, encoder, r.runningMean, [c]));
      layer.movingVariance!.write(tensorFromBuffer<Tensor>(engine, backend, encoder, r.runningVar, [c]));
    }
    stats.forward++;
    // Kept for the backward (only while a gradient tape records): x, and what a
    // replay of this forward needs if the BatchNorm runs again before then.
    const kept = [x, mean, variance];
    if (gamma) kept.push(gamma);
    if (beta) kept.push(beta);
    save(kept);

    const gradFunc = (dy: Tensor, saved: Tensor[]): Tensor[] => {
      const [sx, smean, svar] = saved;
      const sgamma = gamma ? saved[3] : null;
      const sbeta = beta ? saved[gamma ? 4 : 3] : null;
      let active = bn;
      if (lastForward.get(bn) !== token) {
        // The same layer ran again on this shape since: recompute this forward's
        // statistics first, without touching the running statistics.
        active = training ? kernel('replay') : bn;
        runForward(active, sx, sgamma, sbeta, training ? null : smean, training ? null : svar);
        stats.replays++;
      }
      const dyb = bufferOf(backend, dy);
      if (!dyb) throw new Error(`webgpu-batchnorm/tfjs: layer ${layer.name}: the gradient is not a float32 GPU buffer`);
      const enc = recordingEncoder(backend, [dy, sx]);
      const g = active.backward(dyb, enc);
      const grads = [tensorFromBuffer<Tensor>(engine, backend, enc, g.dx, sx.shape)];
      if (gammaVar) grads.push(tensorFromBuffer<Tensor>(engine, backend, enc, g.dgamma!, [c]));
      if (betaVar) grads.push(tensorFromBuffer<Tensor>(engine, backend, enc, g.dbeta!, [c]));
      stats.backward++;
      return grads;
    };
    return { value, gradFunc };
  }) as (...args: never[]) => unknown);

  return forward(plan.x, ...params.map((v) => v.read()));
}
