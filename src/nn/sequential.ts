// A stack of layers trained end to end on the GPU, in the spirit of PyTorch's
// nn.Sequential and Keras's Sequential model. A training step (forward, softmax
// cross-entropy, backward, optimizer update) is recorded into one command encoder
// and submitted once; the loss stays on the GPU until readLoss().
import { checkArray, checkFloats } from '../gpu/checks.js';
import { fail, show } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { isLayer, type Layer } from './layer.js';
import { SoftmaxCrossEntropy, type LossReading } from './loss.js';
import { createOptimizer, Optimizer, type OptimizerKind, type OptimizerOptions, type Parameter } from './optimizer.js';
import { checkLabelArray, checkLabelBuffer, checkRows } from './validate.js';

export type { Layer };

export interface CompileOptions {
  /** An optimizer over this model's parameters(), or how to make one: `{ type: 'adam', learningRate: 0.01 }`. */
  optimizer: Optimizer | ({ type: OptimizerKind } & OptimizerOptions);
}

type Labels = GPUBuffer | Uint32Array | Int32Array | number[];

const layerName = (layer: Layer, i: number) => `layer ${i} (${layer.name})`;

function checkLayers(layers: unknown): { layers: Layer[]; inFeatures: number; outFeatures: number } {
  if (!Array.isArray(layers) || layers.length === 0) fail(`layers must be a non-empty array of Linear, BatchNorm and activation layers, got ${show(layers)}`);
  const list = layers as unknown[];
  let features: number | null = null;
  let inFeatures: number | null = null;
  list.forEach((item, i) => {
    if (!isLayer(item)) fail(`layers[${i}] must be a layer (Linear, BatchNorm, ReLU, Sigmoid, Tanh), got ${show(item)}`);
    const layer = item as Layer;
    if (list.indexOf(layer) !== i) fail(`${layerName(layer, i)} appears twice; make a new layer for each position`);
    const layout = (layer as { layout?: unknown }).layout;
    const f = layer.features ?? fail(`${layerName(layer, i)} takes no [batch, features] rows${layout !== undefined ? `: a BatchNorm in a Sequential takes [batch, features]: layout 'NC', got ${show(layout)}` : ''}`);
    if (f.in !== null && features !== null && f.in !== features) {
      fail(`${layerName(layer, i)} takes ${f.in} features, but the layers before it give ${features}`);
    }
    inFeatures ??= f.in;
    features = f.out ?? features;
  });
  if (inFeatures === null || features === null) fail('layers need at least one Linear or BatchNorm, which sets the number of features');
  return { layers: list as Layer[], inFeatures: inFeatures!, outFeatures: features! };
}

export class Sequential extends GpuModule {
  readonly layers: readonly Layer[];
  /** Features of the input rows. */
  readonly inFeatures: number;
  /** Features of the output rows: the classes, for the loss. */
  readonly outFeatures: number;

  private mode = true;
  private optimizer?: Optimizer;
  private ownsOptimizer = false;
  private readonly loss: SoftmaxCrossEntropy;
  private readonly evalLoss: SoftmaxCrossEntropy;
  /** Each layer's gradients from the last backward(), by parameter name. */
  private readonly gradients = new Map<Layer, Record<string, GPUBuffer | null>>();

  /** The model owns its layers from here on: destroy() destroys them. */
  constructor(device: GPUDevice, layers: Layer[]) {
    const checked = checkLayers(layers);
    super(device, 'sequential');
    this.layers = checked.layers;
    this.inFeatures = checked.inFeatures;
    this.outFeatures = checked.outFeatures;
    this.loss = new SoftmaxCrossEntropy(device, { classes: this.outFeatures });
    this.evalLoss = new SoftmaxCrossEntropy(device, { classes: this.outFeatures, gradient: false });
    this.train();
  }

  /** True in training mode: BatchNorm layers use batch statistics and update their running ones. */
  get training(): boolean {
    return this.mode;
  }

  /** Training mode, as PyTorch's module.train(). */
  train(): this {
    this.setMode(true);
    return this;
  }

  /** Eval mode, as PyTorch's module.eval(): BatchNorm layers use their running statistics. */
  eval(): this {
    this.setMode(false);
    return this;
  }

  private setMode(training: boolean) {
    this.mode = training;
    for (const layer of this.layers) layer.training = training;
  }

  /**
   * Every learnable parameter, named `<layer index>.<name>` (weight, bias, gamma,
   * beta), with its gradient from the last backward() (null before the first).
   */
  parameters(): Parameter[] {
    this.assertAlive('parameters()');
    const out: Parameter[] = [];
    const gradients = this.gradients;
    this.layers.forEach((layer, i) => {
      for (const { name, value, size } of layer.parameterList()) {
        out.push({
          name: `${i}.${name}`,
          value,
          size,
          get grad() {
            return gradients.get(layer)?.[`d${name}`] ?? null;
          },
        });
      }
    });
    return out;
  }

