// Training on the GPU against the float64 network reference (src/nn/reference.ts),
// on seeded data (never zeros), and bad input. Environment-agnostic: the same cases
// run in Node (Dawn) and in a browser page.
// Tolerances (relative L2 over each tensor):
//   linear y, dx, dW, db; activations; loss and dlogits          1e-5
//   every parameter after one or more training steps              1e-4
//   gradients inside a training step                              1e-4
//   each step's update (parameter after − before)                 1e-3
//   GPU gradients against central differences of the GPU's own f32 loss   2e-2
import { BatchNorm, ReferenceBatchNorm } from '../../src/index.js';
import {
  Activation,
  ACTIVATIONS,
  createOptimizer,
  Linear,
  MATMUL_CPU_TUNING,
  MATMUL_GPU_TUNING,
  Optimizer,
  OPTIMIZERS,
  ReLU,
  Sequential,
  Sigmoid,
  SoftmaxCrossEntropy,
  Tanh,
  type Layer,
  type MatmulTuning,
  type OptimizerKind,
  type OptimizerOptions,
  type Parameter,
} from '../../src/nn/index.js';
import * as R from '../../src/nn/reference.js';
import { check, expectClose, expectEqual, expectError } from '../../support/compare.js';
import { TRAINING_TOL } from '../../support/tolerances.js';
import { activations, normal, rng } from '../../support/data.js';
import { counting, download, liveBuffers, TestBuffers } from '../support/gpu.js';
import { using, type Case } from './case.js';
import { foldCases } from './fold.js';

const TOL = TRAINING_TOL;

/** p = 1, lr = 0.1: two steps with gradients 0.5 and then −1, the expected values worked out by hand. */
export const HAND_COMPUTED_STEPS: [OptimizerKind, OptimizerOptions, number, number][] = [
  ['sgd', { learningRate: 0.1 }, 1 - 0.1 * 0.5, 1 - 0.1 * 0.5 + 0.1 * 1],
  // g = grad + 0.2 p: p1 = 1 − 0.1 (0.5 + 0.2) = 0.93
  ['sgd', { learningRate: 0.1, weightDecay: 0.2 }, 1 - 0.1 * (0.5 + 0.2), 0.93 - 0.1 * (-1 + 0.2 * 0.93)],
  // v1 = 0.5, v2 = 0.9 · 0.5 − 1 = −0.55
  ['momentum', { learningRate: 0.1, beta1: 0.9 }, 1 - 0.1 * 0.5, 0.95 + 0.1 * 0.55],
  // Nesterov: p −= lr (g + β v)
  ['momentum', { learningRate: 0.1, beta1: 0.9, nesterov: true }, 1 - 0.1 * (0.5 + 0.9 * 0.5), 0.905 - 0.1 * (-1 + 0.9 * -0.55)],
  // s1 = 0.01 · 0.25 = 0.0025, s2 = 0.99 · 0.0025 + 0.01 · 1 = 0.012475
  ['rmsprop', { learningRate: 0.01, beta2: 0.99, eps: 1e-8 }, 1 - (0.01 * 0.5) / (0.05 + 1e-8), 1 - (0.01 * 0.5) / (0.05 + 1e-8) + 0.01 / (Math.sqrt(0.012475) + 1e-8)],
  // m1 = 0.05, s1 = 0.00025: m̂ = 0.5, ŝ = 0.25; m2 = 0.045 − 0.1 = −0.055, s2 = 0.00024975 + 0.001 = 0.00124975
  ['adam', { learningRate: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 1 - (0.1 * 0.5) / (0.5 + 1e-8),
    1 - (0.1 * 0.5) / (0.5 + 1e-8) - (0.1 * (-0.055 / 0.19)) / (Math.sqrt(0.00124975 / (1 - 0.999 ** 2)) + 1e-8)],
];

// ---- helpers -------------------------------------------------------------------

/** Seeded class ids in [0, classes). */
function labelsFor(rows: number, classes: number, seed: number): Uint32Array<ArrayBuffer> {
  const next = rng(seed);
  return Uint32Array.from({ length: rows }, () => Math.floor(next() * classes));
}

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const minus = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v - b[i]);

/** The float64 twin of a GPU model, with the same weights, batch-norm state and options, read back from the GPU. */
async function mirror(model: Sequential): Promise<R.ReferenceSequential> {
  const layers: R.ReferenceLayer[] = [];
  for (const layer of model.layers) {
    if (layer instanceof Linear) {
      const w = await layer.getWeights();
      layers.push({ kind: 'linear', inFeatures: layer.inFeatures, outFeatures: layer.outFeatures, weight: f64(w.weight), bias: w.bias && f64(w.bias) });
    } else if (layer instanceof BatchNorm) {
      const s = await layer.getState();
      const bn = new ReferenceBatchNorm({ numFeatures: layer.numFeatures, layout: 'NC', eps: layer.eps, momentum: layer.momentum });
      bn.state = { gamma: f64(s.gamma!), beta: f64(s.beta!), runningMean: f64(s.runningMean!), runningVar: f64(s.runningVar!), numBatchesTracked: s.numBatchesTracked! };
      layers.push({ kind: 'batchnorm', bn });
    } else if (layer instanceof Activation) {
      layers.push({ kind: layer.kind });
    } else {
      throw new Error(`no reference for ${layer.name}`);
    }
  }
  return new R.ReferenceSequential(layers);
}

type Network = 'batchnorm-sigmoid' | 'bias-sigmoid' | 'batchnorm-relu' | 'bias-tanh';

/**
 * in → 16 → 16 → classes. With batch norm: Linear without bias → BatchNorm → activation,
 * as the classic batch-norm recipe builds it; without: Linear with bias → activation.
 */
