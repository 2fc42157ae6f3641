// Page module of tests/tfjs-adapter-browser.test.ts: TF.js 4.22 (tfjs-core, tfjs-layers,
// tfjs-backend-webgpu and -cpu) in the page, training tiny models with TF.js's own
// BatchNormalization ("stock") and with useWebGPUBatchNorm ("ours") from identical
// initial weights, and comparing weights, moving statistics and predictions.
// Each exported function is one test; they throw on failure.
import type * as Tf from '@tensorflow/tfjs-core';
import type * as Tfl from '@tensorflow/tfjs-layers';
import { useWebGPUBatchNorm, type WebGPUBatchNormHandle } from 'webgpu-batchnorm/tfjs';
import { check, expectClose } from '../../support/compare.js';
import { normal } from '../../support/data.js';
import { forceOnePass } from '../../src/batchnorm/partition.js';
import type { TrainingPath } from '../cases/case.js';

/** Relative L2 tolerance between stock TF.js and ours after training (up to 20 steps). */
const TOL = 1e-4;
/** Training steps of the parity tests (model.fit with SGD, optimizer.minimize with Adam). */
const STEPS = 20;

/** The packages the page imports, for the harness to pre-bundle. */
export const TFJS_ADAPTER_PACKAGES = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-core/dist/register_all_gradients',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-layers',
];

let tf: typeof Tf;
let tfl: typeof Tfl;

async function load(): Promise<void> {
  if (tf) return;
  tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  await import('@tensorflow/tfjs-backend-cpu');
  await import('@tensorflow/tfjs-backend-webgpu');
  tfl = await import('@tensorflow/tfjs-layers');
  check(await tf.setBackend('webgpu'), 'TF.js could not start its webgpu backend');
}

async function webgpu(): Promise<void> {
  await load();
  if (tf.getBackend() !== 'webgpu') check(await tf.setBackend('webgpu'), 'setBackend(webgpu)');
}

/**
 * The training path of the BatchNorms the adapter makes from now on, on TF.js's
 * device: one dispatch each way wherever the shape allows it (the models' batch
 * norms are sized so that it does: 8 units, 4 filters, L = 8), or three, or by size.
 */
export async function setTrainingPath(path: TrainingPath | 'by size'): Promise<string> {
  await load();
  const device = (tf.findBackend('webgpu') as unknown as { device: GPUDevice }).device;
  forceOnePass(device, path === 'by size' ? undefined : path === 'one pass');
  return '';
}

const modules = () => ({ core: tf, layers: tfl });

/** Seeded weights by role: moving variance positive, gamma near 1, the rest small. */
function seededWeights(model: Tfl.LayersModel, seed: number): Float32Array[] {
  return model.weights.map((w, i) => {
    const size = w.shape.reduce((a, b) => a! * b!, 1)!;
    const n = normal(size, seed + 17 * i);
    if (w.name.includes('moving_variance')) return n.map((v) => 0.5 + v * v);
    if (w.name.includes('moving_mean')) return n.map((v) => 0.3 * v);
    if (w.name.includes('gamma')) return n.map((v) => 1 + 0.2 * v);
    return n.map((v) => 0.4 * v);
  });
}

function setWeights(model: Tfl.LayersModel, values: Float32Array[]): void {
  const tensors = model.weights.map((w, i) => tf.tensor(values[i], w.shape as number[]));
  model.setWeights(tensors);
  tf.dispose(tensors);
}

interface Run {
  names: string[];
  weights: Float32Array[];
  predictions: Float32Array;
  losses: number[];
}

async function snapshot(model: Tfl.LayersModel, x: Tf.Tensor, losses: number[]): Promise<Run> {
  const weights = await Promise.all(model.getWeights().map((w) => w.data() as Promise<Float32Array>));
  const p = model.predict(x) as Tf.Tensor;
  const predictions = (await p.data()) as Float32Array;
  p.dispose();
  return { names: model.weights.map((w) => w.originalName), weights, predictions, losses };
}

function compareRuns(label: string, ours: Run, stock: Run, tol = TOL): void {
  check(ours.weights.length === stock.weights.length, `${label}: ${ours.weights.length} weights, stock ${stock.weights.length}`);
  ours.weights.forEach((w, i) => expectClose(`${label}: ${stock.names[i]}`, w, stock.weights[i], tol));
  expectClose(`${label}: predictions`, ours.predictions, stock.predictions, tol);
  for (const v of [...ours.weights.flatMap((w) => [...w]), ...ours.predictions]) check(Number.isFinite(v), `${label}: non-finite value`);
}

type Train = (model: Tfl.LayersModel, x: Tf.Tensor, y: Tf.Tensor) => Promise<number[]>;

/** fit with SGD, one batch per epoch. */
const fitSgd = (steps: number, loss = 'meanSquaredError', lr = 0.1): Train => async (model, x, y) => {
  model.compile({ optimizer: tf.train.sgd(lr), loss });
  const h = await model.fit(x, y, { epochs: steps, batchSize: x.shape[0], shuffle: false, verbose: 0 });
  return h.history.loss as number[];
};

/** optimizer.minimize with Adam over the model's trainable weights, through model.apply({ training: true }). */
const minimizeAdam = (steps: number, lr = 0.01): Train => async (model, x, y) => {
  const opt = tf.train.adam(lr);
  const vars = model.trainableWeights.map((w) => w.read() as Tf.Variable);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as Tf.Tensor) as Tf.Scalar, true, vars)!;
    losses.push((await loss.data())[0]);
    loss.dispose();
  }
  opt.dispose();
  return losses;
};

