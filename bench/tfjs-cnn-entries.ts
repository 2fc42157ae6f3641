// The TF.js CNN rows: a Keras-style CNN in tf.layers on TF.js's webgpu backend (conv2d
// without bias → batchNormalization → relu → maxPooling per block, then flatten →
// dense → softmax cross-entropy, SGD through optimizer.minimize), batch 64 of 32×32×3
// channels last, trained and run (predict) three ways from identical weights:
//
// - stock: TF.js's own BatchNormalization;
// - ours: the same model with useWebGPUBatchNorm (webgpu-batchnorm/tfjs) installed;
// - without batch norm: the same model minus its batchNormalization layers (the convs
//   still without bias, so that nothing else differs), so that
//   a model's time minus this one is its batch-norm layers' own time. (tf.profile's
//   kernel timings cannot say it: our kernels are not TF.js kernels, and SwiftShader's
//   timestamp queries disagree with the wall clock.)
//
// Every time is wall clock from the call until the GPU is done (bench/tfjs-backend.ts
// flush), median of a few steps after one warm-up step that compiles the shaders,
// within a time budget per row (TF.js takes about a second per step on SwiftShader;
// bench/timing.ts timeCalls, as the suite times its peer). Each op is a row of the one
// row model (BenchRow): the peer is stock, latencyMs ours, withoutBatchNorm the third.
// Checked once: after their first training step, our model's weights and moving
// statistics equal stock's within 1e-4 (relative L2), and so do both predictions.
import type * as Tf from '@tensorflow/tfjs-core';
import type * as Tfl from '@tensorflow/tfjs-layers';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { useWebGPUBatchNorm, type WebGPUBatchNormHandle } from 'webgpu-batchnorm/tfjs';
import { loadTfjs } from '../support/tfjs.js';
import { check, expectClose } from '../support/compare.js';
import { normal } from '../support/data.js';
import { CNN, type CnnSpec } from './cnn-spec.js';
import { formatMs, modelLine } from './format.js';
import { selects } from './suite.js';
import { Iterations, timeCalls, type Budget } from './timing.js';
import { flush } from './tfjs-backend.js';
import type { ModelRow, Timed } from './types.js';

export const CNN_GROUP = `TF.js CNN ${CNN.input.join('×')} conv[${CNN.filters.join(',')}]+BN+relu, batch ${CNN.batch}`;
export type CnnOp = 'training step' | 'predict';
const OPS: CnnOp[] = ['training step', 'predict'];

/** Relative L2 between ours and stock after the first training step. */
const CHECK_TOL = 1e-4;
/** Per variant and op: the timed steps' time (at least 3 steps, at most 10). */
const BUDGET: Budget = { ms: 6000, min: 3, max: 10 };

/** The CNN ops `--only` selects (the suite's rule). */
export function cnnSelected(only: string[] | undefined): CnnOp[] {
  return OPS.filter((op) => selects(only, { group: CNN_GROUP, op }));
}

function buildModel(tfl: typeof Tfl, spec: CnnSpec, batchNorm: boolean): Tfl.Sequential {
  const layers: Tfl.layers.Layer[] = [];
  spec.filters.forEach((filters, i) => {
    layers.push(tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, ...(i === 0 ? { inputShape: spec.input } : {}) }));
    if (batchNorm) layers.push(tfl.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-3 }));
    layers.push(tfl.layers.activation({ activation: 'relu' }));
    layers.push(tfl.layers.maxPooling2d({ poolSize: 2 }));
  });
  layers.push(tfl.layers.flatten(), tfl.layers.dense({ units: spec.classes }));
  return tfl.sequential({ layers });
}

/** Seeded weights by role (He-scaled kernels, gamma near 1, moving variance positive). */
function seededWeights(model: Tfl.Sequential): Float32Array[] {
  return model.weights.map((w, i) => {
    const shape = w.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    const n = normal(size, 900 + 31 * i);
    const name = w.name;
    if (name.includes('moving_variance')) return n.map((v) => 0.5 + v * v);
    if (name.includes('moving_mean')) return n.map((v) => 0.1 * v);
    if (name.includes('gamma')) return n.map((v) => 1 + 0.1 * v);
    if (name.includes('kernel')) {
      const fanIn = size / shape[shape.length - 1];
      return n.map((v) => v * Math.sqrt(2 / fanIn));
    }
    return n.map((v) => 0.05 * v);
  });
}

interface Variant {
  model: Tfl.Sequential;
  optimizer: Tf.Optimizer;
  step(): Promise<void>;
  predict(): Promise<void>;
  dispose(): void;
}

async function values(ts: Tf.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
}