function network(device: GPUDevice, kind: Network, inFeatures: number, classes: number, seed: number): Layer[] {
  const withBn = kind.startsWith('batchnorm');
  const act = () => (kind.endsWith('sigmoid') ? new Sigmoid(device) : kind.endsWith('relu') ? new ReLU(device) : new Tanh(device));
  const hidden = (i: number, n: number, out: number): Layer[] => [
    new Linear(device, { inFeatures: n, outFeatures: out, bias: !withBn, seed: seed + i }),
    ...(withBn ? [new BatchNorm(device, { numFeatures: out, layout: 'NC' })] : []),
    act(),
  ];
  return [...hidden(0, inFeatures, 16), ...hidden(1, 16, 16), new Linear(device, { inFeatures: 16, outFeatures: classes, seed: seed + 2 })];
}

/** Checks every parameter (and batch-norm running statistics) of the model against the reference. */
async function expectSameParameters(model: Sequential, ref: R.ReferenceSequential, label: string) {
  const got = await model.getParameters();
  for (const p of ref.parameters()) expectClose(`${label}: ${p.name}`, got[p.name], p.value, TOL.parameter);
  for (const [i, layer] of model.layers.entries()) {
    const twin = ref.layers[i];
    if (!(layer instanceof BatchNorm) || twin.kind !== 'batchnorm') continue;
    const s = await layer.getState();
    expectClose(`${label}: ${i}.runningMean`, s.runningMean!, twin.bn.state.runningMean, TOL.parameter);
    expectClose(`${label}: ${i}.runningVar`, s.runningVar!, twin.bn.state.runningVar, TOL.parameter);
  }
}

// ---- linear layer ----------------------------------------------------------------

const LINEAR_SHAPES: [number, number, number, boolean, MatmulTuning | undefined][] = [
  // batch, in, out, bias, tuning: none a multiple of the 32 x 32 (CPU) or 64 x 64 (GPU) blocks
  [37, 13, 29, true, undefined],
  [1, 5, 3, false, undefined],
  [70, 33, 65, true, MATMUL_GPU_TUNING],
  [130, 64, 5, false, MATMUL_CPU_TUNING],
  [3, 100, 1, true, { side: 2, depth: 7 }],
];

const linearCases: Case[] = LINEAR_SHAPES.map(([batch, inF, outF, bias, tuning]): Case => ({
  name: `Linear ${inF}→${outF}${bias ? '' : ' (no bias)'}, batch ${batch}${tuning ? `, tuning ${JSON.stringify(tuning)}` : ''}: y, dx, dW, db`,
  run: (device) =>
    using(new Linear(device, { inFeatures: inF, outFeatures: outF, bias, seed: 1, tuning }), async (layer) => {
      const weight = normal(outF * inF, 2, 0, 0.5);
      const biasValues = bias ? normal(outF, 3) : null;
      layer.setWeights({ weight, bias: biasValues });
      const got = await layer.getWeights();
      expectEqual('weight after setWeights', got.weight, weight);
      check((got.bias === null) === !bias, `bias should be ${bias ? 'present' : 'null'}`);
      const x = activations('NC', [batch, inF], 4);
      const dy = normal(batch * outF, 5);
      expectClose('y', await layer.forwardArray(x, [batch, inF]), R.linearForward(x, batch, weight, biasValues, inF, outF), TOL.linear);
      const g = await layer.backwardArray(dy);
      const r = R.linearBackward(x, dy, batch, weight, inF, outF);
      expectClose('dx', g.dx!, r.dx, TOL.linear);
      expectClose('dweight', g.dweight, r.dweight, TOL.linear);
      if (bias) expectClose('dbias', g.dbias!, r.dbias, TOL.linear);
      else check(g.dbias === null, 'dbias should be null without bias');
    }),
}));

linearCases.push(
  {
    name: 'Linear backward without the input gradient: dx null, dW still right',
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new Linear(device, { inFeatures: 6, outFeatures: 7, seed: 6 }), async (layer) => {
          const x = normal(9 * 6, 7);
          const dy = normal(9 * 7, 8);
          const { weight } = await layer.getWeights();
          layer.forward(buffers.upload(x), [9, 6]);
          const g = layer.backward(buffers.upload(dy), undefined, { inputGradient: false });
          check(g.dx === null, 'dx should be null');
          expectClose('dweight', await download(device, g.dweight, 42), R.linearBackward(x, dy, 9, weight, 6, 7).dweight, TOL.linear);
        }),
      ),
  },
  {
    name: 'Linear: more than 65535 blocks fold into a 2D dispatch and stay correct (1→4, batch 262148, 4 x 4 blocks)',
    run: (device) =>
      using(new Linear(device, { inFeatures: 1, outFeatures: 4, seed: 9, tuning: { side: 1, depth: 1 } }), async (layer) => {
        const batch = 65537 * 4;
        const x = normal(batch, 10);
        const w = await layer.getWeights();
        expectClose('y', await layer.forwardArray(x, [batch, 1]), R.linearForward(x, batch, w.weight, w.bias, 1, 4), TOL.linear);
      }),
  },
  {
    name: 'Linear initial weights are uniform in ±1/√in, seeded: the same seed gives the same weights',
    run: async (device) => {
      const make = (seed: number) => using(new Linear(device, { inFeatures: 25, outFeatures: 40, seed }), (l) => l.getWeights());
      const [a, b, c] = await Promise.all([make(11), make(11), make(12)]);
      expectEqual('same seed', a.weight, b.weight);
      check(a.weight.some((v, i) => v !== c.weight[i]), 'a different seed should give different weights');
      const bound = 1 / Math.sqrt(25);
      check([...a.weight, ...a.bias!].every((v) => Math.abs(v) <= bound && v !== 0), `weights outside ±${bound}`);
    },
  },
);

// ---- activations ---------------------------------------------------------------