/** Builds the model (a loaded one: asynchronously), sets seeded weights, trains; with `ours`, under useWebGPUBatchNorm. */
async function train(build: () => Tfl.LayersModel | Promise<Tfl.LayersModel>, x: Tf.Tensor, y: Tf.Tensor, seed: number, fit: Train, ours: boolean): Promise<Run & { handle?: WebGPUBatchNormHandle }> {
  const handle = ours ? useWebGPUBatchNorm(modules()) : undefined;
  try {
    const model = await build();
    setWeights(model, seededWeights(model, seed));
    const losses = await fit(model, x, y);
    const run = await snapshot(model, x, losses);
    model.dispose();
    if (handle) {
      check(handle.stats.forward > 0 && handle.stats.backward > 0, `our kernels did not run: ${JSON.stringify(handle.stats)}`);
      check(handle.stats.fallback === 0, `fallbacks: ${JSON.stringify(handle.stats)}`);
    }
    return { ...run, handle };
  } finally {
    handle?.restore();
  }
}

async function stockVsOurs(label: string, build: () => Tfl.LayersModel | Promise<Tfl.LayersModel>, x: Tf.Tensor, y: Tf.Tensor, fit: Train, seed = 1) {
  const stock = await train(build, x, y, seed, fit, false);
  const ours = await train(build, x, y, seed, fit, true);
  compareRuns(label, ours, stock);
  return { stock, ours };
}

/**
 * dense → BN → relu → dense. `firstBias: false` for Adam: the gradient of a bias
 * just before batch norm is zero up to rounding noise, which Adam divides by its own
 * size, so that bias would follow the noise in both implementations.
 */
function mlp(bn: Parameters<typeof Tfl.layers.batchNormalization>[0] = {}, firstBias = true) {
  return () =>
    tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 8, inputShape: [5], useBias: firstBias }),
        tfl.layers.batchNormalization({ momentum: 0.9, ...bn }),
        tfl.layers.activation({ activation: 'relu' }),
        tfl.layers.dense({ units: 3 }),
      ],
    });
}

function mlpData(seed: number, n = 8) {
  return { x: tf.tensor(normal(n * 5, seed, 1, 2), [n, 5]), y: tf.tensor(normal(n * 3, seed + 1), [n, 3]) };
}

export async function mlpSgdFit(): Promise<string> {
  await webgpu();
  const { x, y } = mlpData(10);
  const { stock, ours } = await stockVsOurs('MLP, SGD fit', mlp(), x, y, fitSgd(STEPS));
  tf.dispose([x, y]);
  return `loss ${stock.losses[0].toFixed(4)} → ${stock.losses.at(-1)!.toFixed(4)} (ours ${ours.losses.at(-1)!.toFixed(4)})`;
}

export async function mlpAdamMinimize(): Promise<string> {
  await webgpu();
  const { x, y } = mlpData(20);
  const { stock, ours } = await stockVsOurs('MLP, Adam minimize', mlp({ epsilon: 1e-3, momentum: 0.8 }, false), x, y, minimizeAdam(STEPS));
  tf.dispose([x, y]);
  return `loss ${stock.losses[0].toFixed(4)} → ${stock.losses.at(-1)!.toFixed(4)} (ours ${ours.losses.at(-1)!.toFixed(4)})`;
}

