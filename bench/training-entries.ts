// The training-step row: the demo's network (examples/training.ts: Linear without bias →
// BatchNorm → sigmoid per hidden layer, Momentum) at batch 256 on batches of the
// demo's data, one Sequential.trainStep per op (forward, loss, backward, update in
// one encoder), from seeded weights; checked once against the float64 network
// reference after one step. The peer trains the same model from the same weights.
import { DEFAULT_DATASET, makeDataset } from '../examples/dataset.js';
import { buildLayers, DEFAULT_RUN, DEMO_LEARNING_RATES, type RunConfig } from '../examples/training.js';
import { BatchNorm, networkReference as R, OPTIMIZER_DEFAULTS, ReferenceBatchNorm, Sequential, uniform } from 'webgpu-batchnorm';
import { TRAINING_TOL as TOL } from '../support/tolerances.js';
import { check, expectClose } from '../support/compare.js';
import { normal } from '../support/data.js';
import { formatMs } from './format.js';
import { upload } from './gpu.js';
import type { BenchEntry, NetworkData, NetworkSpec, OpRow, OursRun } from './types.js';

/**
 * The demo's network and optimizer at batch 256, with Keras's batch-norm conventions so
 * that TF.js's layers compute the same function: momentum 0.01 on the new batch (Keras:
 * 0.99 on the old value) and a biased running variance; eps 1e-5 (TF.js's default is 1e-3).
 */
export const NETWORK: NetworkSpec = {
  inFeatures: DEFAULT_DATASET.features,
  hidden: DEFAULT_RUN.hidden,
  classes: DEFAULT_DATASET.classes,
  batch: 256,
  activation: DEFAULT_RUN.activation,
  batchNorm: { momentum: 0.01, eps: 1e-5, unbiasedRunningVar: false },
  optimizer: { type: 'momentum', learningRate: DEMO_LEARNING_RATES.momentum, beta1: OPTIMIZER_DEFAULTS.momentum.beta1! },
};

/** Training batches rotated between steps. */
const BATCHES = 4;

const f64 = (a: Float32Array) => Float64Array.from(a);

/** The float64 network with seeded parameters (f32 values, so the GPU starts from exactly the same). */
function referenceNetwork(spec: NetworkSpec): R.ReferenceSequential {
  const layers: R.ReferenceLayer[] = [];
  let n = spec.inFeatures;
  const linear = (out: number, bias: boolean) => {
    const bound = 1 / Math.sqrt(n); // PyTorch's initialization
    const seed = 500 + 2 * layers.length;
    layers.push({ kind: 'linear', inFeatures: n, outFeatures: out, weight: f64(uniform(out * n, seed, -bound, bound)), bias: bias ? f64(uniform(out, seed + 1, -bound, bound)) : null });
    n = out;
  };
  for (const width of spec.hidden) {
    linear(width, false);
    const bn = new ReferenceBatchNorm({ ...spec.batchNorm, numFeatures: width, layout: 'NC' });
    bn.state.gamma = f64(normal(width, 600 + layers.length, 1, 0.2));
    bn.state.beta = f64(normal(width, 700 + layers.length, 0, 0.2));
    layers.push({ kind: 'batchnorm', bn }, { kind: spec.activation });
  }
  linear(spec.classes, true);
  return new R.ReferenceSequential(layers);
}

function makeNetworkData(spec: NetworkSpec): NetworkData {
  const { train } = makeDataset();
  const { batch, inFeatures } = spec;
  const batches = Array.from({ length: BATCHES }, (_, b) => ({
    x: train.x.slice(b * batch * inFeatures, (b + 1) * batch * inFeatures),
    labels: train.labels.slice(b * batch, (b + 1) * batch),
  }));
  const ref = referenceNetwork(spec);
  const initial = Object.fromEntries(ref.parameters().map((p) => [p.name, Float32Array.from(p.value)]));
  const { learningRate, beta1 } = spec.optimizer;
  ref.trainStep(batches[0].x, batches[0].labels, batch, new R.ReferenceOptimizer(spec.optimizer.type, { learningRate, beta1 }));
  const expected: Record<string, Float64Array> = Object.fromEntries(ref.parameters().map((p) => [p.name, p.value]));
  ref.layers.forEach((layer, i) => {
    if (layer.kind !== 'batchnorm') return;
    expected[`${i}.runningMean`] = layer.bn.state.runningMean;
    expected[`${i}.runningVar`] = layer.bn.state.runningVar;
  });
  return { batches, initial, expected };
}

let data: NetworkData | undefined;
const networkData = () => (data ??= makeNetworkData(NETWORK));