/** Median wall time of `run` after one warm-up call, within the budget. */
async function time(run: () => Promise<void>): Promise<Timed> {
  await run(); // compiles the shaders of whatever has not run yet
  return timeCalls(run, new Iterations(), BUDGET);
}

/** The CNN rows (the ops in `ops`), measured in this page with TF.js on its webgpu backend. */
export async function runCnnRows(ops: CnnOp[], log: (line: string) => void, spec: CnnSpec = CNN): Promise<ModelRow[]> {
  if (!ops.length) return [];
  const tf = await loadTfjs();
  const tfl = await import('@tensorflow/tfjs-layers');
  const backend = tf.backend() as WebGPUBackend;
  const [h, w, ch] = spec.input;
  const x = tf.tensor4d(normal(spec.batch * h * w * ch, 800, 0.5, 1), [spec.batch, h, w, ch]);
  const labels = Int32Array.from(normal(spec.batch, 801), (v) => Math.abs(Math.floor(v * 1000)) % spec.classes);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), spec.classes, 1, 0, 'float32'));
  for (const t of [x, y]) backend.uploadToGPU(t.dataId);
  await flush(backend);

  const variant = (batchNorm: boolean, weights?: Float32Array[]): Variant => {
    const model = buildModel(tfl, spec, batchNorm);
    const init = weights ?? seededWeights(model);
    const tensors = model.weights.map((v, i) => tf.tensor(init[i], v.shape as number[]));
    model.setWeights(tensors);
    tf.dispose(tensors);
    const optimizer = tf.train.sgd(spec.learningRate);
    return {
      model,
      optimizer,
      async step() {
        tf.tidy(() => {
          optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as Tf.Tensor) as Tf.Scalar);
        });
        await flush(backend);
      },
      async predict() {
        const p = model.predict(x) as Tf.Tensor;
        await flush(backend);
        p.dispose();
      },
      dispose() {
        model.dispose();
        optimizer.dispose();
      },
    };
  };

  const stock = variant(true);
  const ours = variant(true, seededWeights(stock.model));
  const plain = variant(false);
  let handle: WebGPUBatchNormHandle | undefined;
  const withOurs = async <T>(f: () => Promise<T>): Promise<T> => {
    handle = useWebGPUBatchNorm({ core: tf, layers: tfl });
    try {
      return await f();
    } finally {
      handle.restore();
    }
  };
  try {
    // The check: one training step each from identical weights, then every weight and the predictions.
    await stock.step();
    const stockPredict = stock.model.predict(x) as Tf.Tensor;
    const expected = await values([...stock.model.getWeights(), stockPredict]);
    stockPredict.dispose();
    const got = await withOurs(async () => {
      await ours.step();
      const p = ours.model.predict(x) as Tf.Tensor;
      const v = await values([...ours.model.getWeights(), p]);
      p.dispose();
      check(handle!.stats.forward > 0 && handle!.stats.backward > 0 && handle!.stats.fallback === 0, `our kernels did not run: ${JSON.stringify(handle!.stats)}`);
      return v;
    });
    const names = [...stock.model.weights.map((v) => v.name), 'predictions'];
    let worst = 0;
    got.forEach((v, i) => {
      expectClose(`CNN after one step, ours vs stock: ${names[i]}`, v, expected[i], CHECK_TOL);
      let err = 0, norm = 0;
      for (let k = 0; k < v.length; k++) {
        err += (v[k] - expected[i][k]) ** 2;
        norm += expected[i][k] ** 2;
      }
      worst = Math.max(worst, Math.sqrt(err / Math.max(norm, 1e-30)));
    });
    const checked = `ours = stock after one step within ${CHECK_TOL} (worst relative L2 ${worst.toExponential(1)} over ${names.length} weights and predictions)`;
    log(`  ${CNN_GROUP}: ${checked}`);

    const rows: ModelRow[] = [];
    for (const op of ops) {
      const run = (v: Variant) => (op === 'training step' ? () => v.step() : () => v.predict());
      const s = await time(run(stock));
      log(`  ${op}, stock TF.js: ${formatMs(s.ms)} (${s.iterations} steps)`);
      const o = await withOurs(() => time(run(ours)));
      log(`  ${op}, useWebGPUBatchNorm: ${formatMs(o.ms)} (${o.iterations} steps)`);
      const n = await time(run(plain));
      log(`  ${op}, without batch norm: ${formatMs(n.ms)} (${n.iterations} steps)`);
      const row: ModelRow = { group: CNN_GROUP, op, latencyMs: o.ms, iterations: o.iterations, peer: s, withoutBatchNorm: n, check: checked };
      log(modelLine(row));
      rows.push(row);
    }
    return rows;
  } finally {
    for (const v of [stock, ours, plain]) v.dispose();
    tf.dispose([x, y]);
  }
}