const activationCases: Case[] = ACTIVATIONS.map((kind): Case => ({
  name: `${kind} forward and backward, shape [7, 11, 13], with saturating inputs up to ±1000`,
  run: (device) =>
    using(new Activation(device, kind), async (layer) => {
      const shape = [7, 11, 13];
      const x = normal(1001, 20, 0, 4);
      x.set([100, -100, 1000, -1000, 30, -30, 1e-3, -1e-3]); // tanh must not return NaN for large |x|
      const dy = normal(1001, 21);
      const y = await layer.forwardArray(x, shape);
      const ry = R.activationForward(kind, x);
      expectClose('y', y, ry, TOL.activation);
      expectClose('dx', (await layer.backwardArray(dy)).dx, R.activationBackward(kind, ry, dy), TOL.activation);
    }),
}));

// ---- softmax cross-entropy --------------------------------------------------------

const lossCases: Case[] = [
  {
    name: 'softmax cross-entropy: loss, accuracy and dlogits, 50 rows x 7 classes, one row of logits near 1e4',
    run: (device) =>
      using(new SoftmaxCrossEntropy(device, { classes: 7 }), async (loss) => {
        const rows = 50;
        const z = normal(rows * 7, 30, 0, 3);
        for (let j = 0; j < 7; j++) z[7 + j] += 1e4; // stable only if the row max is subtracted
        const labels = labelsFor(rows, 7, 31);
        const got = await loss.forwardArray(z, labels, [rows, 7]);
        const r = R.softmaxCrossEntropy(z, labels, rows, 7);
        expectClose('loss', [got.loss], [r.loss], TOL.loss);
        check(got.accuracy === r.correct / rows, `accuracy ${got.accuracy}, expected ${r.correct / rows}`);
        check(got.batches === 1 && got.rows === rows && got.badLabels === 0, `counts ${JSON.stringify(got)}`);
        expectClose('dlogits', got.dlogits!, r.dlogits, TOL.loss);
      }),
  },
  {
    name: 'softmax cross-entropy keeps a running total on the GPU over batches; read() returns the mean and starts again',
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new SoftmaxCrossEntropy(device, { classes: 4 }), async (loss) => {
          const batches = [[16, 40], [9, 41], [16, 42]];
          let expected = 0;
          let correct = 0;
          const encoder = device.createCommandEncoder({ label: 'three batches' });
          for (const [rows, seed] of batches) {
            const z = normal(rows * 4, seed);
            const labels = labelsFor(rows, 4, seed + 100);
            loss.forward(buffers.upload(z), buffers.upload(labels), [rows, 4], encoder);
            const r = R.softmaxCrossEntropy(z, labels, rows, 4);
            expected += r.loss / batches.length;
            correct += r.correct;
          }
          const got = await loss.read(encoder);
          expectClose('mean loss', [got.loss], [expected], TOL.loss);
          check(got.batches === 3 && got.rows === 41, `counts ${JSON.stringify(got)}`);
          check(got.accuracy === correct / 41, `accuracy ${got.accuracy}, expected ${correct / 41}`);
          const empty = await loss.read();
          check(empty.batches === 0 && Number.isNaN(empty.loss), `after read(), the total should be empty: ${JSON.stringify(empty)}`);
        }),
      ),
  },
  {
    name: 'softmax cross-entropy: a GPU label out of range is counted, makes the loss NaN, and its row gets no gradient',
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new SoftmaxCrossEntropy(device, { classes: 3 }), async (loss) => {
          const z = normal(12, 50);
          const labels = Uint32Array.from([0, 7, 2, 1]);
          const grad = loss.forward(buffers.upload(z), buffers.upload(labels), [4, 3])!;
          const dlogits = await download(device, grad, 12);
          const reading = await loss.read();
          check(reading.badLabels === 1 && Number.isNaN(reading.loss), `reading ${JSON.stringify(reading)}`);
          expectEqual('row 1 of dlogits', dlogits.slice(3, 6), [0, 0, 0]);
          const valid = R.softmaxCrossEntropy([...z.slice(0, 3), ...z.slice(6)], [0, 2, 1], 3, 3);
          // the good rows keep the gradient of the mean over all 4 rows
          expectClose('good rows of dlogits', [...dlogits.slice(0, 3), ...dlogits.slice(6)], valid.dlogits.map((v) => (v * 3) / 4), TOL.loss);
        }),
      ),
  },
];

// ---- optimizers --------------------------------------------------------------------

/** A parameter on the GPU whose gradient buffer the test swaps between steps. */
function parameter(buffers: TestBuffers, name: string, values: Float32Array<ArrayBuffer>, grads: GPUBuffer[]): Parameter & { step: number } {
  return {
    name,
    value: buffers.upload(values, name),
    size: values.length,
    step: 0,
    get grad() {
      return grads[this.step];
    },
  };
}

