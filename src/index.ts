export { BatchNorm, BatchNormError, type BatchNormOptions, type BatchNormState, type Gradients } from './batch-norm.js';
export { reference, ReferenceBatchNorm, type ReferenceState, type ReferenceGradients } from './reference.js';
export { type Layout, LAYOUTS, canonicalView } from './layout.js';
export { type Tuning, CPU_TUNING, GPU_TUNING } from './plan.js';
export { adapterName } from './adapter.js';
export * from './nn.js';