export async function cnnSgdFit(): Promise<string> {
  await webgpu();
  const n = 4;
  const x = tf.tensor(normal(n * 6 * 6 * 2, 30), [n, 6, 6, 2]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
  const build = () =>
    tfl.sequential({
      layers: [
        tfl.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 2], dataFormat: 'channelsLast' }),
        tfl.layers.batchNormalization({ axis: -1 }),
        tfl.layers.activation({ activation: 'relu' }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
  const { stock } = await stockVsOurs('CNN, SGD fit', build, x, labels, fitSgd(STEPS, 'categoricalCrossentropy'));
  tf.dispose([x, labels]);
  return `loss ${stock.losses[0].toFixed(4)} → ${stock.losses.at(-1)!.toFixed(4)}`;
}

/**
 * BN on axis 1 of [N, C, L]: stock TF.js's gradient fails there, so ours is compared
 * with the same network written channels last for stock (permute → BN(axis −1) →
 * permute back), which is the same function with the same weights.
 */
export async function axis1Ncl(): Promise<string> {
  await webgpu();
  const n = 4, c = 3, l = 8;
  const x = tf.tensor(normal(n * c * l, 40, 0.5, 1.5), [n, c, l]);
  const y = tf.tensor(normal(n * 2, 41), [n, 2]);
  const head = () => [tfl.layers.flatten(), tfl.layers.dense({ units: 2 })];
  const ours = () => tfl.sequential({ layers: [tfl.layers.batchNormalization({ axis: 1, inputShape: [c, l], momentum: 0.9 }), ...head()] });
  const stock = () =>
    tfl.sequential({
      layers: [
        tfl.layers.permute({ dims: [2, 1], inputShape: [c, l] }),
        tfl.layers.batchNormalization({ axis: -1, momentum: 0.9 }),
        tfl.layers.permute({ dims: [2, 1] }),
        ...head(),
      ],
    });
  for (const fit of [fitSgd(STEPS), minimizeAdam(STEPS)]) {
    const s = await train(stock, x, y, 3, fit, false);
    const o = await train(ours, x, y, 3, fit, true);
    compareRuns('axis 1 [N, C, L]', o, s);
  }
  // And stock's own failure on axis 1, which is why the comparison goes through permute.
  let stockError = 'none';
  const model = ours();
  try {
    await fitSgd(1)(model, x, y);
  } catch (e) {
    stockError = (e as Error).message.slice(0, 80);
  }
  model.dispose();
  tf.dispose([x, y]);
  return `stock TF.js on axis 1 in training: ${stockError}`;
}

// Models as tf.keras 2.x writes them (model.to_json(), and tfjs-converter's
// model.json around it). Keras's build turns BatchNormalization's axis into a list
// of non-negative axes, and get_config saves that list: "axis": [1], not -1. TF.js
// loads the list as it is, into layer.axis.

/** An initializer's config, as tf.keras 2.13+ writes it (module and registered_name included). */
const kerasInitializer = (className: string) => ({
  module: 'keras.initializers',
  class_name: className,
  config: className === 'GlorotUniform' ? { seed: null } : {},
  registered_name: null,
});

/** A layer entry of a Sequential's config, as tf.keras 2.13+ writes it. */
const kerasLayer = (className: string, config: object, inputShape?: (number | null)[]) => ({
  module: 'keras.layers',
  class_name: className,
  config: { trainable: true, dtype: 'float32', ...config },
  registered_name: null,
  ...(inputShape ? { build_config: { input_shape: inputShape } } : {}),
});

const kerasDense = (name: string, units: number, activation = 'linear') => ({
  name, units, activation, use_bias: true,
  kernel_initializer: kerasInitializer('GlorotUniform'), bias_initializer: kerasInitializer('Zeros'),
  kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
});

/** BatchNormalization's config as tf.keras 2.x saves it; `axis` as given (the list Keras writes, or a number for stock's run). */
const kerasBatchNorm = (name: string, axis: unknown, momentum: number) => ({
  name, axis, momentum, epsilon: 0.001, center: true, scale: true,
  beta_initializer: kerasInitializer('Zeros'), gamma_initializer: kerasInitializer('Ones'),
  moving_mean_initializer: kerasInitializer('Zeros'), moving_variance_initializer: kerasInitializer('Ones'),
  beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null,
});

/** model.to_json() of tf.keras 2.15's Sequential([Input((5,)), Dense(8), BatchNormalization(momentum=0.9), Activation('relu'), Dense(3)]). */
function kerasMlpJson(axis: unknown): object {
  return {
    class_name: 'Sequential',
    config: {
      name: 'sequential',
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_input_shape: [null, 5], dtype: 'float32', sparse: false, ragged: false, name: 'dense_input' }, registered_name: null },
        kerasLayer('Dense', kerasDense('dense', 8), [null, 5]),
        kerasLayer('BatchNormalization', kerasBatchNorm('batch_normalization', axis, 0.9), [null, 8]),
        kerasLayer('Activation', { name: 'activation', activation: 'relu' }, [null, 8]),
        kerasLayer('Dense', kerasDense('dense_1', 3), [null, 8]),
      ],
    },
    keras_version: '2.15.0',
    backend: 'tensorflow',
  };
}

/**
 * tfjs-converter's model.json (topology only) of a tf.keras 2.11 functional model:
 * Input((6, 6, 2)) → Conv2D(3, 3) → BatchNormalization() → relu → Flatten → Dense(3, softmax).
 */
