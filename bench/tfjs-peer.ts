// TF.js 4.22 on its webgpu backend (its own device, in the same page) doing the
// benchmark's batch-norm ops the way a TF.js user would: tf.moments + tf.batchNorm
// for training forward, tf.batchNorm with running statistics for eval, tf.grads
// for a training step. Conventions as in support/tfjs.ts (biased variance,
// eps 1e-5 passed explicitly). The network's training step: tfjs-network-peer.ts.
import type * as Tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { loadTfjs, TFJS_EPS, tfjsAxes, tfjsGradients, tfjsTrainingForward } from '../support/tfjs.js';
import { PEER_TOL } from '../support/tolerances.js';
import { expectClose } from '../support/compare.js';
import { flush } from './tfjs-backend.js';
import { prepareNetworkStep } from './tfjs-network-peer.js';
import type { BatchNormTask, Peer, PeerRun } from './types.js';

async function prepareBatchNorm(task: BatchNormTask): Promise<PeerRun> {
  const tf = await loadTfjs();
  const backend = tf.backend() as WebGPUBackend;
  const { op, layout, shape } = task;
  const d = task.data();
  const { paramShape } = tfjsAxes(layout, shape);
  const inputs: Tf.Tensor[] = [];
  const tensor = (values: Float32Array, s: number[]) => {
    const t = tf.tensor(values, s);
    backend.uploadToGPU(t.dataId); // inputs live on the GPU before timing, as a model's activations would
    inputs.push(t);
    return t;
  };
  const xs = d.x.map((v) => tensor(v, shape));
  const dys = op === 'training step' ? d.dy.map((v) => tensor(v, shape)) : [];
  const param = (v: Float32Array) => tensor(v, op === 'training step' ? [v.length] : paramShape);
  const [gamma, beta, runningMean, runningVar] = [d.gamma, d.beta, d.runningMean, d.runningVar].map(param);
  const at = (list: Tf.Tensor[], i: number) => list[i % list.length];

  const forward = tfjsTrainingForward(tf, layout, shape);
  const grads = tfjsGradients(tf, layout, shape);
  const compute: Record<string, (i: number) => Tf.Tensor[]> = {
    'training forward': (i) => [forward(at(xs, i), gamma, beta)],
    'eval forward': (i) => [tf.batchNorm(at(xs, i), runningMean, runningVar, beta, gamma, TFJS_EPS)],
    'training step': (i) => grads(at(xs, i), gamma, beta, at(dys, i)),
  };

  await flush(backend); // the uploads, so that the first timed op does not carry them

  let outputs: Tf.Tensor[] = [];
  return {
    async run(i) {
      tf.dispose(outputs);
      outputs = tf.tidy(() => compute[op](i));
      await flush(backend);
    },
    async verify() {
      const data = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
      const e = d.expected;
      if (op === 'training step') {
        expectClose('TF.js dx', data[0], e.dx, PEER_TOL);
        expectClose('TF.js dgamma', data[1], e.dgamma, PEER_TOL);
        expectClose('TF.js dbeta', data[2], e.dbeta, PEER_TOL);
      } else {
        expectClose('TF.js y', data[0], op === 'eval forward' ? e.evalY : e.trainY, PEER_TOL);
      }
    },
    destroy() {
      tf.dispose([...outputs, ...inputs]);
    },
  };
}

export const tfjsPeer: Peer = {
  name: 'TF.js 4.22 webgpu',
  unsupported: (task) =>
    task.op === 'backward' ? 'n/a: TF.js has no backward on its own (tf.grads runs the forward too: see training step)' : undefined,
  prepare: (task) => (task.op === 'network training step' ? prepareNetworkStep(task) : prepareBatchNorm(task)),
};
