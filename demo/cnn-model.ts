// The CNN page's model and training (demo/cnn.ts): TF.js 4.22 on its webgpu backend,
// a small Keras-style CNN with batch norm learning the seeded glyphs of
// examples/glyphs.ts, with TF.js's own batch norm or webgpu-batchnorm's
// (useWebGPUBatchNorm / restore), switchable between any two steps: the layers'
// weights and moving statistics live in TF.js variables either way.
import type * as Tf from '@tensorflow/tfjs-core';
import type * as Tfl from '@tensorflow/tfjs-layers';
import { adapterName, seededRandom } from 'webgpu-batchnorm';
import { useWebGPUBatchNorm, type WebGPUBatchNormHandle } from 'webgpu-batchnorm/tfjs';
import { GLYPH_CLASSES, GLYPH_SIZE, type GlyphSet } from '../examples/glyphs.js';

export type Tfjs = { tf: typeof Tf; tfl: typeof Tfl; adapter: string };

/** tfjs-core (with gradients), tfjs-layers, and the webgpu backend, active (TF.js's default flags). */
export async function loadTfjs(): Promise<Tfjs> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  await import('@tensorflow/tfjs-backend-webgpu');
  const tfl = await import('@tensorflow/tfjs-layers');
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js could not start its webgpu backend (this browser has no WebGPU?)');
  const adapter = adapterName((tf.backend() as unknown as { device: GPUDevice }).device);
  return { tf, tfl, adapter };
}

export interface CnnConfig {
  filters: number[];
  batch: number;
  learningRate: number;
  seed: number;
}

export const CNN_DEFAULTS: CnnConfig = { filters: [8, 16], batch: 16, learningRate: 0.005, seed: 1 };

export const describeCnn = (c: CnnConfig) =>
  `${c.filters.map((f) => `conv3×3(${f}) → BN → relu → maxpool`).join(' → ')} → dense(${GLYPH_CLASSES}) → softmax; Adam lr ${c.learningRate}, batch ${c.batch}`;

/** conv (no bias) → batch norm → relu → max-pool per block, then a dense layer to the logits; seeded initial weights. */
export function buildCnn(tfl: typeof Tfl, c: CnnConfig): Tfl.Sequential {
  const layers: Tfl.layers.Layer[] = [];
  c.filters.forEach((filters, i) => {
    layers.push(
      tfl.layers.conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: tfl.initializers.heNormal({ seed: c.seed * 100 + i }),
        ...(i === 0 ? { inputShape: [GLYPH_SIZE, GLYPH_SIZE, 1] } : {}),
      }),
      tfl.layers.batchNormalization({ axis: -1, momentum: 0.9 }),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
    );
  });
  layers.push(tfl.layers.flatten(), tfl.layers.dense({ units: GLYPH_CLASSES, kernelInitializer: tfl.initializers.glorotUniform({ seed: c.seed * 100 + 99 }) }));
  return tfl.sequential({ layers });
}

export type Implementation = 'tfjs' | 'ours';
export const IMPLEMENTATION_LABELS: Record<Implementation, string> = { tfjs: "TF.js's batch norm", ours: 'webgpu-batchnorm (useWebGPUBatchNorm)' };

/** Training and held-out evaluation of the CNN on a glyph set, on TF.js's webgpu backend. */
export class GlyphTrainer {
  readonly model: Tfl.Sequential;
  private readonly optimizer: Tf.Optimizer;
  private readonly xTrain: Tf.Tensor4D;
  private readonly yTrain: Tf.Tensor2D;
  private readonly xTest: Tf.Tensor4D;
  private readonly labelsTest: Tf.Tensor1D;
  private readonly random: () => number;
  private order: Int32Array = new Int32Array(0);
  private cursor = 0;
  private lastLoss: Tf.Scalar | null = null;
  private handle: WebGPUBatchNormHandle | null = null;
  steps = 0;

  constructor(private readonly tfjs: Tfjs, train: GlyphSet, test: GlyphSet, readonly config: CnnConfig = CNN_DEFAULTS) {
    const { tf, tfl } = tfjs;
    const n = GLYPH_SIZE;
    this.xTrain = tf.tensor4d(train.x, [train.count, n, n, 1]);
    this.yTrain = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(train.labels, 'int32'), GLYPH_CLASSES), 'float32')) as Tf.Tensor2D;
    this.xTest = tf.tensor4d(test.x, [test.count, n, n, 1]);
    this.labelsTest = tf.tensor1d(test.labels, 'int32');
    this.random = seededRandom(config.seed + 7);
    this.model = buildCnn(tfl, config);
    this.optimizer = tf.train.adam(config.learningRate);
  }

  get implementation(): Implementation {
    return this.handle ? 'ours' : 'tfjs';
  }

  /** Switches batch norm's implementation (between steps). */
  use(impl: Implementation): void {
    if (impl === this.implementation) return;
    if (impl === 'ours') this.handle = useWebGPUBatchNorm({ core: this.tfjs.tf, layers: this.tfjs.tfl });
    else {
      this.handle!.restore();
      this.handle = null;
    }
  }

  /** The adapter's counters while ours is in use (to show that its kernels ran). */
  get stats() {
    return this.handle?.stats ?? null;
  }

  private nextBatch(): Int32Array {
    const { batch } = this.config;
    const count = this.xTrain.shape[0];
    if (this.cursor + batch > this.order.length) {
      this.order = Int32Array.from({ length: count }, (_, i) => i);
      for (let i = count - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
      }
      this.cursor = 0;
    }
    return this.order.subarray(this.cursor, (this.cursor += batch));
  }

  /** One training step (Adam on softmax cross-entropy); the loss stays on the GPU until readLoss(). */
  step(): void {
    const { tf } = this.tfjs;
    const index = this.nextBatch();
    const loss = tf.tidy(() => {
      const idx = tf.tensor1d(index, 'int32');
      const x = tf.gather(this.xTrain, idx);
      const y = tf.gather(this.yTrain, idx);
      return this.optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, this.model.apply(x, { training: true }) as Tf.Tensor) as Tf.Scalar, true)!;
    });
    this.lastLoss?.dispose();
    this.lastLoss = loss;
    this.steps++;
  }

  /** The last step's loss (waits for the GPU). */
  async readLoss(): Promise<number> {
    return this.lastLoss ? (await this.lastLoss.data())[0] : NaN;
  }

  /** Held-out accuracy in inference mode (moving statistics), and the predicted class of the first `keep` test images. */
  async evaluate(keep = 0): Promise<{ accuracy: number; predicted: Int32Array }> {
    const { tf } = this.tfjs;
    const count = this.xTest.shape[0];
    const chunk = 250;
    const preds: Tf.Tensor[] = [];
    for (let i = 0; i < count; i += chunk) {
      preds.push(tf.tidy(() => tf.argMax(this.model.predict(tf.slice(this.xTest, i, Math.min(chunk, count - i))) as Tf.Tensor, -1)));
    }
    const all = tf.concat(preds);
    const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(all, this.labelsTest), 'float32')));
    const [accuracy, predicted] = await Promise.all([correct.data(), all.data()]);
    tf.dispose([...preds, all, correct]);
    return { accuracy: accuracy[0] / count, predicted: Int32Array.from(predicted.slice(0, keep)) };
  }

  dispose(): void {
    this.handle?.restore();
    this.handle = null;
    this.lastLoss?.dispose();
    this.model.dispose();
    this.optimizer.dispose();
    this.tfjs.tf.dispose([this.xTrain, this.yTrain, this.xTest, this.labelsTest]);
  }
}
