// Batch norm's public surface: the class, its float64 reference, layouts and tuning.
export { type ShardStatistics, type GradientSums } from './statistics.js';
export { BatchNorm } from './batch-norm.js';
export { type BatchNormActivation, type AffineOnly, type BackwardOptions, type BatchNormOptions, type BatchNormState, type ForwardOptions, type Gradients, type ArrayGradients, type TensorArray } from './options.js';
export { type TensorStorage } from './stages.js';
export { TORCH_NAMES, type TorchBatchNormState } from './torch-names.js';
export { reference, ReferenceBatchNorm, type ReferenceState, type ReferenceGradients } from './reference.js';
export { type Layout, type CanonicalView, type FeaturePlacement, LAYOUTS, FEATURE_AXIS, canonicalView } from './layout.js';
export { type Tuning, CPU_TUNING, GPU_TUNING } from './partition.js';
