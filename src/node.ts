// webgpu-batchnorm/node: a GPUDevice in Node through Dawn.
export { requestDevice, swiftShaderCandidates, type RequestDeviceOptions } from './gpu/dawn.js';
export { adapterName } from './gpu/adapter.js';
