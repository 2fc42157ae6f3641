// The demo's training, apart from the page so that a script or a headless browser
// can run exactly the same thing with the same seeds: a multi-layer perceptron on
// the generated spirals, with or without batch normalization, trained on the GPU.
import {
  Activation,
  BatchNorm,
  Linear,
  seededRandom,
  Sequential,
  type ActivationKind,
  type BatchNormOptions,
  type Layer,
  type LossReading,
  type OptimizerKind,
  type OptimizerOptions,
} from 'webgpu-batchnorm';
import { makeDataset, shuffled, type Dataset, type Split } from './dataset.js';

export interface RunConfig {
  /** Linear (no bias) → BatchNorm → activation per hidden layer; otherwise Linear (bias) → activation. */
  batchNorm: boolean;
  optimizer: { type: OptimizerKind } & OptimizerOptions;
  activation: ActivationKind;
  hidden: number[];
  batchSize: number;
  /** BatchNorm's conventions (PyTorch's by default: momentum 0.1 on each batch, eps 1e-5, unbiased running variance) */
  batchNormOptions: Pick<BatchNormOptions, 'momentum' | 'eps' | 'unbiasedRunningVar'>;
  /** seed of the initial weights and of the batch order */
  seed: number;
}

/**
 * Three sigmoid layers and SGD with momentum, as in the course notes: without batch
 * norm this network barely moves. (With Adam, which rescales every gradient, both
 * train; on this data the network without batch norm is then as fast or faster.)
 */
export const DEFAULT_RUN: Omit<RunConfig, 'batchNorm'> = {
  optimizer: { type: 'momentum', learningRate: 0.05 },
  activation: 'sigmoid',
  hidden: [64, 64, 64],
  batchSize: 128,
  batchNormOptions: { momentum: 0.1 },
  seed: 1,
};

/** The held-out accuracy the demo counts steps to. */
export const DEMO_TARGET = 0.9;

/** Learning rates the demo starts each optimizer with. */
export const DEMO_LEARNING_RATES: Record<OptimizerKind, number> = { sgd: 0.5, momentum: 0.05, rmsprop: 0.003, adam: 0.01 };

