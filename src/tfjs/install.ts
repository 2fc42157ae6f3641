// useWebGPUBatchNorm: replaces tfjs-layers' BatchNormalization.prototype.call with
// one that runs our kernels whenever the active backend is TF.js's webgpu backend
// and hands every other call to the original, and restore() puts the original back.
import { asWebGPUBackend, flush } from './backend.js';
import { acceleratedCall, KernelCache, planCall, type AdapterStats, type BatchNormLayerLike, type CoreLike } from './layer.js';
import { BatchNormOpKernel, type KernelRegistryLike } from './op.js';

/**
 * What useWebGPUBatchNorm needs from TF.js: the `@tensorflow/tfjs` namespace, or,
 * with the split packages, `{ core, layers }` (tfjs-core's namespace and
 * tfjs-layers' namespace). The webgpu backend only has to be registered
 * (`import '@tensorflow/tfjs-backend-webgpu'`) by the time layers run.
 */
export type TfjsModules = { engine: unknown; tidy: unknown; customGrad: unknown; layers: unknown } | { core: unknown; layers: unknown };

export interface UseWebGPUBatchNormOptions {
  /**
   * Called for each layer call handed to the stock TF.js implementation on a
   * WebGPU-capable backend, with the reason; and for each such tf.batchNorm call,
   * with the name 'tf.batchNorm'.
   */
  onFallback?: (layerName: string, reason: string) => void;
}

export interface WebGPUBatchNormHandle {
  /** True until restore(). */
  readonly active: boolean;
  /** What ran where since the call (forward and backward on our kernels, fallbacks and why). */
  readonly stats: Readonly<AdapterStats>;
  /** How many of our BatchNorm kernels are alive (one per layer, mode and input shape; for tf.batchNorm, one per shape, eps and affine combination, at most 16). */
  readonly kernels: number;
  /**
   * Whether tf.batchNorm (kernel FusedBatchNorm) on the webgpu backend runs on our
   * kernel: false until the webgpu backend's module has registered its kernels
   * (checked again on each BatchNormalization call), and after restore().
   */
  readonly batchNormOp: boolean;
  /** Puts TF.js's own BatchNormalization and FusedBatchNorm kernel back and destroys our kernels' buffers. Calling it again does nothing. */
  restore(): void;
}

interface LayerClass {
  prototype: { call(inputs: unknown, kwargs: Record<string, unknown>): unknown; dispose(): unknown };
}

