// Training on the GPU: layers, loss, optimizers and a Sequential model, with their float64 reference.
export { Linear, MATMUL_CPU_TUNING, MATMUL_GPU_TUNING, type LinearOptions, type LinearGradients, type LinearWeights, type MatmulTuning } from './linear.js';
export { Activation, ReLU, Sigmoid, Tanh, ACTIVATIONS, type ActivationKind } from './activation.js';
export { SoftmaxCrossEntropy, type LossOptions, type LossReading } from './loss.js';
export {
  Optimizer,
  SGD,
  Momentum,
  RMSprop,
  Adam,
  createOptimizer,
  OPTIMIZERS,
  OPTIMIZER_DEFAULTS,
  type OptimizerKind,
  type OptimizerOptions,
  type Parameter,
} from './optimizer.js';
export { Sequential, type CompileOptions } from './sequential.js';
export type { Layer } from './layer.js';
export { seededRandom, uniform, normalSampler } from './random.js';
export * as networkReference from './reference.js';