const optimizerCases: Case[] = [
  ...HAND_COMPUTED_STEPS.map(([kind, options, first, second]): Case => ({
    name: `${kind} ${JSON.stringify(options)} on the GPU: two steps (gradients 0.5, then −1) match the values worked out by hand`,
    run: (device) =>
      using(new TestBuffers(device), async (buffers) => {
        const p = parameter(buffers, 'p', new Float32Array(5).fill(1), [buffers.upload(new Float32Array(5).fill(0.5)), buffers.upload(new Float32Array(5).fill(-1))]);
        await using(createOptimizer(device, [p], { type: kind, ...options }), async (opt) => {
          opt.step();
          expectClose('after step 1', await download(device, p.value, 5), new Array(5).fill(first), 1e-6);
          p.step = 1;
          opt.step();
          expectClose('after step 2', await download(device, p.value, 5), new Array(5).fill(second), 1e-6);
        });
      }),
  })),
  ...OPTIMIZERS.map((kind): Case => ({
    name: `${kind} with weight decay: 4 steps recorded into one encoder (the step count stays on the GPU) match the reference on 2 parameters`,
    run: (device) =>
      using(new TestBuffers(device), async (buffers) => {
        const options: OptimizerOptions = { learningRate: 0.05, weightDecay: 0.01, ...(kind === 'momentum' ? { nesterov: true } : {}) };
        const sizes = { a: 1000, b: 3 };
        const values = Object.fromEntries(Object.entries(sizes).map(([name, n], i) => [name, normal(n, 60 + i)]));
        const grads = Object.fromEntries(Object.entries(sizes).map(([name, n], i) => [name, [0, 1, 2, 3].map((s) => normal(n, 70 + 10 * i + s, 0, 0.3))]));
        const params = Object.keys(sizes).map((name) => parameter(buffers, name, values[name], grads[name].map((g) => buffers.upload(g))));
        const ref = new R.ReferenceOptimizer(kind, options);
        const refValues = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, f64(v)]));
        await using(createOptimizer(device, params, { type: kind, ...options }), async (opt) => {
          const encoder = device.createCommandEncoder({ label: '4 optimizer steps' });
          for (let s = 0; s < 4; s++) {
            for (const p of params) p.step = s;
            opt.step(encoder);
            ref.update(Object.keys(sizes).map((name) => ({ name, value: refValues[name], grad: grads[name][s] })));
          }
          device.queue.submit([encoder.finish()]);
          for (const p of params) expectClose(p.name, await download(device, p.value, sizes[p.name as 'a' | 'b']), refValues[p.name], 1e-5);
        });
      }),
  })),
  {
    name: 'setOptions() changes the learning rate of the steps submitted after it',
    run: (device) =>
      using(new TestBuffers(device), async (buffers) => {
        const p = parameter(buffers, 'p', new Float32Array(4).fill(1), [buffers.upload(new Float32Array(4).fill(0.5))]);
        await using(createOptimizer(device, [p], { type: 'sgd', learningRate: 0.1 }), async (opt) => {
          opt.step();
          opt.setOptions({ learningRate: 0.2 });
          opt.step();
          check(opt.options.learningRate === 0.2, `options ${JSON.stringify(opt.options)}`);
          expectClose('p', await download(device, p.value, 4), new Array(4).fill(1 - 0.1 * 0.5 - 0.2 * 0.5), 1e-6);
        });
      }),
  },
];

// ---- whole networks ----------------------------------------------------------------

function trainingStepCase(net: Network, kind: OptimizerKind, options: OptimizerOptions): Case {
  const steps = 3;
  return {
    name: `${net} network, ${kind} ${JSON.stringify(options)}: ${steps} training steps match the float64 reference (parameters, gradients, updates, loss, running statistics)`,
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new Sequential(device, network(device, net, 10, 4, 80)), async (model) => {
          const rows = 24;
          const shape = [rows, 10];
          model.compile({ optimizer: { type: kind, ...options } });
          const ref = await mirror(model);
          const refOpt = new R.ReferenceOptimizer(kind, options);
          let refLoss = 0;
          for (let s = 0; s < steps; s++) {
            const x = activations('NC', shape, 90 + s);
            const labels = labelsFor(rows, 4, 95 + s);
            const before = await model.getParameters();
            const refBefore = Object.fromEntries(ref.parameters().map((p) => [p.name, p.value.slice()]));
            // the first step from typed arrays, the others from GPU buffers
            if (s === 0) model.trainStep(x, labels, shape);
            else model.trainStep(buffers.upload(x), buffers.upload(labels), shape);
            refLoss += ref.trainStep(x, labels, rows, refOpt).loss / steps;

            const label = `step ${s + 1}`;
            await expectSameParameters(model, ref, label);
            const after = await model.getParameters();
            for (const p of model.parameters()) {
              const r = ref.parameters().find((q) => q.name === p.name)!;
              expectClose(`${label}: gradient of ${p.name}`, await download(device, p.grad!, p.size!), r.grad, TOL.gradient);
              expectClose(`${label}: update of ${p.name}`, minus(after[p.name], before[p.name]), minus(r.value, refBefore[p.name]), TOL.update);
            }
          }
          const reading = await model.readLoss();
          check(reading.batches === steps, `readLoss() counted ${reading.batches} batches, expected ${steps}`);
          expectClose('mean training loss', [reading.loss], [refLoss], TOL.loss);
        }),
      ),
  };
}