function kerasCnnJson(axis: unknown): object {
  const node = (name: string, className: string, config: object, inbound: string | null) => ({
    class_name: className,
    config: { name, trainable: true, dtype: 'float32', ...config },
    name,
    inbound_nodes: inbound ? [[[inbound, 0, 0, {}]]] : [],
  });
  const plain = (o: { class_name: string; config: object }) => ({ class_name: o.class_name, config: o.config });
  const conv = {
    filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1,
    activation: 'linear', use_bias: true, kernel_initializer: plain(kerasInitializer('GlorotUniform')), bias_initializer: plain(kerasInitializer('Zeros')),
    kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
  };
  const bn = kerasBatchNorm('batch_normalization', axis, 0.99);
  for (const k of ['beta_initializer', 'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer'] as const) bn[k] = plain(bn[k]) as typeof bn[typeof k];
  const dense = { ...kerasDense('dense', 3, 'softmax'), kernel_initializer: plain(kerasInitializer('GlorotUniform')), bias_initializer: plain(kerasInitializer('Zeros')) };
  return {
    format: 'layers-model',
    generatedBy: 'keras v2.11.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: {
      keras_version: '2.11.0',
      backend: 'tensorflow',
      model_config: {
        class_name: 'Functional',
        config: {
          name: 'model',
          layers: [
            { class_name: 'InputLayer', config: { batch_input_shape: [null, 6, 6, 2], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' }, name: 'input_1', inbound_nodes: [] },
            node('conv2d', 'Conv2D', conv, 'input_1'),
            node('batch_normalization', 'BatchNormalization', bn, 'conv2d'),
            node('activation', 'Activation', { activation: 'relu' }, 'batch_normalization'),
            node('flatten', 'Flatten', { data_format: 'channels_last' }, 'activation'),
            node('dense', 'Dense', dense, 'flatten'),
          ],
          input_layers: [['input_1', 0, 0]],
          output_layers: [['dense', 0, 0]],
        },
      },
      training_config: { loss: 'categorical_crossentropy', optimizer_config: { class_name: 'SGD', config: { learning_rate: 0.1 } } },
    },
  };
}

/**
 * A model loaded from a tf.keras JSON through tfl.models.modelFromJSON, checking
 * that its BatchNormalization layer kept `axis` as the JSON wrote it (so that a list
 * really reaches the adapter).
 */
function fromKerasJson(json: object, axis: unknown): () => Promise<Tfl.LayersModel> {
  return async () => {
    const model = await tfl.models.modelFromJSON(json as Tf.io.ModelJSON);
    const bn = model.layers.find((l) => l.getClassName() === 'BatchNormalization') as unknown as { axis: unknown } | undefined;
    check(bn && JSON.stringify(bn.axis) === JSON.stringify(axis), `loaded BatchNormalization axis ${JSON.stringify(bn?.axis)}, expected ${JSON.stringify(axis)}`);
    return model;
  };
}

/** Steps of the tf.keras model tests: a few are enough to see gradients and moving statistics flow. */
const KERAS_STEPS = 3;

/**
 * tf.keras 2.x models whose BatchNormalization says "axis": [1] (Sequential MLP,
 * [N, C]) and "axis": [3] (functional CNN, NHWC), loaded with
 * tfl.models.modelFromJSON and trained for KERAS_STEPS steps of SGD through
 * model.fit: every layer call on our kernels (KERAS_STEPS training forwards and
 * backwards, then predict's inference forward; no fallback), and weights, moving
 * statistics and predictions within TOL of stock TF.js on the same JSON with the
 * axis written as a number.
 */
export async function kerasAxisList(): Promise<string> {
  await webgpu();
  const out: string[] = [];
  const cases = [
    { label: 'Sequential MLP, axis [1]', json: kerasMlpJson, axis: [1], stockAxis: 1, loss: 'meanSquaredError', data: () => mlpData(130) },
    {
      label: 'functional CNN, axis [3]', json: kerasCnnJson, axis: [3], stockAxis: 3, loss: 'categoricalCrossentropy',
      data: () => ({ x: tf.tensor(normal(4 * 6 * 6 * 2, 131, 0.5, 1.5), [4, 6, 6, 2]), y: tf.oneHot(tf.tensor1d([2, 0, 1, 1], 'int32'), 3) }),
    },
  ];
  for (const [i, c] of cases.entries()) {
    const { x, y } = c.data();
    const fit = fitSgd(KERAS_STEPS, c.loss);
    const stock = await train(fromKerasJson(c.json(c.stockAxis), c.stockAxis), x, y, 13 + i, fit, false);
    const ours = await train(fromKerasJson(c.json(c.axis), c.axis), x, y, 13 + i, fit, true);
    compareRuns(c.label, ours, stock);
    const stats = ours.handle!.stats;
    check(stats.forward === KERAS_STEPS + 1 && stats.backward === KERAS_STEPS && stats.fallback === 0,
      `${c.label}: expected ${KERAS_STEPS + 1} forwards and ${KERAS_STEPS} backwards on ours, no fallback: ${JSON.stringify(stats)}`);
    tf.dispose([x, y]);
    out.push(`${c.label}: loss ${stock.losses[0].toFixed(4)} → ${stock.losses.at(-1)!.toFixed(4)} (ours ${ours.losses.at(-1)!.toFixed(4)})`);
  }
  // A negative one-element list, which Keras never saves, does not reach a layer
  // call: TF.js's own build takes `[-1] + rank` as a string. Reported, not asserted.
  let negative = 'built';
  try {
    (await tfl.models.modelFromJSON(kerasMlpJson([-1]) as Tf.io.ModelJSON)).dispose();
  } catch (e) {
    negative = (e as Error).message.slice(0, 80);
  }
  out.push(`axis [-1] in TF.js's build: ${negative}`);
  return out.join('; ');
}

/**
 * center: false / scale: false (stock TF.js crashes in training, tfjs#2868): ours
 * against the same network written with tfjs-core ops (tf.moments + tf.batchNorm
 * with the missing weight left out, moving averages updated by hand).
 */
export async function centerScaleFalse(): Promise<string> {
  await webgpu();
  const out: string[] = [];
  for (const [center, scale] of [[false, false], [false, true], [true, false]] as const) {
    const { x, y } = mlpData(50);
    const momentum = 0.9, epsilon = 1e-3, lr = 0.1, steps = 5;
    const build = mlp({ center, scale, momentum, epsilon });
    // Ours, through the layers.
    const handle = useWebGPUBatchNorm(modules());
    const model = build();
    const init = seededWeights(model, 5);
    const shapes = model.weights.map((w) => w.shape as number[]);
    setWeights(model, init);
    await fitSgd(steps, 'meanSquaredError', lr)(model, x, y);
    const ours = await snapshot(model, x, []);
    model.dispose();
    check(handle.stats.forward > 0 && handle.stats.fallback === 0, `center ${center} scale ${scale}: ${JSON.stringify(handle.stats)}`);
    handle.restore();

    // Reference: the same function in tfjs-core ops, on variables in the model's weight order.
    const names = ours.names;
    const vars = init.map((v, i) => tf.variable(tf.tensor(v, shapes[i]), !names[i].includes('moving')));
    const find = (part: string, nth = 0) => vars[names.map((n, j) => (n.includes(part) ? j : -1)).filter((j) => j >= 0)[nth]];
    const [k1, k2, b1, b2] = [find('kernel'), find('kernel', 1), find('bias'), find('bias', 1)];
    // tf.batchNorm's gradient fails without scale or offset: constants 1 and 0 stand in.
    const gamma = scale ? find('gamma') : tf.ones([8]);
    const beta = center ? find('beta') : tf.zeros([8]);
    const mm = find('moving_mean'), mv = find('moving_variance');
    const opt = tf.train.sgd(lr);
    const trainables = vars.filter((v) => v.trainable);
    for (let i = 0; i < steps; i++) {
      const cost = opt.minimize(() => {
        const h = tf.add(tf.matMul(x, k1), b1);
        const { mean, variance } = tf.moments(h, [0]);
        const hn = tf.batchNorm(h, mean, variance, beta, gamma, epsilon);
        tf.tidy(() => {
          mm.assign(tf.sub(mm, tf.mul(tf.sub(mm, mean), 1 - momentum)));
          mv.assign(tf.sub(mv, tf.mul(tf.sub(mv, variance), 1 - momentum)));
        });
        return tf.losses.meanSquaredError(y, tf.add(tf.matMul(tf.relu(hn), k2), b2)) as Tf.Scalar;
      }, false, trainables);
      cost?.dispose();
    }
    const weights = await Promise.all(vars.map((v) => v.data() as Promise<Float32Array>));
    const p = tf.tidy(() => tf.add(tf.matMul(tf.relu(tf.batchNorm(tf.add(tf.matMul(x, k1), b1), mm, mv, beta, gamma, epsilon)), k2), b2));
    const reference: Run = { names, weights, predictions: (await p.data()) as Float32Array, losses: [] };
    compareRuns(`center ${center}, scale ${scale}`, ours, reference);
    tf.dispose([p, x, y, gamma, beta, ...vars]);
    opt.dispose();
    out.push(`center ${center} scale ${scale} ok`);
  }
  return out.join('; ');
}

/** trainable: false on the BN layer: the other layers train, gamma and beta stay, the moving statistics still update (as in stock TF.js). */
export async function trainableFalse(): Promise<string> {
  await webgpu();
  const { x, y } = mlpData(60);
  const build = () => {
    const m = mlp()();
    m.layers[1].trainable = false;
    return m;
  };
  const { stock, ours } = await stockVsOurs('trainable: false', build, x, y, fitSgd(5));
  const gi = ours.names.findIndex((n) => n.includes('gamma'));
  check(gi >= 0, 'no gamma');
  tf.dispose([x, y]);
  return `${stock.names.length} weights match; ${ours.names.join(', ')}`;
}

/** restore() gives the stock path back; a second call while active returns the same handle. */
export async function restoreAndTwice(): Promise<string> {
  await webgpu();
  const proto = Object.getPrototypeOf(tfl.layers.batchNormalization({}));
  const stockCall = proto.call;
  const stockDispose = proto.dispose;
  const a = useWebGPUBatchNorm(modules());
  const b = useWebGPUBatchNorm({ core: tf, layers: tfl });
  check(a === b, 'a second call while active should return the same handle');
  check(proto.call !== stockCall, 'call not replaced');
  const model = mlp()();
  const { x } = mlpData(70);
  tf.tidy(() => model.apply(x, { training: true }) as Tf.Tensor);
  check(a.stats.forward === 1, `forward count ${a.stats.forward}`);
  const kernels = () => a.kernels; // a getter: read anew each time
  check(kernels() === 1, `kernels ${kernels()}`);
  const other = mlp()();
  tf.tidy(() => other.apply(x, { training: true }) as Tf.Tensor);
  check(kernels() === 2, `kernels ${kernels()}`);
  other.dispose();
  check(kernels() === 1, `kernels after disposing a model: ${kernels()}`);
  const forwards = a.stats.forward;
  a.restore();
  a.restore();
  check(!a.active && proto.call === stockCall && proto.dispose === stockDispose, 'restore() did not put the stock call and dispose back');
  tf.tidy(() => model.apply(x, { training: true }) as Tf.Tensor);
  check(a.stats.forward === forwards, 'our kernels ran after restore()');
  const c = useWebGPUBatchNorm(modules());
  check(c !== a && c.active, 'a call after restore() should install again');
  c.restore();
  model.dispose();
  x.dispose();
  return 'ok';
}

/** On the cpu backend nothing changes: the stock layer runs, and the model trains. */
export async function cpuBackend(): Promise<string> {
  await load();
  check(await tf.setBackend('cpu'), 'setBackend(cpu)');
  try {
    const handle = useWebGPUBatchNorm(modules());
    const { x, y } = mlpData(80);
    const model = mlp()();
    const losses = await fitSgd(5)(model, x, y);
    check(handle.stats.forward === 0 && handle.stats.fallback === 0, `cpu: ${JSON.stringify(handle.stats)}`);
    check(losses.every(Number.isFinite) && losses.at(-1)! < losses[0], `cpu losses ${losses}`);
    model.dispose();
    tf.dispose([x, y]);
    handle.restore();
    return `cpu losses ${losses[0].toFixed(4)} → ${losses.at(-1)!.toFixed(4)}`;
  } finally {
    await tf.setBackend('webgpu');
  }
}

/**
 * 20 Adam steps: tf.memory().numTensors steady; no buffer of ours created after the
 * first step, and no more GPUBuffers per step in all than stock TF.js creates (it
 * makes a few itself each step, for values it uploads); one kernel for the layer.
 */
export async function steadyLoop(): Promise<string> {
  await webgpu();
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const createBuffer = device.createBuffer;
  const STEADY_STEPS = 50; // the tensor count must stay steady over this many training steps
  let created = 0, labelled = 0;
  device.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
    created++;
    if (d.label) labelled++; // TF.js labels none of its buffers; ours all carry one
    return createBuffer.call(this, d);
  };
  const loop = async (ours: boolean) => {
    const handle = ours ? useWebGPUBatchNorm(modules()) : undefined;
    try {
      const { x, y } = mlpData(90);
      const model = mlp({}, false)();
      setWeights(model, seededWeights(model, 9));
      const opt = tf.train.adam(0.01);
      const vars = model.trainableWeights.map((w) => w.read() as Tf.Variable);
      const counts: number[] = [], buffers: number[] = [], ourBuffers: number[] = [];
      for (let i = 0; i < STEADY_STEPS; i++) {
        tf.tidy(() => {
          opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as Tf.Tensor) as Tf.Scalar, false, vars);
        });
        await device.queue.onSubmittedWorkDone();
        counts.push(tf.memory().numTensors);
        buffers.push(created);
        ourBuffers.push(labelled);
      }
      if (handle) {
        check(handle.kernels === 1, `kernels ${handle.kernels}`);
        check(handle.stats.forward === STEADY_STEPS && handle.stats.backward === STEADY_STEPS, JSON.stringify(handle.stats));
      }
      model.dispose();
      opt.dispose();
      tf.dispose([x, y]);
      return { counts, perStep: buffers.slice(1).map((b, i) => b - buffers[i]), ourBuffers };
    } finally {
      handle?.restore();
    }
  };
  try {
    const stock = await loop(false);
    const ours = await loop(true);
    check(ours.counts.slice(2).every((n) => n === ours.counts[2]), `numTensors over the steps: ${ours.counts}`);
    check(ours.counts[2] === stock.counts[2], `numTensors ${ours.counts[2]}, stock ${stock.counts[2]}`);
    check(ours.ourBuffers.every((n) => n === ours.ourBuffers[0]), `our buffers created, cumulative per step: ${ours.ourBuffers}`);
    const steady = (a: number[]) => a.slice(4);
    check(Math.max(...steady(ours.perStep)) <= Math.max(...steady(stock.perStep)),
      `GPUBuffers created per step: ours ${ours.perStep}, stock ${stock.perStep}`);
    return `numTensors ${ours.counts[2]} (stock ${stock.counts[2]}); GPUBuffers per step ours ${steady(ours.perStep).join(',')}, stock ${steady(stock.perStep).join(',')}; ours at first step ${ours.ourBuffers[0]}, then none`;
  } finally {
    device.createBuffer = createBuffer;
  }
}

