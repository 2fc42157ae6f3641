// TF.js as a peer, for the tests and the benchmark: loading tfjs-core with its
// webgpu backend, and batch norm written the way a TF.js user writes it.
//
// - TF.js batch norm is tf.batchNorm(x, mean, variance, offset, scale, eps): the
//   caller supplies the statistics. In training they come from tf.moments over
//   every axis but the feature axis, whose variance is the biased one, Σ(x−μ)²/m,
//   the variance PyTorch normalizes with. keepDims puts the statistics in
//   broadcastable shape.
// - tf.batchNorm's varianceEpsilon defaults to 1e-3 (Keras's choice); we pass 1e-5,
//   PyTorch's default and ours.
// - Gradients: tf.grads differentiates through tf.moments too, which is what the
//   batch-statistics backward (dx with the Σdy and Σdy·x̂ terms) computes.
import type * as Tf from '@tensorflow/tfjs-core';
import { FEATURE_AXIS, type Layout } from 'webgpu-batchnorm';

/** The npm packages these cases (and the benchmark's TF.js peer) import in the page. */
export const TFJS_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-core/dist/register_all_gradients', '@tensorflow/tfjs-backend-webgpu'];

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