const runConfig = (spec: NetworkSpec): RunConfig => ({
  ...DEFAULT_RUN,
  batchNorm: true,
  optimizer: spec.optimizer,
  activation: spec.activation,
  hidden: spec.hidden,
  batchSize: spec.batch,
  batchNormOptions: spec.batchNorm,
});

/** Every parameter and each BatchNorm's running statistics, by the names NetworkData uses. */
async function modelState(model: Sequential): Promise<Record<string, Float32Array>> {
  const state = await model.getParameters();
  for (const [i, layer] of model.layers.entries()) {
    if (!(layer instanceof BatchNorm)) continue;
    const s = await layer.getState();
    state[`${i}.runningMean`] = s.runningMean!;
    state[`${i}.runningVar`] = s.runningVar!;
  }
  return state;
}

async function setupOurs(device: GPUDevice, spec: NetworkSpec): Promise<OursRun> {
  const d = networkData();
  const model = new Sequential(device, buildLayers(device, spec.inFeatures, spec.classes, runConfig(spec))).compile({ optimizer: spec.optimizer });
  model.setParameters(d.initial);
  const xs = d.batches.map((b, i) => upload(device, `bench network x ${i}`, b.x));
  const labels = d.batches.map((b, i) => upload(device, `bench network labels ${i}`, b.labels));
  const shape = [spec.batch, spec.inFeatures];
  return {
    encode(encoder, i) {
      model.trainStep(xs[i % BATCHES], labels[i % BATCHES], shape, encoder);
    },
    async verify() {
      const state = await modelState(model);
      const [names, expected] = [state, d.expected].map((o) => Object.keys(o).sort().join(', '));
      check(names === expected, `the model's parameters and statistics are ${names}; expected ${expected}`);
      for (const [name, expected] of Object.entries(d.expected)) expectClose(`after one step: ${name}`, state[name], expected, TOL.parameter);
    },
    destroy() {
      model.destroy();
      for (const b of [...xs, ...labels]) b.destroy();
    },
  };
}

/**
 * Fewest bytes of one step, f32, counting what this model must keep in memory: each
 * parameter and its momentum read and written once (gradients can be fused into the
 * update); each BatchNorm's running mean and variance read and written once; x read
 * twice (forward, and the first layer's dW), labels once; and each layer's output
 * (Linear, BatchNorm, activation; the logits) written by the forward and read once by
 * the backward. Gradients of activations are not counted (a fused kernel keeps them).
 */
function minBytes(spec: NetworkSpec): number {
  const widths = [spec.inFeatures, ...spec.hidden, spec.classes];
  const weights = widths.slice(1).reduce((sum, out, i) => sum + out * widths[i], 0);
  const hidden = spec.hidden.reduce((a, b) => a + b, 0);
  const parameters = weights + 2 * hidden + spec.classes; // W, γ and β, the last layer's bias
  const activations = spec.batch * (3 * hidden + spec.classes);
  const floats = 4 * parameters + 2 * (2 * hidden) + 2 * spec.batch * spec.inFeatures + spec.batch + 2 * activations;
  return 4 * floats;
}

const perSecond = (ms: number) => `${(1000 / ms).toFixed(ms < 10 ? 0 : 1)} steps/s`;

function summary(row: OpRow, peerName: string | undefined): string {
  const ours = `ours ${formatMs(row.latencyMs)} per step, ${perSecond(row.latencyMs)} (one step per submit; ${formatMs(row.throughputMs)}, ${perSecond(row.throughputMs)} with ${row.k} steps per submit)`;
  const peer =
    row.peer.ms === undefined
      ? ''
      : `; ${peerName}: ${formatMs(row.peer.ms)} per step, ${perSecond(row.peer.ms)} (tf.layers dense/batchNormalization/activation, optimizer.minimize, same weights and conventions): ${(row.peer.ms / row.latencyMs).toFixed(1)}× ours`;
  const floor = `floor bytes: parameters and momentum read + written, running statistics read + written, x read twice, labels once, each layer output written + read once (${(row.minBytes / 1e6).toFixed(2)} MB)`;
  return `${ours}${peer}. ${floor}.`;
}

export function trainingEntries(): BenchEntry[] {
  const spec = NETWORK;
  const bytes = minBytes(spec);
  return [
    {
      group: `MLP ${[spec.inFeatures, ...spec.hidden, spec.classes].join('→')}, batch ${spec.batch}`,
      op: 'network training step',
      // the floor's copy kernel moves the same bytes (8 per element), rounded up to whole vec4s
      elements: 4 * Math.ceil(bytes / 32),
      minBytes: bytes,
      setup: (device) => setupOurs(device, spec),
      peer: { op: 'network training step', network: spec, data: networkData },
      summary,
    },
  ];
}