/** A layer whose input's feature count does not fit throws TF.js's message naming the layer (through apply and through call). */
export async function badInput(): Promise<string> {
  await webgpu();
  const handle = useWebGPUBatchNorm(modules());
  try {
    const layer = tfl.layers.batchNormalization({ name: 'bn_misfit' });
    const good = tf.ones([3, 4]);
    tf.tidy(() => layer.apply(good, { training: true }) as Tf.Tensor);
    const bad = tf.ones([3, 5]);
    const messages: string[] = [];
    for (const run of [() => layer.apply(bad, { training: true }), () => layer.call(bad, { training: true })]) {
      try {
        tf.tidy(() => run() as Tf.Tensor);
        messages.push('no error');
      } catch (e) {
        messages.push((e as Error).message);
      }
    }
    for (const m of messages) check(/incompatible with layer bn_misfit/.test(m) && /5/.test(m), `message: ${m}`);
    tf.dispose([good, bad]);
    layer.dispose();
    return messages.join(' | ');
  } finally {
    handle.restore();
  }
}

/**
 * The same layer applied twice on the same shape in one gradient: the first
 * application's backward recomputes its forward (replay) and gradients match stock.
 */
export async function twiceInOneGradient(): Promise<string> {
  await webgpu();
  const run = async (ours: boolean) => {
    const handle = ours ? useWebGPUBatchNorm(modules()) : undefined;
    try {
      const layer = tfl.layers.batchNormalization({ momentum: 0.5 });
      const x1 = tf.tensor(normal(12, 100, 1, 2), [4, 3]);
      const x2 = tf.tensor(normal(12, 101, -1, 0.5), [4, 3]);
      const w = tf.tensor(normal(12, 102), [4, 3]);
      tf.tidy(() => layer.apply(x1) as Tf.Tensor); // builds the weights
      const vars = layer.trainableWeights.map((v) => v.read() as Tf.Variable);
      const f = (a: Tf.Tensor, b: Tf.Tensor) =>
        tf.sum(tf.mul(w, tf.add(tf.square(layer.apply(a, { training: true }) as Tf.Tensor), layer.apply(b, { training: true }) as Tf.Tensor))) as Tf.Scalar;
      const [g1, g2] = tf.grads(f)([x1, x2]);
      const { grads } = tf.variableGrads(() => f(x1, x2), vars);
      const out = await Promise.all([g1, g2, ...vars.map((v) => grads[v.name]), ...layer.getWeights()].map((t) => t.data() as Promise<Float32Array>));
      const replays = handle?.stats.replays ?? 0;
      tf.dispose([x1, x2, w, g1, g2, ...Object.values(grads)]);
      layer.dispose();
      return { out, replays };
    } finally {
      handle?.restore();
    }
  };
  const stock = await run(false);
  const ours = await run(true);
  const names = ['dx1', 'dx2', 'dgamma', 'dbeta', 'gamma', 'beta', 'moving mean', 'moving variance'];
  ours.out.forEach((v, i) => expectClose(`twice: ${names[i]}`, v, stock.out[i], TOL));
  check(ours.replays > 0, 'expected a replayed forward');
  return `replays ${ours.replays}`;
}