  /** Sets the optimizer that trainStep() uses. */
  compile(options: CompileOptions): this {
    this.assertAlive('compile()');
    if (!options || typeof options !== 'object' || !options.optimizer) fail(`compile() takes { optimizer }, got ${show(options)}`);
    const given = options.optimizer;
    const next = given instanceof Optimizer ? given : createOptimizer(this.device, this.parameters(), given);
    if (this.ownsOptimizer) this.optimizer?.destroy();
    this.optimizer = next;
    this.ownsOptimizer = !(given instanceof Optimizer);
    return this;
  }

  /**
   * Checks the input rows (and labels, and for a training pass the batch size),
   * then uploads whatever came as typed arrays: nothing is written before all is checked.
   */
  private prepare(
    x: GPUBuffer | Float32Array,
    shape: readonly number[],
    { labels, training }: { labels?: Labels; training: boolean },
  ): { x: GPUBuffer; rows: number; labels: GPUBuffer | null } {
    const rows = checkRows(shape, this.inFeatures, 'the first layer', this.device.limits);
    const needsRows = this.layers.findIndex((l) => (l.minTrainingRows ?? 1) > rows);
    if (training && needsRows >= 0) {
      fail(`Expected more than 1 value per channel when training, got input size ${show(shape)} (${layerName(this.layers[needsRows], needsRows)} uses batch statistics)`);
    }
    const size = rows * this.inFeatures;
    const xs = x instanceof Float32Array ? checkArray('x', x, size) : checkFloats('x', x, size);
    let ids: GPUBuffer | Uint32Array<ArrayBuffer> | null = null;
    if (labels !== undefined) {
      const onCpu = labels instanceof Uint32Array || labels instanceof Int32Array || Array.isArray(labels);
      ids = onCpu ? checkLabelArray(labels, rows, this.outFeatures) : checkLabelBuffer(labels, rows);
    }
    return {
      rows,
      x: xs instanceof Float32Array ? this.buffers.upload('x', xs) : xs,
      labels: ids instanceof Uint32Array ? this.buffers.upload('labels', ids) : ids,
    };
  }

  /** Records `body` into `encoder`, or into a new encoder submitted at the end. */
  private recording<T>(encoder: GPUCommandEncoder | undefined, label: string, body: (encoder: GPUCommandEncoder) => T): T {
    const enc = encoder ?? this.device.createCommandEncoder({ label: `sequential ${label}` });
    const result = body(enc);
    if (!encoder) this.device.queue.submit([enc.finish()]);
    return result;
  }

  /** The logits [batch, outFeatures] for rows x [batch, inFeatures]. */
  forward(x: GPUBuffer | Float32Array, shape: readonly number[], encoder?: GPUCommandEncoder): GPUBuffer {
    this.assertAlive('forward()');
    const input = this.prepare(x, shape, { training: this.mode });
    return this.recording(encoder, 'forward', (enc) => this.encodeForward(input.x, input.rows, enc));
  }

  private encodeForward(x: GPUBuffer, rows: number, encoder: GPUCommandEncoder): GPUBuffer {
    let features = this.inFeatures;
    let out = x;
    for (const layer of this.layers) {
      out = layer.forward(out, [rows, features], encoder);
      features = layer.features?.out ?? features;
    }
    return out;
  }

  /**
   * Backpropagates dlogits (the gradient of the loss with respect to the last
   * forward's output) through every layer, leaving each parameter's gradient for
   * the optimizer. Returns the gradient with respect to the input when asked.
   */
  backward(dlogits: GPUBuffer, encoder?: GPUCommandEncoder, options: { inputGradient?: boolean } = {}): GPUBuffer | null {
    this.assertAlive('backward()');
    return this.recording(encoder, 'backward', (enc) => {
      let dy: GPUBuffer | null = dlogits;
      for (let i = this.layers.length - 1; i >= 0; i--) {
        const layer = this.layers[i];
        const wantInput = i > 0 || options.inputGradient === true;
        const result = { ...layer.backward(dy!, enc, { inputGradient: wantInput }) } as Record<string, GPUBuffer | null> & { dx: GPUBuffer | null };
        this.gradients.set(layer, result);
        dy = result.dx;
      }
      return dy;
    });
  }

