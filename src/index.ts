// webgpu-batchnorm: batch norm on WebGPU, and a small training toolkit around it.
export * from './batchnorm/index.js';
export * from './nn/index.js';
export { BatchNormError } from './gpu/errors.js';
export { adapterName } from './gpu/adapter.js';
export { toHalf, fromHalf, toHalfBits, fromHalfBits } from './gpu/half.js';
