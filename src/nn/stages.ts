// The training kernels' WGSL sources and what the host reads out of them: each
// uniform struct's fields and each variant's constant are parsed from the
// shaders, so the shaders stay the one place where they are written down.
import matmul from '../../shaders/nn/matmul.wgsl?raw';
import biasGrad from '../../shaders/nn/bias-grad.wgsl?raw';
import activation from '../../shaders/nn/activation.wgsl?raw';
import softmaxCrossEntropy from '../../shaders/nn/softmax-cross-entropy.wgsl?raw';
import optimizerCommon from '../../shaders/nn/optimizer-common.wgsl?raw';
import optimizerTick from '../../shaders/nn/optimizer-tick.wgsl?raw';
import optimizerUpdate from '../../shaders/nn/optimizer-update.wgsl?raw';
import { parseConst, parseStruct, stageSource } from '../gpu/wgsl.js';

export const nnStages = {
  matmul: stageSource('matmul', matmul),
  biasGrad: stageSource('bias grad', biasGrad),
  activation: stageSource('activation', activation),
  softmaxCrossEntropy: stageSource('softmax cross-entropy', softmaxCrossEntropy),
  optimizerTick: stageSource('optimizer tick', optimizerCommon, optimizerTick),
  optimizerUpdate: stageSource('optimizer update', optimizerCommon, optimizerUpdate),
};

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