export function buildLayers(device: GPUDevice, inFeatures: number, classes: number, config: RunConfig): Layer[] {
  const layers: Layer[] = [];
  let n = inFeatures;
  config.hidden.forEach((width, i) => {
    layers.push(new Linear(device, { inFeatures: n, outFeatures: width, bias: !config.batchNorm, seed: config.seed * 100 + i }));
    if (config.batchNorm) layers.push(new BatchNorm(device, { ...config.batchNormOptions, numFeatures: width, layout: 'NC' }));
    layers.push(new Activation(device, config.activation));
    n = width;
  });
  layers.push(new Linear(device, { inFeatures: n, outFeatures: classes, seed: config.seed * 100 + config.hidden.length }));
  return layers;
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * One network training on one data set. The training set lives on the GPU in the
 * order of the current epoch (reshuffled, with a seed, at each epoch's start); each
 * step copies its batch out of it and trains, in one command encoder and one submit.
 */
export class TrainingRun {
  readonly model: Sequential;
  steps = 0;

  private readonly features: number;
  private readonly batches: number;
  private readonly random: () => number;
  private readonly epoch: { x: GPUBuffer; labels: GPUBuffer };
  private readonly batch: { x: GPUBuffer; labels: GPUBuffer };
  private readonly test: { x: GPUBuffer; labels: GPUBuffer };
  private readonly shape: number[];

  constructor(
    readonly device: GPUDevice,
    readonly dataset: Dataset,
    readonly config: RunConfig,
  ) {
    const { features, classes } = dataset.options;
    this.features = features;
    this.model = new Sequential(device, buildLayers(device, features, classes, config)).compile({ optimizer: config.optimizer });
    this.batches = Math.floor(dataset.train.count / config.batchSize);
    if (this.batches < 1) throw new Error(`batch size ${config.batchSize} is larger than the ${dataset.train.count} training rows`);
    this.random = seededRandom(config.seed);
    const make = (label: string, bytes: number) => device.createBuffer({ label: `demo ${label}`, size: Math.ceil(bytes / 16) * 16, usage: STORAGE() });
    const train = dataset.train;
    this.epoch = { x: make('epoch x', train.x.byteLength), labels: make('epoch labels', train.labels.byteLength) };
    this.batch = { x: make('batch x', config.batchSize * features * 4), labels: make('batch labels', config.batchSize * 4) };
    this.test = this.upload(dataset.test, make);
    this.shape = [config.batchSize, features];
  }

  private upload(split: Split, make: (label: string, bytes: number) => GPUBuffer) {
    const buffers = { x: make('test x', split.x.byteLength), labels: make('test labels', split.labels.byteLength) };
    this.device.queue.writeBuffer(buffers.x, 0, split.x);
    this.device.queue.writeBuffer(buffers.labels, 0, split.labels);
    return buffers;
  }

  /** Writes the training rows in a new seeded order. */
  private shuffleEpoch() {
    const { x, labels } = this.dataset.train;
    const order = shuffled(this.dataset.train.count, this.random);
    const f = this.features;
    const ex = new Float32Array(x.length);
    const el = new Uint32Array(labels.length);
    order.forEach((from, to) => {
      ex.set(x.subarray(from * f, from * f + f), to * f);
      el[to] = labels[from];
    });
    this.device.queue.writeBuffer(this.epoch.x, 0, ex);
    this.device.queue.writeBuffer(this.epoch.labels, 0, el);
  }

  /** One training step: the batch's copy, forward, loss, backward and the update, submitted once. */
  step(): void {
    const b = this.steps % this.batches;
    if (b === 0) this.shuffleEpoch();
    const rows = this.config.batchSize;
    const encoder = this.device.createCommandEncoder({ label: 'demo training step' });
    encoder.copyBufferToBuffer(this.epoch.x, b * rows * this.features * 4, this.batch.x, 0, rows * this.features * 4);
    encoder.copyBufferToBuffer(this.epoch.labels, b * rows * 4, this.batch.labels, 0, rows * 4);
    this.model.trainStep(this.batch.x, this.batch.labels, this.shape, encoder);
    this.device.queue.submit([encoder.finish()]);
    this.steps++;
  }

  /** Mean training loss (and accuracy) over the steps since the last call. */
  readLoss(): Promise<LossReading> {
    return this.model.readLoss();
  }

  /** Loss and accuracy on the held-out rows, with running statistics (eval mode). */
  evaluate(): Promise<LossReading> {
    return this.model.evaluate(this.test.x, this.test.labels, [this.dataset.test.count, this.features]);
  }

  destroy(): void {
    this.model.destroy();
    for (const b of [this.epoch, this.batch, this.test]) {
      b.x.destroy();
      b.labels.destroy();
    }
  }
}

export interface StepsToTarget {
  /** the first evaluated step at which held-out accuracy reached the target; null if it did not within maxSteps */
  steps: number | null;
  /** held-out accuracy at each evaluation */
  curve: { step: number; accuracy: number; loss: number }[];
  finalAccuracy: number;
  sawNaN: boolean;
}

/** Trains until held-out accuracy reaches `target` (checked every `every` steps) or `maxSteps` pass. */
export async function stepsToAccuracy(
  device: GPUDevice,
  dataset: Dataset,
  config: RunConfig,
  { target, maxSteps, every }: { target: number; maxSteps: number; every: number },
): Promise<StepsToTarget> {
  const run = new TrainingRun(device, dataset, config);
  const curve: StepsToTarget['curve'] = [];
  let sawNaN = false;
  try {
    while (run.steps < maxSteps) {
      for (let i = 0; i < every; i++) run.step();
      const train = await run.readLoss();
      const held = await run.evaluate();
      sawNaN ||= Number.isNaN(train.loss) || Number.isNaN(held.loss);
      curve.push({ step: run.steps, accuracy: held.accuracy, loss: train.loss });
      if (held.accuracy >= target) return { steps: run.steps, curve, finalAccuracy: held.accuracy, sawNaN };
    }
    return { steps: null, curve, finalAccuracy: curve[curve.length - 1]?.accuracy ?? NaN, sawNaN };
  } finally {
    run.destroy();
  }
}

/**
 * The demo's comparison without the page: the same network with and without batch
 * norm, the same seeds, trained until held-out accuracy reaches the target.
 */
export async function compareBatchNorm(
  device: GPUDevice,
  {
    dataset = makeDataset(),
    run = DEFAULT_RUN,
    target = DEMO_TARGET,
    maxSteps = 3000,
    every = 25,
  }: { dataset?: Dataset; run?: Omit<RunConfig, 'batchNorm'>; target?: number; maxSteps?: number; every?: number } = {},
): Promise<{ withBatchNorm: StepsToTarget; withoutBatchNorm: StepsToTarget }> {
  const limits = { target, maxSteps, every };
  return {
    withBatchNorm: await stepsToAccuracy(device, dataset, { ...run, batchNorm: true }, limits),
    withoutBatchNorm: await stepsToAccuracy(device, dataset, { ...run, batchNorm: false }, limits),
  };
}