/**
 * Installed while another backend is active (here cpu, as before setBackend('webgpu')):
 * our kernels take over as soon as webgpu is the backend. A model saved and loaded
 * back (tf.io memory handlers) uses them too, with stock's predictions. Training on
 * one value per feature falls back to stock, reported through onFallback. Rank 5
 * with axis 1, which stock cannot run in inference, runs on ours.
 */
export async function loadedModelAndFallbacks(): Promise<string> {
  await load();
  check(await tf.setBackend('cpu'), 'setBackend(cpu)');
  const reasons: string[] = [];
  const handle = useWebGPUBatchNorm(modules(), { onFallback: (name, reason) => reasons.push(`${name}: ${reason}`) });
  try {
    check(await tf.setBackend('webgpu'), 'setBackend(webgpu)');
    const { x } = mlpData(110);
    const model = mlp()();
    setWeights(model, seededWeights(model, 11));
    let saved: Tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
    const before = handle.stats.forward;
    const ours = loaded.predict(x) as Tf.Tensor;
    check(handle.stats.forward === before + 1, `the loaded model's layer did not run on our kernels: ${JSON.stringify(handle.stats)}`);
    handle.restore();
    const stock = model.predict(x) as Tf.Tensor;
    expectClose('loaded model predictions', (await ours.data()) as Float32Array, (await stock.data()) as Float32Array, TOL);
    tf.dispose([ours, stock]);
    model.dispose();
    loaded.dispose();

    const again = useWebGPUBatchNorm(modules(), { onFallback: (name, reason) => reasons.push(`${name}: ${reason}`) });
    const layer = tfl.layers.batchNormalization({ name: 'bn_single' });
    const one = tf.ones([1, 4]);
    tf.dispose(tf.tidy(() => layer.apply(one, { training: true }) as Tf.Tensor));
    check(again.stats.fallback === 1 && /bn_single: training with one value per feature/.test(reasons.join()), `fallbacks: ${reasons}`);

    const bn5 = tfl.layers.batchNormalization({ axis: 1, name: 'bn_rank5' });
    const x5 = tf.tensor(normal(2 * 3 * 2 * 2 * 2, 111), [2, 3, 2, 2, 2]);
    const y5 = tf.tidy(() => bn5.apply(x5, { training: true }) as Tf.Tensor);
    const p5 = tf.tidy(() => bn5.apply(x5) as Tf.Tensor);
    const v = [...((await y5.data()) as Float32Array), ...((await p5.data()) as Float32Array)];
    check(v.every(Number.isFinite) && again.stats.forward === 2, `rank 5: ${JSON.stringify(again.stats)}`);
    // Batch-normalized over axis 1: each channel has mean 0 (gamma 1, beta 0).
    const m = tf.tidy(() => tf.mean(y5, [0, 2, 3, 4]));
    const means = (await m.data()) as Float32Array;
    check(means.every((a) => Math.abs(a) < 1e-4), `rank 5 channel means ${means}`);
    tf.dispose([one, x5, y5, p5, m, x]);
    layer.dispose();
    bn5.dispose();
    again.restore();
    return reasons.join('; ');
  } finally {
    handle.restore();
    if (tf.getBackend() !== 'webgpu') await tf.setBackend('webgpu');
  }
}

