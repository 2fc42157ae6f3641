// TF.js 4.22 training the benchmark's network (bench/training-entries.ts) the way a
// Keras user writes it: tf.sequential of dense (no bias) → batchNormalization →
// activation per hidden layer and a dense layer with bias, softmax cross-entropy,
// tf.train.momentum, one optimizer.minimize() per step, on its webgpu backend in the
// same page. Conventions set to ours explicitly: Keras's momentum weighs the old
// running value (1 − ours), its moving variance is biased (ours with
// unbiasedRunningVar: false, which NETWORK sets), and epsilon is passed (its default
// is 1e-3). Same weights as ours (its kernels are [in, out], our Linear weights [out, in]).
import type * as Tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { LayerVariable, Sequential } from '@tensorflow/tfjs-layers';
import { loadTfjs } from '../support/tfjs.js';
import { PEER_TOL } from '../support/tolerances.js';
import { check, expectClose } from '../support/compare.js';
import { flush } from './tfjs-backend.js';
import type { NetworkSpec, NetworkTask, PeerRun } from './types.js';

/** The npm package the page needs beside support/tfjs.ts's TFJS_PACKAGES. */
export const TFJS_LAYERS = '@tensorflow/tfjs-layers';

async function buildModel(spec: NetworkSpec): Promise<Sequential> {
  await loadTfjs(); // tfjs-core on its webgpu backend, which the layers use
  const tfl = await import('@tensorflow/tfjs-layers');
  const layers = spec.hidden.flatMap((units, i) => [
    tfl.layers.dense({ units, useBias: false, ...(i === 0 ? { inputShape: [spec.inFeatures] } : {}) }),
    tfl.layers.batchNormalization({ momentum: 1 - spec.batchNorm.momentum, epsilon: spec.batchNorm.eps }),
    tfl.layers.activation({ activation: spec.activation }),
  ]);
  layers.push(tfl.layers.dense({ units: spec.classes, useBias: true }));
  return tfl.sequential({ layers });
}

/** Each weight of the model under our name for it, in layer order (our layer i is its layer i). */
function namedWeights(model: Sequential): { name: string; variable: LayerVariable; kernel: boolean }[] {
  return model.layers.flatMap((layer, i) => {
    const names = layer.getClassName() === 'Dense' ? ['weight', 'bias'] : ['gamma', 'beta', 'runningMean', 'runningVar'];
    return layer.weights.map((variable, k) => ({ name: `${i}.${names[k]}`, variable, kernel: names[k] === 'weight' }));
  });
}

export async function prepareNetworkStep(task: NetworkTask): Promise<PeerRun> {
  const tf = await loadTfjs();
  const backend = tf.backend() as WebGPUBackend;
  const spec = task.network;
  const d = task.data();
  const model = await buildModel(spec);
  const weights = namedWeights(model);
  const names = weights.map((w) => w.name).sort();
  const expected = Object.keys(d.expected).sort();
  check(names.join() === expected.join(), `the TF.js model's weights are ${names.join(', ')}; expected ${expected.join(', ')}`);
  for (const { name, variable, kernel } of weights) {
    const values = d.initial[name];
    if (!values) continue; // the running statistics start as ours do: mean 0, variance 1
    const shape = variable.shape as number[];
    tf.tidy(() => {
      variable.write(kernel ? tf.transpose(tf.tensor2d(values, [shape[1], shape[0]])) : tf.tensor(values, shape));
    });
  }
  const optimizer = tf.train.momentum(spec.optimizer.learningRate, spec.optimizer.beta1);
  const inputs = d.batches.map((b) => ({
    x: tf.tensor2d(b.x, [spec.batch, spec.inFeatures]),
    y: tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(b.labels), 'int32'), spec.classes, 1, 0, 'float32')),
  }));
  for (const { x, y } of inputs) for (const t of [x, y]) backend.uploadToGPU(t.dataId); // on the GPU before timing
  await flush(backend);

  return {
    async run(i) {
      const { x, y } = inputs[i % inputs.length];
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as Tf.Tensor) as Tf.Scalar);
      await flush(backend);
    },
    async verify() {
      for (const { name, variable, kernel } of weights) {
        const value = variable.read();
        const ours = kernel ? tf.transpose(value) : value;
        const got = (await ours.data()) as Float32Array;
        if (ours !== value) ours.dispose();
        expectClose(`TF.js after one step: ${name}`, got, d.expected[name], PEER_TOL);
      }
    },
    destroy() {
      optimizer.dispose();
      model.dispose();
      tf.dispose(inputs.flatMap(({ x, y }) => [x, y]));
    },
  };
}
