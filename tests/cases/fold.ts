// Folding batch norm into the layer before it, for inference: foldedAffine() is
// batch norm's eval-mode map, Linear.foldBatchNorm and Sequential.fold() remove the
// batch-norm layers, and the folded model predicts what the original does in eval.
import { BatchNorm, Linear, ReLU, Sequential, Sigmoid } from '../../src/index.js';
import { check, expectClose, expectError } from '../../support/compare.js';
import { activations, normal } from '../../support/data.js';
import { Y_TOL } from '../../support/tolerances.js';
import { using, type Case } from './case.js';

/** A small network with batch norm in two places, trained a few steps so that its running statistics are its own. */
async function trainedModel(device: GPUDevice): Promise<Sequential> {
  const model = new Sequential(device, [
    new Linear(device, { inFeatures: 6, outFeatures: 16, bias: false, seed: 1 }),
    new BatchNorm(device, { numFeatures: 16, layout: 'NC' }),
    new Sigmoid(device),
    new Linear(device, { inFeatures: 16, outFeatures: 12, seed: 2 }),
    new BatchNorm(device, { numFeatures: 12, axis: -1 }),
    new ReLU(device),
    new Linear(device, { inFeatures: 12, outFeatures: 3, seed: 3 }),
  ]).compile({ optimizer: { type: 'momentum', learningRate: 0.05 } });
  const gamma = normal(12, 4, 1, 0.3);
  const beta = normal(12, 5, 0, 0.5);
  (model.layers[4] as BatchNorm).setState({ gamma, beta });
  for (let step = 0; step < 5; step++) {
    const x = activations('NC', [32, 6], 10 + step);
    model.trainStep(x, Array.from({ length: 32 }, (_, i) => (i * 7 + step) % 3), [32, 6]);
  }
  return model;
}

export const foldCases: Case[] = [
  {
    name: 'foldedAffine() is the eval-mode map: y = x·scale + shift equals forwardArray in eval',
    run: (device) =>
      using(new BatchNorm(device, { numFeatures: 5, layout: 'NCHW' }), async (bn) => {
        bn.setState({ gamma: normal(5, 1, 1, 0.5), beta: normal(5, 2), runningMean: normal(5, 3, 0, 4), runningVar: normal(5, 4).map((v) => 0.3 + v * v) });
        bn.training = false;
        const shape = [3, 5, 2, 3];
        const x = activations('NCHW', shape, 6);
        const { scale, shift } = await bn.foldedAffine();
        const mapped = x.map((v, i) => v * scale[Math.floor(i / 6) % 5] + shift[Math.floor(i / 6) % 5]);
        expectClose('x·scale + shift', mapped, await bn.forwardArray(x, shape), Y_TOL);
      }),
  },
  {
    name: 'Sequential.fold(): no batch-norm layers left, and the same predictions as the model in eval',
    run: async (device) => {
      const model = await trainedModel(device);
      await using(model, async () => {
        const folded = await model.fold();
        await using(folded, async () => {
          check(folded.layers.length === 5, `folded model has ${folded.layers.length} layers, expected 5 (two Linear + BatchNorm pairs folded)`);
          check(folded.layers.every((l) => !('foldedAffine' in l)), 'a batch-norm layer is left in the folded model');
          const x = activations('NC', [40, 6], 99);
          expectClose('folded predictions', await folded.predict(x, [40, 6]), await model.predict(x, [40, 6]), Y_TOL);
        });
      });
    },
  },
  {
    name: 'folding refuses a BatchNorm of another width and one without running statistics',
    run: async (device) => {
      const linear = new Linear(device, { inFeatures: 4, outFeatures: 3, seed: 1 });
      const wide = new BatchNorm(device, { numFeatures: 5, layout: 'NC' });
      const batchOnly = new BatchNorm(device, { numFeatures: 3, layout: 'NC', trackRunningStats: false });
      try {
        await expectError(() => linear.foldBatchNorm(wide), /foldBatchNorm\(\) needs a BatchNorm of 3 features, got 5/);
        await expectError(() => linear.foldBatchNorm(batchOnly), /foldedAffine\(\) needs running statistics/);
      } finally {
        for (const m of [linear, wide, batchOnly]) m.destroy();
      }
    },
  },
];
