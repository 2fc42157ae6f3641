// webgpu-batchnorm/tfjs: TF.js's BatchNormalization layers on webgpu-batchnorm's
// kernels, on TF.js's own webgpu device and buffers. The TF.js packages are optional
// peer dependencies, never imported here: the caller passes them in.
export { useWebGPUBatchNorm, type TfjsModules, type UseWebGPUBatchNormOptions, type WebGPUBatchNormHandle } from './tfjs/install.js';
export type { AdapterStats } from './tfjs/layer.js';
