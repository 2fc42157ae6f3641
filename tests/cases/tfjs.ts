// Peer parity with TF.js (tfjs-core 4.22 on its webgpu backend, in the same page
// on its own device): training forward, eval forward and gradients agree with ours
// within 1e-4 relative L2 on the same seeded inputs. Browser only: TF.js has no
// webgpu backend in Node, so these cases are not in caseGroups.
//
// Conventions, set explicitly so both compute the same function:
// - TF.js batch norm is tf.batchNorm(x, mean, variance, offset, scale, eps): the
//   caller supplies the statistics. In training they come from tf.moments over
//   every axis but the feature axis, whose variance is the biased one, Σ(x−μ)²/m,
//   the variance PyTorch normalizes with (its unbiased m/(m−1) form only enters
//   the running variance). keepDims puts the statistics in broadcastable shape.
// - tf.batchNorm's varianceEpsilon defaults to 1e-3 (Keras's choice); we pass 1e-5,
//   PyTorch's default and ours.
// - tfjs-core keeps no running statistics (Keras's layer does, with momentum 0.99
//   applied to the old value): in eval we hand it our running mean and variance.
// - Gradients: tf.grads differentiates through tf.moments too, which is what the
//   batch-statistics backward (dx with the Σdy and Σdy·x̂ terms) computes. Its
//   batchNorm gradient needs channels last (see tfjsGradients).
import type * as Tf from '@tensorflow/tfjs-core';
import { BatchNorm, type Layout } from '../../src/index.js';
import { expectClose } from '../../support/compare.js';
import { activations, featuresOf, normal } from '../../support/data.js';
import { loadTfjs, TFJS_EPS, tfjsAxes, tfjsGradients, tfjsTrainingForward } from '../../support/tfjs.js';
import { PEER_TOL } from '../../support/tolerances.js';
import { using, type Case } from './case.js';

/** Reads a tensor back and disposes it. */
async function read(t: Tf.Tensor): Promise<Float32Array> {
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return data;
}

interface Inputs {
  x: Float32Array;
  dy: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

function inputs(layout: Layout, shape: number[], seed: number): Inputs {
  const c = featuresOf(layout, shape);
  const x = activations(layout, shape, seed);
  return {
    x,
    dy: normal(x.length, seed + 1),
    gamma: normal(c, seed + 2, 1, 0.5),
    beta: normal(c, seed + 3, 0, 2),
    runningMean: normal(c, seed + 4, 0, 3),
    runningVar: normal(c, seed + 5).map((v) => 0.2 + v * v),
  };
}

type PeerCheck = (tf: typeof Tf, bn: BatchNorm, layout: Layout, shape: number[], d: Inputs) => Promise<void>;

const trainingForward: PeerCheck = async (tf, bn, layout, shape, d) => {
  const { paramShape } = tfjsAxes(layout, shape);
  const y = tf.tidy(() => tfjsTrainingForward(tf, layout, shape)(tf.tensor(d.x, shape), tf.tensor(d.gamma, paramShape), tf.tensor(d.beta, paramShape)));
  expectClose('y: ours vs TF.js', await bn.forwardArray(d.x, shape), await read(y), PEER_TOL);
};

const evalForward: PeerCheck = async (tf, bn, layout, shape, d) => {
  const { paramShape } = tfjsAxes(layout, shape);
  bn.training = false;
  bn.setState({ runningMean: d.runningMean, runningVar: d.runningVar });
  const p = (v: Float32Array) => tf.tensor(v, paramShape);
  const y = tf.tidy(() => tf.batchNorm(tf.tensor(d.x, shape), p(d.runningMean), p(d.runningVar), p(d.beta), p(d.gamma), TFJS_EPS));
  expectClose('eval y: ours vs TF.js', await bn.forwardArray(d.x, shape), await read(y), PEER_TOL);
};

const gradients: PeerCheck = async (tf, bn, layout, shape, d) => {
  const grads = tfjsGradients(tf, layout, shape);
  const [dx, dgamma, dbeta] = tf.tidy(() => grads(tf.tensor(d.x, shape), tf.tensor(d.gamma), tf.tensor(d.beta), tf.tensor(d.dy, shape)));
  await bn.forwardArray(d.x, shape);
  const ours = await bn.backwardArray(d.dy);
  expectClose('dx: ours vs TF.js', ours.dx, await read(dx), PEER_TOL);
  expectClose('dgamma: ours vs TF.js', ours.dgamma!, await read(dgamma), PEER_TOL);
  expectClose('dbeta: ours vs TF.js', ours.dbeta!, await read(dbeta), PEER_TOL);
};

const SHAPES: [Layout, number[]][] = [
  ['NC', [64, 33]],
  ['NCL', [8, 6, 21]],
  ['NCHW', [8, 16, 12, 12]],
  ['NHWC', [4, 7, 9, 5]],
];

const CHECKS: [string, PeerCheck][] = [
  ['training forward (tf.moments + tf.batchNorm)', trainingForward],
  ['eval forward with our running statistics (tf.batchNorm)', evalForward],
  ['gradients dx, dgamma, dbeta (tf.grads)', gradients],
];

export const tfjsCases: Case[] = SHAPES.flatMap(([layout, shape], s) =>
  CHECKS.map(([what, peerCheck]): Case => ({
    name: `TF.js webgpu agrees within ${PEER_TOL}: ${what}, ${layout} [${shape}]`,
    run: async (device) => {
      const tf = await loadTfjs();
      const d = inputs(layout, shape, 500 + 10 * s);
      await using(new BatchNorm(device, { numFeatures: featuresOf(layout, shape), layout, eps: TFJS_EPS }), async (bn) => {
        bn.setState({ gamma: d.gamma, beta: d.beta });
        await peerCheck(tf, bn, layout, shape, d);
      });
    },
  })),
);