interface Core extends CoreLike, Partial<Omit<KernelRegistryLike, 'env'>> {
  backend(): unknown;
  getBackend(): string | null;
  env?(): { getBool(flag: string): boolean };
  serialization?: { SerializationMap?: { getMap(): { classNameMap: Record<string, [unknown, unknown] | undefined> } } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null;
}

function usage(problem: string): Error {
  return new TypeError(
    `useWebGPUBatchNorm: ${problem}. Pass the @tensorflow/tfjs namespace (useWebGPUBatchNorm(tf)) or ` +
      `the split packages (useWebGPUBatchNorm({ core: tfc, layers: tfl }), from '@tensorflow/tfjs-core' and '@tensorflow/tfjs-layers').`,
  );
}

/** tfjs-core's namespace and tfjs-layers' BatchNormalization class from what the user passed. */
function resolve(tf: TfjsModules): { core: Core; layerClass: LayerClass } {
  if (!isObject(tf)) throw usage(`expected TF.js, got ${tf === null ? 'null' : typeof tf}`);
  const core = ('core' in tf ? tf.core : tf) as Core;
  if (!isObject(core) || typeof core.customGrad !== 'function' || typeof core.tidy !== 'function' || typeof core.engine !== 'function') {
    throw usage('tfjs-core (tidy, customGrad, engine) not found');
  }
  // tfjs-layers: its module namespace (with .layers), or its `layers` factory namespace.
  const layersArg = (tf as { layers?: unknown }).layers;
  if (!isObject(layersArg)) throw usage('tfjs-layers not found');
  const factories = isObject(layersArg.layers) ? layersArg.layers : layersArg;
  const registered = core.serialization?.SerializationMap?.getMap().classNameMap.BatchNormalization?.[0];
  let layerClass: unknown = registered;
  if (!isObject(layerClass) && typeof factories.batchNormalization === 'function') {
    layerClass = Object.getPrototypeOf((factories.batchNormalization as (args: object) => object)({})).constructor;
  }
  if (typeof layerClass !== 'function' || typeof (layerClass as LayerClass).prototype?.call !== 'function') {
    throw usage('tfjs-layers\' BatchNormalization class not found (is @tensorflow/tfjs-layers loaded with the same tfjs-core?)');
  }
  return { core, layerClass: layerClass as LayerClass };
}

/** One installation per BatchNormalization class: a second call returns the same handle. */
const installed = new WeakMap<LayerClass, WebGPUBatchNormHandle>();

/**
 * From this call on, TF.js BatchNormalization layers compute their training and
 * inference forward and their gradients with webgpu-batchnorm's kernels whenever
 * TF.js's active backend is 'webgpu', on TF.js's own device and buffers. Other
 * backends, and configurations the kernels do not cover, run TF.js's own code.
 * Can be called before tf.setBackend('webgpu'): the backend is looked at on each layer call.
 */
export function useWebGPUBatchNorm(tf: TfjsModules, options: UseWebGPUBatchNormOptions = {}): WebGPUBatchNormHandle {
  const { core, layerClass } = resolve(tf);
  const existing = installed.get(layerClass);
  if (existing?.active) return existing;

  const proto = layerClass.prototype;
  const original = proto.call;
  // Only a backend already chosen: looking at core.backend() before that would initialize one.
  const cache = new KernelCache(() => flush(core.getBackend() ? asWebGPUBackend(core.backend()) : null));
  const stats: AdapterStats = { forward: 0, backward: 0, replays: 0, fallback: 0, lastFallback: null, ops: 0, opFallback: 0, lastOpFallback: null };
  const adapter = { core, cache, stats };
  let active = true;
  const registry = typeof core.getKernel === 'function' && typeof core.registerKernel === 'function' && typeof core.unregisterKernel === 'function'
    ? (core as unknown as KernelRegistryLike)
    : null;
  const op = registry ? new BatchNormOpKernel(registry, cache, stats, (reason) => options.onFallback?.('tf.batchNorm', reason)) : null;
  op?.install();

  const fallback = (layer: BatchNormLayerLike, reason: string) => {
    stats.fallback++;
    stats.lastFallback = `${layer.name}: ${reason}`;
    options.onFallback?.(layer.name, reason);
  };

  function call(this: BatchNormLayerLike, inputs: unknown, kwargs: Record<string, unknown>): unknown {
    op?.install(); // the webgpu backend's kernels may have been registered since
    const backend = asWebGPUBackend(core.backend());
    if (!backend) return original.call(this, inputs, kwargs); // cpu, wasm, webgl: nothing changes
    if (core.env?.().getBool('WEBGPU_ENGINE_COMPILE_ONLY')) {
      fallback(this, 'WEBGPU_ENGINE_COMPILE_ONLY is set');
      return original.call(this, inputs, kwargs);
    }
    const plan = planCall(this, inputs, kwargs, backend.device);
    if (!plan.ok) {
      fallback(this, plan.reason);
      return original.call(this, inputs, kwargs);
    }
    return core.tidy(() => acceleratedCall(adapter, backend, this, plan));
  }

  // A disposed layer's kernels (and their buffers, sized like its input) go with it.
  const ownDispose = Object.prototype.hasOwnProperty.call(proto, 'dispose');
  const originalDispose = proto.dispose;
  function dispose(this: BatchNormLayerLike): unknown {
    const result = originalDispose.call(this) as { refCountAfterDispose?: number } | undefined;
    if (result?.refCountAfterDispose === 0) cache.release(this);
    return result;
  }

  proto.call = call;
  proto.dispose = dispose;
  const handle: WebGPUBatchNormHandle = {
    get active() {
      return active;
    },
    stats,
    get kernels() {
      return cache.size;
    },
    get batchNormOp() {
      return op?.installed ?? false;
    },
    restore() {
      if (!active) return;
      active = false;
      if (proto.call === call) proto.call = original;
      if (proto.dispose === dispose) {
        if (ownDispose) proto.dispose = originalDispose;
        else delete (proto as Partial<LayerClass['prototype']>).dispose;
      }
      op?.uninstall();
      cache.clear();
      installed.delete(layerClass);
    },
  };
  installed.set(layerClass, handle);
  return handle;
}
