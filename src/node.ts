// webgpu-batchnorm/node: a GPUDevice in Node through Dawn.
export { ADAPTER_CHOICES, lavapipeCandidates, requestDevice, swiftShaderCandidates, type AdapterChoice, type RequestDeviceOptions } from './gpu/dawn.js';
export { adapterName } from './gpu/adapter.js';
