// What a Sequential needs of a layer. Linear, BatchNorm (layout NC) and the
// activations have it; so can any user-made layer.

export interface Layer {
  /** Names the layer in error messages. */
  readonly name: string;
  /** Set by the model's train() and eval(). */
  training: boolean;
  /**
   * Features of the rows [batch, features] it takes and gives: null in or out where
   * it keeps whatever it gets; null as a whole when it takes no such rows.
   */
  readonly features: { in: number | null; out: number | null } | null;
  /** Rows it needs in a training batch (batch norm, whose statistics need two values); default 1. */
  readonly minTrainingRows?: number;
  /** Its learnable parameters with their sizes in f32; the gradient of `name` is backward()'s `d<name>`. */
  parameterList(): { name: string; value: GPUBuffer; size: number }[];
  forward(x: GPUBuffer, shape: readonly number[], encoder?: GPUCommandEncoder): GPUBuffer;
  /** `inputGradient: false` lets a first layer skip dx (layers that cannot still return it). */
  backward(dy: GPUBuffer, encoder?: GPUCommandEncoder, options?: { inputGradient?: boolean }): { dx: GPUBuffer | null };
  destroy(): void;
  /** A new layer computing what this one computes in eval mode, for Sequential.fold(). */
  copyForInference?(): Promise<Layer>;
  /** In eval mode a per-feature map y = x·scale + shift (batch norm), which the layer before may absorb. */
  foldedAffine?(): Promise<{ scale: Float32Array; shift: Float32Array }>;
  /** A new layer computing this one followed by a per-feature map of its outputs (a linear layer). */
  foldAffine?(map: { scale: Float32Array; shift: Float32Array }): Promise<Layer>;
}

const LAYER_MEMBERS = ['parameterList', 'forward', 'backward', 'destroy'] as const;

/** Whether a value has a Layer's methods. */
export const isLayer = (v: unknown): v is Layer =>
  !!v && typeof v === 'object' && LAYER_MEMBERS.every((m) => typeof (v as Record<string, unknown>)[m] === 'function') && 'features' in v;