const networkCases: Case[] = [
  // Adam and RMSprop move every parameter by about lr · g/|g| whatever the gradient's size:
  // at their usual learning rates, not at SGD's.
  ...OPTIMIZERS.flatMap((kind) => {
    const options = { learningRate: kind === 'adam' || kind === 'rmsprop' ? 0.01 : 0.1 };
    return [trainingStepCase('batchnorm-sigmoid', kind, options), trainingStepCase('bias-sigmoid', kind, options)];
  }),
  trainingStepCase('batchnorm-relu', 'momentum', { learningRate: 0.05, beta1: 0.8, nesterov: true, weightDecay: 1e-3 }),
  trainingStepCase('bias-tanh', 'rmsprop', { learningRate: 0.01, beta2: 0.9, eps: 1e-6, weightDecay: 1e-3 }),
  {
    name: 'a 150-step loop over random batch sizes keeps its live buffers bounded (8 shapes a layer), with parameters matching the reference every 25 steps',
    run: (device) =>
      // readback buffers are left out: each module keeps up to 4 of them, whatever the shapes
      liveBuffers(device, (label) => !label.includes(' readback '), async (live) => {
        await using(new Sequential(device, network(device, 'batchnorm-relu', 10, 4, 150)), async (model) => {
          model.compile({ optimizer: { type: 'sgd', learningRate: 0.05 } });
          const refOpt = new R.ReferenceOptimizer('sgd', { learningRate: 0.05 });
          let ref = await mirror(model);
          const pick = rng(151);
          const counts: number[] = [];
          for (let s = 0; s < 150; s++) {
            const rows = 2 + Math.floor(pick() * 60);
            const x = activations('NC', [rows, 10], 152 + s);
            const labels = labelsFor(rows, 4, 153 + s);
            model.trainStep(x, labels, [rows, 10]);
            ref.trainStep(x, labels, rows, refOpt);
            counts.push(live());
            if (s % 25 === 24) {
              await expectSameParameters(model, ref, `step ${s + 1}, batch ${rows}`);
              ref = await mirror(model); // float32 and float64 drift apart over many steps: start again level
            }
          }
          // by step 50 every layer has met more than 8 batch sizes: from then on, no growth
          const early = Math.max(...counts.slice(0, 50));
          const late = Math.max(...counts.slice(50));
          check(late <= early, `live buffers grew from ${early} (steps 1-50) to ${late} (steps 51-150)`);
        });
        check(live() === 0, `${live()} buffers still alive after destroy()`);
      }),
  },
  {
    name: 'evaluate() and predict() use running statistics (eval mode) and restore training mode; they match the reference in eval',
    run: (device) =>
      using(new Sequential(device, network(device, 'batchnorm-sigmoid', 10, 4, 100)), async (model) => {
        model.compile({ optimizer: { type: 'adam', learningRate: 0.01 } });
        const ref = await mirror(model);
        const refOpt = new R.ReferenceOptimizer('adam', { learningRate: 0.01 });
        for (let s = 0; s < 2; s++) {
          const x = activations('NC', [32, 10], 110 + s);
          const labels = labelsFor(32, 4, 115 + s);
          model.trainStep(x, labels, [32, 10]);
          ref.trainStep(x, labels, 32, refOpt);
        }
        const heldOut = activations('NC', [45, 10], 120);
        const labels = labelsFor(45, 4, 121);
        const result = await model.evaluate(heldOut, labels, [45, 10]);
        check(model.training, 'evaluate() should restore training mode');
        ref.training = false;
        const logits = ref.forward(heldOut, 45);
        const r = R.softmaxCrossEntropy(logits, labels, 45, 4);
        expectClose('held-out loss', [result.loss], [r.loss], TOL.loss);
        check(result.accuracy === r.correct / 45, `accuracy ${result.accuracy}, expected ${r.correct / 45}`);
        expectClose('predict() logits', await model.predict(heldOut, [45, 10]), logits, TOL.parameter);
        model.eval();
        expectClose('predict() in eval mode', await model.predict(heldOut, [45, 10]), logits, TOL.parameter);
        check(!model.training && model.layers.every((l) => !l.training), 'eval() should switch every layer');
      }),
  },
  {
    name: 'GPU gradients of a tiny network match central differences of the GPU loss (Linear → BatchNorm → tanh → Linear, batch 6)',
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new SoftmaxCrossEntropy(device, { classes: 3 }), (lossFn) =>
          using(
            new Sequential(device, [
              new Linear(device, { inFeatures: 3, outFeatures: 4, bias: false, seed: 130 }),
              new BatchNorm(device, { numFeatures: 4, layout: 'NC' }),
              new Tanh(device),
              new Linear(device, { inFeatures: 4, outFeatures: 3, seed: 131 }),
            ]),
            async (model) => {
              const shape = [6, 3];
              const x = buffers.upload(activations('NC', shape, 132));
              const labels = buffers.upload(labelsFor(6, 3, 133));
              const loss = async () => {
                const encoder = device.createCommandEncoder({ label: 'finite difference' });
                lossFn.forward(model.forward(x, shape, encoder), labels, [6, 3], encoder);
                return (await lossFn.read(encoder)).loss;
              };
              const encoder = device.createCommandEncoder({ label: 'gradients' });
              model.backward(lossFn.forward(model.forward(x, shape, encoder), labels, [6, 3], encoder)!, encoder);
              device.queue.submit([encoder.finish()]);
              const h = 1e-2;
              for (const p of model.parameters()) {
                const analytic = await download(device, p.grad!, p.size!);
                const values = await download(device, p.value, p.size!);
                const numeric = new Float64Array(p.size!);
                for (let i = 0; i < p.size!; i++) {
                  const set = (v: number) => device.queue.writeBuffer(p.value, i * 4, new Float32Array([v]));
                  set(values[i] + h);
                  const up = await loss();
                  set(values[i] - h);
                  const down = await loss();
                  set(values[i]);
                  numeric[i] = (up - down) / (2 * h);
                }
                expectClose(`d loss / d ${p.name}`, analytic, numeric, TOL.finiteDifference);
              }
            },
          ),
        ),
      ),
  },
];

// ---- the GPU-resident API --------------------------------------------------------------