/** Max |a − b| over max(1, max |b|): tf.batchNorm's outputs, ours against stock. */
function maxError(a: Float32Array, b: Float32Array): number {
  check(a.length === b.length, `${a.length} values, expected ${b.length}`);
  let err = 0, norm = 1;
  for (let i = 0; i < a.length; i++) {
    check(Number.isFinite(a[i]), `non-finite value at ${i}`);
    err = Math.max(err, Math.abs(a[i] - b[i]));
    norm = Math.max(norm, Math.abs(b[i]));
  }
  return err / norm;
}

interface OpCase {
  shape: number[];
  scale: boolean;
  offset: boolean;
  eps?: number;
  /** Parameters of this shape instead of [C] (the stock kernel's case). */
  paramShape?: number[];
}

const OP_CASES: OpCase[] = [
  { shape: [7], scale: true, offset: true },
  { shape: [5, 6], scale: true, offset: true, eps: 1e-5 },
  { shape: [3, 4, 5], scale: false, offset: true },
  { shape: [2, 5, 5, 8], scale: true, offset: false, eps: 0.01 },
  { shape: [2, 5, 5, 8], scale: false, offset: false },
  { shape: [64, 16, 16, 16], scale: true, offset: true },
  { shape: [2, 3, 2, 3, 4], scale: true, offset: true },
  { shape: [2, 3, 4], scale: true, offset: true, paramShape: [1, 1, 4] },
];

/** Stock tf.batchNorm's gradient fails without scale or offset (see centerScaleFalse) and on rank 5 (its tile). */
const hasGradient = (c: OpCase) => c.scale && c.offset && c.shape.length <= 4;

/** tf.batchNorm on every OP_CASES case: outputs, and the gradient for x, scale and offset. */
function opOutputs(c: OpCase, seed: number): Promise<Float32Array[]> {
  const outs = tf.tidy(() => {
    const ch = c.shape.at(-1)!;
    const pshape = c.paramShape ?? [ch];
    const x = tf.tensor(normal(c.shape.reduce((a, b) => a * b, 1), seed, 1, 2), c.shape);
    const mean = tf.tensor(normal(ch, seed + 1, 1, 0.5), pshape);
    const variance = tf.tensor(normal(ch, seed + 2).map((v) => 0.5 + v * v), pshape);
    const scale = c.scale ? tf.tensor(normal(ch, seed + 3, 1, 0.3), pshape) : undefined;
    const offset = c.offset ? tf.tensor(normal(ch, seed + 4, 0, 0.5), pshape) : undefined;
    const y = tf.batchNorm(x, mean, variance, offset, scale, c.eps);
    const dy = tf.tensor(normal(y.size, seed + 5), y.shape);
    if (!hasGradient(c)) return [y];
    const f = (a: Tf.Tensor) => tf.sum(tf.mul(dy, tf.batchNorm(a, mean, variance, offset, scale, c.eps)));
    const dx = tf.grad(f)(x);
    return [y, dx];
  });
  return Promise.all(outs.map(async (t) => {
    const d = (await t.data()) as Float32Array;
    t.dispose();
    return d;
  }));
}

