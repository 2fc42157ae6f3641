// The public option, result and state types of BatchNorm (batch-norm.ts).
import type { Layout } from './layout.js';
import type { Tuning } from './partition.js';
import type { TensorStorage } from './stages.js';

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
  /**
   * A fused epilogue: 'relu' gives y = max(BN(x) (+ z), 0), in the same dispatches.
   * backward() then takes dy of that output. Default 'none'.
   */
  activation?: BatchNormActivation;
  /**
   * The forward takes a second tensor z of x's shape (`{ residual: z }`) and adds it
   * before the activation: y = act(BN(x) + z); backward() returns dresidual. Default false.
   */
  residual?: boolean;
  /**
   * How x, y, dy, dx and the residual are stored: 'float32' (default) or 'float16'
   * (IEEE binary16, two to a u32; the array calls take and return Uint16Arrays of
   * the bits, or Float16Arrays). γ, β, the running statistics and every sum stay f32.
   */
  storage?: TensorStorage;
}

/**
 * A tensor on the host: Float32Array with float32 storage; with float16, a
 * Uint16Array of binary16 bits (or a Float16Array, where the runtime has one: the
 * array calls return the kind they were given).
 */
export type TensorArray = Float32Array | Uint16Array;

/** Gradients read back: dx (and dresidual) in the tensors' storage, dγ and dβ always f32. */
export interface ArrayGradients<T, Affine extends boolean = boolean> {
  dx: T;
  dgamma: AffineOnly<Affine, Float32Array>;
  dbeta: AffineOnly<Affine, Float32Array>;
  dresidual: T | null;
}

/** The fused activations (the toolkit's `Activation` is the standalone layer). */
export type BatchNormActivation = 'none' | 'relu';

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
  /**
   * The gradient for the residual z: null without `residual`; dy itself (the same
   * buffer, or a copy of the array) without an activation; with 'relu', dy where
   * y > 0 and 0 elsewhere, a buffer of the BatchNorm's.
   */
  dresidual: T | null;
}

/** forward()'s third argument: an encoder (as before), or options. */
export interface ForwardOptions {
  encoder?: GPUCommandEncoder;
  /**
   * Data-parallel: normalize with these (global, merged) statistics instead of the
   * batch's own, a GPU buffer in the layout statistics() returns; the running
   * statistics take them in as one batch norm over the whole batch would.
   */
  statistics?: GPUBuffer;
  /** With the `residual` option (and only then): z, a GPUBuffer like x, added before the activation. */
  residual?: GPUBuffer;
}

/** backward()'s second argument: an encoder (as before), or options. */
export interface BackwardOptions {
  encoder?: GPUCommandEncoder;
  /** Data-parallel: the (global, merged) gradient sums, a GPU buffer in the layout gradientSums() returns. */
  sums?: GPUBuffer;
}