const apiCases: Case[] = [
  {
    name: 'a steady training loop (50 steps, loss read every 10) creates no buffers or bind groups and submits once per step',
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new Sequential(device, network(device, 'batchnorm-sigmoid', 10, 4, 140)), async (model) => {
          model.compile({ optimizer: { type: 'adam', learningRate: 0.01 } });
          const shape = [32, 10];
          const xs = [0, 1].map((s) => buffers.upload(activations('NC', shape, 141 + s)));
          const labels = [0, 1].map((s) => buffers.upload(labelsFor(32, 4, 143 + s)));
          const step = (i: number) => model.trainStep(xs[i % 2], labels[i % 2], shape);
          step(0);
          step(1); // the first use of each input builds its bind groups
          await model.readLoss();
          const losses: number[] = [];
          await counting(device, async (counts) => {
            for (let i = 0; i < 50; i++) {
              step(i);
              if (i % 10 === 9) losses.push((await model.readLoss()).loss);
            }
            check(counts.buffers === 0, `the loop created ${counts.buffers} buffers`);
            check(counts.bindGroups === 0, `the loop created ${counts.bindGroups} bind groups`);
            check(counts.submits === 55, `the loop submitted ${counts.submits} times, expected 50 steps + 5 loss reads`);
          });
          check(losses.every(Number.isFinite) && losses[4] < losses[0], `the loss should fall: ${losses.join(', ')}`);
        }),
      ),
  },
  {
    name: "trainStep() into the caller's encoder records without submitting; three steps in one encoder match three steps of the reference",
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new Sequential(device, network(device, 'batchnorm-sigmoid', 10, 4, 150)), async (model) => {
          model.compile({ optimizer: { type: 'adam', learningRate: 0.01 } });
          const ref = await mirror(model);
          const refOpt = new R.ReferenceOptimizer('adam', { learningRate: 0.01 });
          const encoder = device.createCommandEncoder({ label: 'three steps' });
          await counting(device, async (counts) => {
            for (let s = 0; s < 3; s++) {
              const x = activations('NC', [20, 10], 151 + s);
              const labels = labelsFor(20, 4, 155 + s);
              model.trainStep(buffers.upload(x), buffers.upload(labels), [20, 10], encoder);
              ref.trainStep(x, labels, 20, refOpt);
            }
            check(counts.submits === 0, `recording submitted ${counts.submits} times`);
          });
          device.queue.submit([encoder.finish()]);
          await expectSameParameters(model, ref, 'after 3 steps in one encoder');
        }),
      ),
  },
  {
    name: 'setParameters() writes what getParameters() reads, by name; a bad name or length throws before anything is written',
    run: (device) =>
      using(new Sequential(device, network(device, 'batchnorm-sigmoid', 10, 4, 165)), async (model) => {
        const before = await model.getParameters();
        const weight = normal(16 * 10, 166);
        const gamma = normal(16, 167, 1, 0.2);
        model.setParameters({ '0.weight': weight, '1.gamma': gamma });
        const after = await model.getParameters();
        expectEqual('0.weight', after['0.weight'], weight);
        expectEqual('1.gamma', after['1.gamma'], gamma);
        expectEqual('1.beta (not set)', after['1.beta'], before['1.beta']);
        await expectError(() => model.setParameters({ '0.weight': before['0.weight'], '9.weight': weight }), /setParameters\(\): no parameter 9\.weight; the parameters are 0\.weight, 1\.gamma, 1\.beta, 3\.weight/);
        await expectError(() => model.setParameters({ '0.weight': before['0.weight'], '1.beta': normal(15, 1) }), /1\.beta has 15 elements, but 16 are expected/);
        expectEqual('0.weight after the bad calls', (await model.getParameters())['0.weight'], weight);
      }),
  },
  {
    name: "destroy() leaves the caller's buffers usable and an optimizer passed to compile() alive",
    run: (device) =>
      using(new TestBuffers(device), async (buffers) => {
        const x = activations('NC', [8, 10], 160);
        const xb = buffers.upload(x);
        const labels = buffers.upload(labelsFor(8, 4, 161));
        const model = new Sequential(device, network(device, 'bias-sigmoid', 10, 4, 162));
        const optimizer = createOptimizer(device, model.parameters(), { type: 'sgd', learningRate: 0.1 });
        model.compile({ optimizer });
        model.trainStep(xb, labels, [8, 10]);
        model.destroy();
        expectEqual('x after destroy()', await download(device, xb, x.length), x);
        check(optimizer instanceof Optimizer && optimizer.parameters.length === 6, 'the optimizer should still list its parameters');
        optimizer.destroy();
      }),
  },
];

// ---- bad input -----------------------------------------------------------------------

const rejects = (name: string, pattern: RegExp, call: (device: GPUDevice) => unknown): Case => ({
  name: `${name} throws`,
  run: (device) => expectError(() => call(device), pattern),
});

/**
 * A bad call between two good training steps: it must throw, and the two good steps
 * must still match two steps of the reference (parameters, optimizer state and step
 * count, running statistics), and the loss total hold exactly those two steps.
 */
function rejectsAndChangesNothing(name: string, pattern: RegExp, call: (model: Sequential, buffers: TestBuffers) => unknown): Case {
  return {
    name: `${name} throws and changes nothing`,
    run: (device) =>
      using(new TestBuffers(device), (buffers) =>
        using(new Sequential(device, network(device, 'batchnorm-sigmoid', 10, 4, 170)), async (model) => {
          model.compile({ optimizer: { type: 'adam', learningRate: 0.01 } });
          const ref = await mirror(model);
          const refOpt = new R.ReferenceOptimizer('adam', { learningRate: 0.01 });
          const step = (seed: number) => {
            const x = activations('NC', [16, 10], seed);
            const labels = labelsFor(16, 4, seed + 1);
            model.trainStep(x, labels, [16, 10]);
            ref.trainStep(x, labels, 16, refOpt);
          };
          step(171);
          const before = await model.getParameters();
          await expectError(() => call(model, buffers), pattern);
          for (const [k, v] of Object.entries(await model.getParameters())) expectEqual(`${k} after the bad call`, v, before[k]);
          step(173);
          await expectSameParameters(model, ref, 'the good step after the bad call');
          check((await model.readLoss()).batches === 2, 'the loss total should hold the two good steps only');
        }),
      ),
  };
}

const bn = (device: GPUDevice, numFeatures: number, layout: 'NC' | 'NCHW' = 'NC') => new BatchNorm(device, { numFeatures, layout });

