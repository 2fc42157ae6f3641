// The training kernels' WGSL sources and what the host reads out of them: each
// uniform struct's fields and each variant's constant are parsed from the
// shaders, so the shaders stay the one place where they are written down.
import matmul from '../shaders/matmul.wgsl?raw';
import biasGrad from '../shaders/bias-grad.wgsl?raw';
import activation from '../shaders/activation.wgsl?raw';
import softmaxCrossEntropy from '../shaders/softmax-cross-entropy.wgsl?raw';
import optimizerCommon from '../shaders/optimizer-common.wgsl?raw';
import optimizerTick from '../shaders/optimizer-tick.wgsl?raw';
import optimizerUpdate from '../shaders/optimizer-update.wgsl?raw';
import { grid, parseConst, parseStruct, type StageSource } from './wgsl.js';

export const nnStages = {
  matmul: { name: 'matmul', source: grid + matmul },
  biasGrad: { name: 'bias grad', source: grid + biasGrad },
  activation: { name: 'activation', source: grid + activation },
  softmaxCrossEntropy: { name: 'softmax cross-entropy', source: grid + softmaxCrossEntropy },
  optimizerTick: { name: 'optimizer tick', source: grid + optimizerCommon + optimizerTick },
  optimizerUpdate: { name: 'optimizer update', source: grid + optimizerCommon + optimizerUpdate },
} satisfies Record<string, StageSource>;

/** Uniform struct layouts, by stage. */
export const uniforms = {
  matmul: parseStruct(matmul, 'Params'),
  biasGrad: parseStruct(biasGrad, 'Params'),
  activation: parseStruct(activation, 'Params'),
  softmaxCrossEntropy: parseStruct(softmaxCrossEntropy, 'Params'),
  optimizer: parseStruct(optimizerCommon, 'Hyper'),
};

/** Bytes of optimizer-common's Schedule struct (step, correction1, correction2). */
export const SCHEDULE_BYTES = parseStruct(optimizerCommon, 'Schedule').length * 4;

export const ACTIVATION_KIND = {
  relu: parseConst(activation, 'RELU'),
  sigmoid: parseConst(activation, 'SIGMOID'),
  tanh: parseConst(activation, 'TANH'),
};

export const OPTIMIZER_KIND = {
  sgd: parseConst(optimizerUpdate, 'SGD'),
  momentum: parseConst(optimizerUpdate, 'MOMENTUM'),
  rmsprop: parseConst(optimizerUpdate, 'RMSPROP'),
  adam: parseConst(optimizerUpdate, 'ADAM'),
};