/** tf.batchNorm (kernel FusedBatchNorm) on our eval kernels: equal to stock within 1e-5 on ranks 1–5, with and without scale and offset; other parameter shapes fall back. */
export async function batchNormOp(): Promise<string> {
  await webgpu();
  const stock = [];
  for (const [i, c] of OP_CASES.entries()) stock.push(await opOutputs(c, 200 + 10 * i));
  const reasons: string[] = [];
  const handle = useWebGPUBatchNorm(modules(), { onFallback: (name, reason) => reasons.push(`${name}: ${reason}`) });
  try {
    check(handle.batchNormOp, 'tf.batchNorm not on our kernel');
    const errors: string[] = [];
    for (const [i, c] of OP_CASES.entries()) {
      const before = handle.stats.ops;
      const ours = await opOutputs(c, 200 + 10 * i);
      const err = maxError(ours[0], stock[i][0]);
      check(err <= 1e-5, `[${c.shape}] scale ${c.scale} offset ${c.offset}: y differs from stock by ${err}`);
      const withGrad = hasGradient(c);
      if (withGrad) {
        const gradErr = maxError(ours[1], stock[i][1]);
        check(gradErr <= 1e-5, `[${c.shape}]: dx differs from stock by ${gradErr}`);
      }
      const expected = c.paramShape ? 0 : withGrad ? 2 : 1; // the forward, and the one inside tf.grad
      check(handle.stats.ops - before === expected, `[${c.shape}]: ${handle.stats.ops - before} calls on our kernel, expected ${expected} (${JSON.stringify(handle.stats)})`);
      errors.push(`[${c.shape}]${c.paramShape ? ' (fallback)' : ''} ${err.toExponential(1)}`);
    }
    check(handle.stats.opFallback === 2 && /tf.batchNorm: mean of shape \[1,1,4\]/.test(reasons.join()), `fallbacks: ${reasons}`);
    check(handle.stats.forward === 0 && handle.stats.fallback === 0, `layer stats ${JSON.stringify(handle.stats)}`);
    const kernels = handle.kernels;
    check(kernels === OP_CASES.length - 1, `kernels ${kernels}`); // one per case (other scale/offset flags: another kernel) but the fallback
    return `max error ${errors.join(', ')}; ${handle.stats.ops} calls on ours`;
  } finally {
    handle.restore();
  }
}

/** restore() puts the stock FusedBatchNorm kernel back; installing before the webgpu backend's kernels exist picks them up later. */
export async function batchNormOpRestore(): Promise<string> {
  await webgpu();
  const stockKernel = tf.getKernel('FusedBatchNorm', 'webgpu');
  check(stockKernel, 'no stock FusedBatchNorm kernel');
  const handle = useWebGPUBatchNorm(modules());
  check(tf.getKernel('FusedBatchNorm', 'webgpu') !== stockKernel, 'our kernel is not registered');
  check(tf.getKernel('FusedBatchNorm', 'cpu') !== undefined, 'the cpu kernel was touched');
  const x = tf.tensor(normal(24, 300), [2, 3, 4]);
  const p = tf.ones([4]);
  tf.dispose(tf.batchNorm(x, p, p, p, p));
  check(handle.stats.ops === 1 && handle.kernels === 1, JSON.stringify(handle.stats));
  // A model's inference (stock layer after restore, through tf.batchNorm) and the cpu backend
  await tf.setBackend('cpu');
  tf.dispose(tf.batchNorm(tf.tensor(normal(24, 300), [2, 3, 4]), [0, 0, 0, 0], [1, 1, 1, 1]));
  await tf.setBackend('webgpu');
  check(handle.stats.ops === 1, `cpu ran on ours: ${JSON.stringify(handle.stats)}`);
  handle.restore();
  check(tf.getKernel('FusedBatchNorm', 'webgpu') === stockKernel, 'restore() did not put the stock kernel back');
  const after = { op: handle.batchNormOp as boolean, kernels: handle.kernels as number }; // read anew (getters)
  check(!after.op && after.kernels === 0, `after restore(): ${JSON.stringify(after)}`);
  tf.dispose(tf.batchNorm(x, p, p, p, p));
  check(handle.stats.ops === 1, 'our kernel ran after restore()');
  // Installed while the webgpu kernels are not registered (simulated): the layer's first call installs it.
  tf.unregisterKernel('FusedBatchNorm', 'webgpu');
  const late = useWebGPUBatchNorm(modules());
  try {
    check(!late.batchNormOp, 'installed without a stock kernel');
    tf.registerKernel(stockKernel);
    const layer = tfl.layers.batchNormalization({});
    tf.dispose(tf.tidy(() => layer.apply(x) as Tf.Tensor));
    layer.dispose();
    check(late.batchNormOp, 'not installed on the layer call');
    tf.dispose(tf.batchNorm(x, p, p, p, p));
    check(late.stats.ops === 1, JSON.stringify(late.stats));
  } finally {
    late.restore();
  }
  check(tf.getKernel('FusedBatchNorm', 'webgpu') === stockKernel, 'not restored');
  tf.dispose([x, p]);
  return 'ok';
}