  /**
   * One training step on a batch: forward, softmax cross-entropy against labels
   * (u32 class ids), backward, and the optimizer's update, recorded into one
   * encoder and submitted once (or recorded into `encoder`, for the caller to
   * submit). The loss is added to a total on the GPU that readLoss() reads.
   */
  trainStep(x: GPUBuffer | Float32Array, labels: Labels, shape: readonly number[], encoder?: GPUCommandEncoder): void {
    this.assertAlive('trainStep()');
    const optimizer = this.optimizer ?? fail('trainStep() needs an optimizer: call compile({ optimizer }) first');
    if (!this.mode) fail('trainStep() needs training mode: call train() first');
    const input = this.prepare(x, shape, { labels, training: true });
    this.recording(encoder, 'train step', (enc) => {
      const logits = this.encodeForward(input.x, input.rows, enc);
      const dlogits = this.loss.forward(logits, input.labels!, [input.rows, this.outFeatures], enc)!;
      this.backward(dlogits, enc);
      optimizer.step(enc);
    });
  }

  /** Mean training loss and accuracy over the steps since the last readLoss(). */
  readLoss(): Promise<LossReading> {
    this.assertAlive('readLoss()');
    return this.loss.read();
  }

  /** Loss and accuracy on a data set, in eval mode (running statistics); the mode is restored after. */
  async evaluate(x: GPUBuffer | Float32Array, labels: Labels, shape: readonly number[]): Promise<LossReading> {
    this.assertAlive('evaluate()');
    const input = this.prepare(x, shape, { labels, training: false });
    const encoder = this.encoder('evaluate');
    this.inEvalMode(() => {
      const logits = this.encodeForward(input.x, input.rows, encoder);
      this.evalLoss.forward(logits, input.labels!, [input.rows, this.outFeatures], encoder);
    });
    return this.evalLoss.read(encoder);
  }

  /** The logits for rows x, in eval mode (running statistics); the mode is restored after. */
  async predict(x: GPUBuffer | Float32Array, shape: readonly number[]): Promise<Float32Array> {
    this.assertAlive('predict()');
    const input = this.prepare(x, shape, { training: false });
    const encoder = this.encoder('predict');
    const logits = this.inEvalMode(() => this.encodeForward(input.x, input.rows, encoder));
    const [out] = await this.readBack(encoder, [{ buffer: logits, floats: input.rows * this.outFeatures }]);
    return out;
  }

  private inEvalMode<T>(body: () => T): T {
    const training = this.mode;
    this.setMode(false);
    try {
      return body();
    } finally {
      this.setMode(training);
    }
  }

  /**
   * An inference model without batch norm: each Linear followed by a BatchNorm
   * becomes one Linear with the BatchNorm's eval-mode map folded in (see
   * Linear.foldBatchNorm); other layers are copied. Its predictions equal this
   * model's in eval mode up to f32 rounding. This model is left as it is.
   */
  async fold(): Promise<Sequential> {
    this.assertAlive('fold()');
    const folded: Layer[] = [];
    try {
      for (let i = 0; i < this.layers.length; i++) {
        const layer = this.layers[i];
        const next = this.layers[i + 1];
        if (layer.foldAffine && next?.foldedAffine) {
          folded.push(await layer.foldAffine(await next.foldedAffine()));
          i++;
        } else if (layer.copyForInference) {
          folded.push(await layer.copyForInference());
        } else {
          fail(`${layerName(layer, i)} cannot be copied into an inference model`);
        }
      }
    } catch (e) {
      for (const l of folded) l.destroy();
      throw e;
    }
    return new Sequential(this.device, folded).eval();
  }

  /** Every parameter's values, by name, read back from the GPU. */
  async getParameters(): Promise<Record<string, Float32Array>> {
    this.assertAlive('getParameters()');
    const params = this.parameters();
    const values = await this.readBack(this.encoder('getParameters'), params.map((p) => ({ buffer: p.value, floats: p.size! })));
    return Object.fromEntries(params.map((p, i) => [p.name, values[i]]));
  }

  /**
   * Sets parameters by name (any subset of getParameters()'s), as load_state_dict or
   * set_weights would; all are checked before any is written. Batch norm's running
   * statistics are state, not parameters: BatchNorm.setState() sets them.
   */
  setParameters(values: Record<string, Float32Array>): void {
    this.assertAlive('setParameters()');
    if (!values || typeof values !== 'object') fail(`setParameters() takes an object of Float32Arrays by parameter name, got ${show(values)}`);
    const params = new Map(this.parameters().map((p) => [p.name, p]));
    const writes = Object.entries(values).map(([name, data]) => {
      const p = params.get(name) ?? fail(`setParameters(): no parameter ${name}; the parameters are ${[...params.keys()].join(', ')}`);
      return [p.value, checkArray(name, data, p.size!)] as const;
    });
    this.writeAll(writes);
  }

  /** With its own buffers: the layers, the losses and an optimizer that compile() made; never the caller's buffers. */
  protected override released(): void {
    for (const layer of this.layers) layer.destroy();
    if (this.ownsOptimizer) this.optimizer?.destroy();
    this.loss.destroy();
    this.evalLoss.destroy();
    this.gradients.clear();
  }
}
