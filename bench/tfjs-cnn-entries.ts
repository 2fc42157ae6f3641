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
// within a time budget per row (TF.js takes about a second per step on SwiftShader).
// Checked once: after their first training step, our model's weights and moving
// statistics equal stock's within 1e-4 (relative L2), and so do both predictions.
import type * as Tf from '@tensorflow/tfjs-core';
import type * as Tfl from '@tensorflow/tfjs-layers';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { useWebGPUBatchNorm, type WebGPUBatchNormHandle } from 'webgpu-batchnorm/tfjs';
import { loadTfjs } from '../support/tfjs.js';
import { check, expectClose } from '../support/compare.js';
import { normal } from '../support/data.js';
import { formatMs } from './format.js';
import { median } from './timing.js';
import { flush } from './tfjs-backend.js';

export interface CnnSpec {
  batch: number;
  /** [height, width, channels], channels last. */
  input: [number, number, number];
  /** Filters of each conv → BN → relu → maxPool block. */
  filters: number[];
  classes: number;
  learningRate: number;
}

export const CNN: CnnSpec = { batch: 64, input: [32, 32, 3], filters: [16, 32, 64], classes: 10, learningRate: 0.05 };

export const CNN_GROUP = `TF.js CNN ${CNN.input.join('×')} conv[${CNN.filters.join(',')}]+BN+relu, batch ${CNN.batch}`;
export type CnnOp = 'training step' | 'predict';
const OPS: CnnOp[] = ['training step', 'predict'];

/** Relative L2 between ours and stock after the first training step. */
const CHECK_TOL = 1e-4;
/** Per variant and op: time for the timed steps (at least MIN_STEPS, at most MAX_STEPS). */
const BUDGET_MS = 6000;
const MIN_STEPS = 3;
const MAX_STEPS = 10;

export interface CnnVariantTime {
  ms: number;
  steps: number;
}

/** One op of the CNN, three ways. */
export interface CnnRow {
  group: string;
  op: CnnOp;
  stock: CnnVariantTime;
  ours: CnnVariantTime;
  withoutBatchNorm: CnnVariantTime;
  /** stock.ms / ours.ms */
  speedup: number;
  /** Batch-norm layers' own time (model − the model without them), stock and ours. */
  batchNormMs: { stock: number; ours: number };
  /** What the correctness check found (worst relative L2 over weights and predictions). */
  check: string;
}

/** Whether `--only` selects the CNN rows (the suite's rule: "group op" contains one of the texts). */
export function cnnSelected(only: string[] | undefined): CnnOp[] {
  if (!only?.length) return OPS;
  return OPS.filter((op) => only.some((o) => `${CNN_GROUP} ${op}`.toLowerCase().includes(o.toLowerCase())));
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
async function time(run: () => Promise<void>): Promise<CnnVariantTime> {
  await run(); // compiles the shaders of whatever has not run yet
  const times: number[] = [];
  const start = performance.now();
  while (times.length < MIN_STEPS || (performance.now() - start + median(times) <= BUDGET_MS && times.length < MAX_STEPS)) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), steps: times.length };
}

/** The CNN rows (the ops in `ops`), measured in this page with TF.js on its webgpu backend. */
export async function runCnnRows(ops: CnnOp[], log: (line: string) => void, spec: CnnSpec = CNN): Promise<CnnRow[]> {
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

    const rows: CnnRow[] = [];
    for (const op of ops) {
      const run = (v: Variant) => (op === 'training step' ? () => v.step() : () => v.predict());
      const s = await time(run(stock));
      log(`  ${op}, stock TF.js: ${formatMs(s.ms)} (${s.steps} steps)`);
      const o = await withOurs(() => time(run(ours)));
      log(`  ${op}, useWebGPUBatchNorm: ${formatMs(o.ms)} (${o.steps} steps)`);
      const n = await time(run(plain));
      log(`  ${op}, without batch norm: ${formatMs(n.ms)} (${n.steps} steps)`);
      const row: CnnRow = {
        group: CNN_GROUP,
        op,
        stock: s,
        ours: o,
        withoutBatchNorm: n,
        speedup: s.ms / o.ms,
        batchNormMs: { stock: s.ms - n.ms, ours: o.ms - n.ms },
        check: checked,
      };
      log(cnnLine(row));
      rows.push(row);
    }
    return rows;
  } finally {
    for (const v of [stock, ours, plain]) v.dispose();
    tf.dispose([x, y]);
  }
}

/** One row in words. */
export function cnnLine(r: CnnRow): string {
  const bn = (ms: number) => (ms > 0 ? formatMs(ms) : 'no measurable time (within the noise)');
  const bnRatio = r.batchNormMs.ours > 0 && r.batchNormMs.stock > 0 ? `, ${(r.batchNormMs.stock / r.batchNormMs.ours).toFixed(1)}× less` : '';
  return (
    `${r.group} · ${r.op}: stock TF.js ${formatMs(r.stock.ms)}, with useWebGPUBatchNorm ${formatMs(r.ours.ms)} ` +
    `(${r.speedup.toFixed(2)}× stock's speed); without batch norm ${formatMs(r.withoutBatchNorm.ms)}, ` +
    `so the batch-norm layers take ${bn(r.batchNormMs.stock)} in stock and ${bn(r.batchNormMs.ours)} in ours${bnRatio}`
  );
}

const ms = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));

/** The rows as a Markdown section for the report. */
export function cnnMarkdown(rows: CnnRow[]): string[] {
  if (!rows.length) return [];
  return [
    `## ${rows[0].group}`,
    '',
    'tf.layers on TF.js 4.22\'s webgpu backend, SGD through optimizer.minimize; the same model from the same weights with TF.js\'s batch norm (stock) and with `useWebGPUBatchNorm` (ours), and without its batch-norm layers (batch-norm time = model − that). Median wall time per call until the GPU is done, after one warm-up call.',
    '',
    '| op | stock ms | ours ms | stock / ours | without BN ms | BN stock ms | BN ours ms | steps (stock, ours, without) |',
    '|:--|--:|--:|--:|--:|--:|--:|:--|',
    ...rows.map((r) =>
      `| ${r.op} | ${ms(r.stock.ms)} | ${ms(r.ours.ms)} | ${r.speedup.toFixed(2)} | ${ms(r.withoutBatchNorm.ms)} | ${ms(r.batchNormMs.stock)} | ${ms(r.batchNormMs.ours)} | ${r.stock.steps}, ${r.ours.steps}, ${r.withoutBatchNorm.steps} |`),
    '',
    `- Check: ${rows[0].check}.`,
    '',
  ];
}