const validationCases: Case[] = [
  rejects('new Linear with inFeatures 0', /inFeatures must be a positive integer, got 0/, (d) => new Linear(d, { inFeatures: 0, outFeatures: 3 })),
  rejects('new Linear with outFeatures 2.5', /outFeatures must be a positive integer, got 2\.5/, (d) => new Linear(d, { inFeatures: 2, outFeatures: 2.5 })),
  rejects('new Linear with bias "no"', /bias must be a boolean, got "no"/, (d) => new Linear(d, { inFeatures: 2, outFeatures: 3, bias: 'no' as unknown as boolean })),
  rejects('new Linear with PyTorch\'s in_features', /Linear: unknown option in_features \(did you mean inFeatures\?\)/, (d) =>
    new Linear(d, { in_features: 2, inFeatures: 2, outFeatures: 3 } as never)),
  rejects('new Linear with a tuning past the workgroup limit', /tuning\.side must be an integer in \[1, 16\]/, (d) => new Linear(d, { inFeatures: 2, outFeatures: 3, tuning: { side: 32 } })),
  rejects('new Linear with a tuning past the workgroup memory', /needs 32768 bytes of workgroup memory/, (d) => new Linear(d, { inFeatures: 2, outFeatures: 3, tuning: { side: 16, depth: 64 } })),
  rejects('Linear forward with 7 columns for inFeatures 6', /shape \[4, 7\] has 7 columns, but linear\[6→3\] takes 6/, (d) =>
    using(new Linear(d, { inFeatures: 6, outFeatures: 3 }), (l) => l.forwardArray(new Float32Array(28), [4, 7]))),
  rejects('Linear forward with batch 0', /batch must be a positive integer, got 0/, (d) =>
    using(new Linear(d, { inFeatures: 6, outFeatures: 3 }), (l) => l.forwardArray(new Float32Array(0), [0, 6]))),
  rejects('Linear forward with a buffer of the wrong size', /x has 64 bytes, but the shape has 24 f32 elements \(96 bytes\)/, (d) =>
    using(new TestBuffers(d), (b) => using(new Linear(d, { inFeatures: 6, outFeatures: 3 }), async (l) => l.forward(b.upload(new Float32Array(16)), [4, 6])))),
  rejects('Linear forward of its own output', /x is a buffer this layer writes/, (d) =>
    using(new TestBuffers(d), (b) => using(new Linear(d, { inFeatures: 3, outFeatures: 3 }), async (l) => l.forward(l.forward(b.upload(new Float32Array(12)), [4, 3]), [4, 3])))),
  rejects('Linear backward before forward', /backward\(\) called before any forward\(\)/, (d) =>
    using(new TestBuffers(d), (b) => using(new Linear(d, { inFeatures: 3, outFeatures: 3 }), async (l) => l.backward(b.upload(new Float32Array(12)))))),
  rejects('Linear setWeights with a bias on a layer without one', /setWeights\(\): linear\[3→2, no bias\] has no bias/, (d) =>
    using(new Linear(d, { inFeatures: 3, outFeatures: 2, bias: false }), async (l) => l.setWeights({ weight: new Float32Array(6), bias: new Float32Array(2) }))),
  rejects('Linear setWeights with the wrong length', /weight has 5 elements, but 6 are expected/, (d) =>
    using(new Linear(d, { inFeatures: 3, outFeatures: 2 }), async (l) => l.setWeights({ weight: new Float32Array(5) }))),
  rejects('an activation named "gelu"', /activation must be one of relu, sigmoid, tanh, got "gelu"/, (d) => new Activation(d, 'gelu' as 'relu')),
  rejects('an activation with an empty shape', /shape must be a non-empty array of dimensions, got \[\]/, (d) =>
    using(new Sigmoid(d), (a) => a.forwardArray(new Float32Array(1), []))),
  rejects('an activation backward with dy of the wrong size', /dy has 12 elements, but 10 are expected/, (d) =>
    using(new ReLU(d), async (a) => {
      await a.forwardArray(normal(10, 1), [10]);
      return a.backwardArray(new Float32Array(12));
    })),
  rejects('a loss with classes 0', /classes must be a positive integer, got 0/, (d) => new SoftmaxCrossEntropy(d, { classes: 0 })),
  rejects('a loss with a label out of range', /labels\[2\] must be a class id in \[0, 2\], got 3/, (d) =>
    using(new SoftmaxCrossEntropy(d, { classes: 3 }), (l) => l.forwardArray(normal(12, 1), [0, 1, 3, 2], [4, 3]))),
  rejects('a loss with a negative label', /labels\[0\] must be a class id in \[0, 2\], got -1/, (d) =>
    using(new SoftmaxCrossEntropy(d, { classes: 3 }), (l) => l.forwardArray(normal(6, 1), Int32Array.from([-1, 0]), [2, 3]))),
  rejects('a loss with too few labels', /labels has 3 class ids, but the batch has 4 rows/, (d) =>
    using(new SoftmaxCrossEntropy(d, { classes: 3 }), (l) => l.forwardArray(normal(12, 1), [0, 1, 2], [4, 3]))),
  rejects('a loss with a label buffer too small', /labels has 16 bytes, but 5 rows need 20/, (d) =>
    using(new TestBuffers(d), (b) => using(new SoftmaxCrossEntropy(d, { classes: 3 }), async (l) => l.forward(b.upload(normal(15, 1)), b.upload(new Uint32Array(4)), [5, 3])))),
  rejects('an optimizer named "adagrad"', /optimizer must be one of sgd, momentum, rmsprop, adam, got "adagrad"/, (d) =>
    using(new TestBuffers(d), async (b) => new Optimizer(d, 'adagrad' as 'sgd', [{ name: 'p', value: b.upload(normal(4, 1)), grad: null }]))),
  rejects('an optimizer with learningRate -0.1', /learningRate must be a finite number in \[0, Infinity\], got -0\.1/, (d) =>
    using(new TestBuffers(d), async (b) => createOptimizer(d, [{ name: 'p', value: b.upload(normal(4, 1)), grad: null }], { type: 'sgd', learningRate: -0.1 }))),
  rejects('Adam with beta2 1', /beta2 must be a finite number in \[0, 1\), got 1/, (d) =>
    using(new TestBuffers(d), async (b) => createOptimizer(d, [{ name: 'p', value: b.upload(normal(4, 1)), grad: null }], { type: 'adam', beta2: 1 }))),
  rejects("Momentum with PyTorch's momentum option", /momentum: unknown option momentum \(did you mean beta1\?\)/, (d) =>
    using(new TestBuffers(d), async (b) => createOptimizer(d, [{ name: 'p', value: b.upload(normal(4, 1)), grad: null }], { type: 'momentum', momentum: 0.9 } as never))),
  rejects('SGD with beta1, which it does not use', /sgd: unknown option beta1; the options are learningRate, weightDecay/, (d) =>
    using(new TestBuffers(d), async (b) => createOptimizer(d, [{ name: 'p', value: b.upload(normal(4, 1)), grad: null }], { type: 'sgd', beta1: 0.9 }))),
  rejects('an optimizer with no parameters', /parameters is empty/, (d) => createOptimizer(d, [], { type: 'sgd' })),
  rejects('an optimizer with a parameter twice', /parameter name p appears twice/, (d) =>
    using(new TestBuffers(d), async (b) => {
      const value = b.upload(normal(4, 1));
      return createOptimizer(d, [{ name: 'p', value, grad: null }, { name: 'p', value: b.upload(normal(4, 2)), grad: null }], { type: 'sgd' });
    })),
  rejects('an optimizer step before any gradient', /parameter 0\.weight has no gradient yet: run backward\(\) before step\(\)/, (d) =>
    using(new Sequential(d, network(d, 'bias-sigmoid', 3, 2, 1)), async (m) => using(createOptimizer(d, m.parameters(), { type: 'adam' }), async (o) => o.step()))),
  rejects('an optimizer step with a gradient buffer too small', /parameter p: grad has 16 bytes, but the parameter has 8 f32 \(32 bytes\)/, (d) =>
    using(new TestBuffers(d), (b) => using(createOptimizer(d, [{ name: 'p', value: b.upload(normal(8, 1)), grad: b.upload(normal(4, 2)) }], { type: 'sgd' }), async (o) => o.step()))),
  rejects('a Sequential with no layers', /layers must be a non-empty array/, (d) => new Sequential(d, [])),
  rejects('a Sequential whose BatchNorm has the wrong number of features', /layer 1 \(batchnorm\[32 NC\]\) takes 32 features, but the layers before it give 64/, (d) =>
    new Sequential(d, [new Linear(d, { inFeatures: 12, outFeatures: 64 }), bn(d, 32)])),
  rejects('a Sequential whose Linear layers do not chain', /layer 2 \(linear\[8→2\]\) takes 8 features, but the layers before it give 4/, (d) =>
    new Sequential(d, [new Linear(d, { inFeatures: 3, outFeatures: 4 }), new Sigmoid(d), new Linear(d, { inFeatures: 8, outFeatures: 2 })])),
  rejects('a Sequential with a BatchNorm in layout NCHW', /a BatchNorm in a Sequential takes \[batch, features\]: layout 'NC', got "NCHW"/, (d) =>
    new Sequential(d, [new Linear(d, { inFeatures: 3, outFeatures: 4 }), bn(d, 4, 'NCHW')])),
  rejects('a Sequential with the same layer twice', /layer 2 \(sigmoid\) appears twice/, (d) => {
    const s = new Sigmoid(d);
    return new Sequential(d, [new Linear(d, { inFeatures: 3, outFeatures: 3 }), s, s]);
  }),
  rejects('a Sequential of activations only', /layers need at least one Linear or BatchNorm/, (d) => new Sequential(d, [new ReLU(d)])),
  rejects('trainStep() before compile()', /trainStep\(\) needs an optimizer: call compile\(\{ optimizer \}\) first/, (d) =>
    using(new Sequential(d, network(d, 'bias-sigmoid', 3, 2, 1)), async (m) => m.trainStep(normal(12, 1), [0, 1, 0, 1], [4, 3]))),
  rejects('trainStep() in eval mode', /trainStep\(\) needs training mode: call train\(\) first/, (d) =>
    using(new Sequential(d, network(d, 'bias-sigmoid', 3, 2, 1)), async (m) => {
      m.compile({ optimizer: { type: 'sgd' } }).eval();
      return m.trainStep(normal(12, 1), [0, 1, 0, 1], [4, 3]);
    })),
  rejectsAndChangesNothing('trainStep() with a label out of range', /labels\[3\] must be a class id in \[0, 3\], got 4/, (m) =>
    m.trainStep(activations('NC', [16, 10], 1), [0, 1, 2, 4, ...new Array(12).fill(0)], [16, 10])),
  rejectsAndChangesNothing('trainStep() with one row and BatchNorm layers', /Expected more than 1 value per channel when training, got input size \[1, 10\]/, (m) =>
    m.trainStep(activations('NC', [1, 10], 1), [0], [1, 10])),
  rejectsAndChangesNothing('trainStep() with rows of 9 features for 10', /shape \[16, 9\] has 9 columns, but the first layer takes 10/, (m) =>
    m.trainStep(normal(16 * 9, 1), new Array(16).fill(0), [16, 9])),
  rejectsAndChangesNothing('trainStep() with an x buffer of the wrong size', /x has 320 bytes, but the shape has 160 f32 elements \(640 bytes\)/, (m, b) =>
    m.trainStep(b.upload(normal(80, 1)), new Array(16).fill(0), [16, 10])),
];

export const trainingCaseGroups: Record<string, Case[]> = {
  'linear layer against the reference': linearCases,
  'activations against the reference': activationCases,
  'softmax cross-entropy against the reference': lossCases,
  'optimizers: hand-computed values and the reference': optimizerCases,
  'training steps of whole networks against the reference': networkCases,
  'GPU-resident training API': apiCases,
  'bad input': validationCases,
  'folding batch norm for inference': foldCases,
};
