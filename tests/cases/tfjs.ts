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
import { FEATURE_AXIS } from '../../src/layout.js';
import { expectClose } from '../support/compare.js';
import { activations, featuresOf, normal } from '../support/data.js';
import { using, type Case } from './case.js';

/** The npm packages these cases (and the benchmark's TF.js peer) import in the page. */
export const TFJS_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-core/dist/register_all_gradients', '@tensorflow/tfjs-backend-webgpu'];

/** Peer agreement, relative L2. */
export const PEER_TOL = 1e-4;
/** PyTorch's default eps (TF.js's own default is 1e-3). */
export const TFJS_EPS = 1e-5;

let loading: Promise<typeof Tf> | undefined;

/** tfjs-core with its webgpu backend active (loaded on first use, so importing this module in Node is harmless). */
export function loadTfjs(): Promise<typeof Tf> {
  loading ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-core/dist/register_all_gradients'); // tfjs-core alone has no gradients (the tfjs bundle adds them)
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not start its webgpu backend');
    return tf;
  })();
  return loading;
}

/** Axes TF.js reduces over, and the shape (keepDims, same rank as x) that gamma, beta and the statistics broadcast from. */
export function tfjsAxes(layout: Layout, shape: readonly number[]): { axes: number[]; paramShape: number[] } {
  const axis = FEATURE_AXIS[layout];
  return {
    axes: shape.map((_, i) => i).filter((i) => i !== axis),
    paramShape: shape.map((d, i) => (i === axis ? d : 1)),
  };
}

/** TF.js training-mode batch norm: y = batchNorm(x) with the batch's own (biased) statistics; gamma and beta in paramShape. */
export function tfjsTrainingForward(tf: typeof Tf, layout: Layout, shape: readonly number[]) {
  const { axes } = tfjsAxes(layout, shape);
  return (x: Tf.Tensor, gamma: Tf.Tensor, beta: Tf.Tensor): Tf.Tensor => {
    const { mean, variance } = tf.moments(x, axes, true);
    return tf.batchNorm(x, mean, variance, beta, gamma, TFJS_EPS);
  };
}

/**
 * TF.js gradients of training-mode batch norm: (x, gamma [C], beta [C], dy) => [dx, dgamma, dbeta].
 * TF.js's batchNorm gradient only reduces over the leading axes with rank-1 statistics
 * (channels last), so channels-first data is transposed to channels last and back
 * around it, as a TF.js user has to.
 */
export function tfjsGradients(tf: typeof Tf, layout: Layout, shape: readonly number[]) {
  const rank = shape.length;
  const axis = FEATURE_AXIS[layout];
  const toLast = [...shape.keys()].filter((i) => i !== axis).concat(axis);
  const fromLast = toLast.map((_, i) => toLast.indexOf(i));
  const channelsLast = axis === rank - 1;
  const f = (x: Tf.Tensor, gamma: Tf.Tensor, beta: Tf.Tensor) => {
    const xl = channelsLast ? x : tf.transpose(x, toLast);
    const { mean, variance } = tf.moments(xl, [...Array(rank - 1).keys()]);
    const y = tf.batchNorm(xl, mean, variance, beta, gamma, TFJS_EPS);
    return channelsLast ? y : tf.transpose(y, fromLast);
  };
  const g = tf.grads(f);
  return (x: Tf.Tensor, gamma: Tf.Tensor, beta: Tf.Tensor, dy: Tf.Tensor): Tf.Tensor[] => g([x, gamma, beta], dy);
}

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
