// Softmax cross-entropy loss over logits [rows, classes] with integer class ids
// (PyTorch's nn.CrossEntropyLoss, mean reduction), and its gradient. The loss stays
// on the GPU: each forward adds the batch's mean loss and correct-row count to a
// running total that read() fetches (and resets) every few steps. Labels on the GPU
// cannot be checked before the kernel runs: rows with a label out of range are
// counted there, and read() reports them (and a NaN loss).
import { simpleWorkgroupSize } from '../gpu/adapter.js';
import { outputUsage, OwnedBuffers } from '../gpu/buffers.js';
import { KeyedCache } from '../gpu/cache.js';
import { checkArray, checkBoolean, checkFloats, checkOptions, checkPositiveInteger } from '../gpu/checks.js';
import { dispatch, recordPass } from '../gpu/dispatch.js';
import { fail } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { parseStruct } from '../gpu/wgsl.js';
import { nnStages, uniforms } from './stages.js';
import { checkLabelArray, checkLabelBuffer, checkRows } from './validate.js';

export interface LossOptions {
  classes: number;
  /** Compute dlogits in forward(). Default true; false for evaluation. */
  gradient?: boolean;
}

/** The running total since the last read. */
export interface LossReading {
  /** mean over batches of each batch's mean loss; NaN after no batch, or when a label was out of range */
  loss: number;
  /** rows whose label was not a class id in [0, classes) (they add nothing to the loss or gradient) */
  badLabels: number;
  /** correct rows / rows: a row is correct when its first largest logit is its label */
  accuracy: number;
  batches: number;
  rows: number;
}

/** Fields of the Total struct in softmax-cross-entropy.wgsl. */
const TOTAL_FLOATS = parseStruct(nnStages.softmaxCrossEntropy.source, 'Total').length;

/** Uniform, dlogits, row losses and bind groups for one row count; its buffers are its own. */
interface LossPlan {
  rows: number;
  params: GPUBuffer;
  grad: GPUBuffer;
  rowStats: GPUBuffer;
  groups: KeyedCache<GPUBindGroup>;
  writes(buffer: GPUBuffer): boolean;
  destroy(): void;
}

export class SoftmaxCrossEntropy extends GpuModule<LossPlan> {
  readonly classes: number;
  readonly gradient: boolean;

  private readonly total: GPUBuffer;
  private readonly workgroupSize: number;

  constructor(device: GPUDevice, options: LossOptions) {
    checkOptions('SoftmaxCrossEntropy', options, ['classes', 'gradient']);
    const classes = checkPositiveInteger('classes', options.classes);
    super(device, `softmax cross-entropy[${classes}]`);
    this.classes = classes;
    this.gradient = checkBoolean('gradient', options.gradient ?? true);
    this.total = this.buffers.create('total', TOTAL_FLOATS * 4, outputUsage());
    this.workgroupSize = simpleWorkgroupSize(device);
  }

  private plan(rows: number): LossPlan {
    return this.planFor([rows], (label) => {
      const owned = new OwnedBuffers(this.device, label);
      const grad = owned.tensor('dlogits', this.gradient ? rows * this.classes : 1);
      return {
        rows,
        params: owned.uniform('params', uniforms.softmaxCrossEntropy, { rows, classes: this.classes, invRows: 1 / rows }),
        grad,
        rowStats: owned.tensor('row losses', rows * 4), // vec3f: 16 bytes a row
        groups: new KeyedCache(),
        writes: (buffer) => buffer === grad,
        destroy: () => owned.destroy(),
      };
    });
  }

  /**
   * Adds the loss of logits [rows, classes] against labels (a GPU buffer of one u32
   * class id per row) to the running total, and returns dlogits, the gradient of
   * this batch's mean loss (null when the loss was made with gradient: false).
   */
  forward(logits: GPUBuffer, labels: GPUBuffer, shape: readonly number[], encoder?: GPUCommandEncoder): GPUBuffer | null {
    this.assertAlive('forward()');
    const rows = checkRows(shape, this.classes, `${this.name} (classes)`, this.device.limits);
    checkFloats('logits', logits, rows * this.classes);
    checkLabelBuffer(labels, rows);
    const plan = this.plan(rows);
    if (logits === plan.grad || labels === plan.grad) fail(`${this.name}: logits or labels is the dlogits buffer this loss writes; copy it first`);
    const group = plan.groups.get([logits, labels], () =>
      this.pipelines.bindGroup(nnStages.softmaxCrossEntropy, `${this.name} [${rows}]`, {
        params: { buffer: plan.params }, logits: { buffer: logits }, labels: { buffer: labels },
        grad: { buffer: plan.grad }, rowStats: { buffer: plan.rowStats }, total: { buffer: this.total },
      }),
    );
    const constants = { WG_SIZE: this.workgroupSize, GRAD: this.gradient };
    recordPass(this.device, encoder, `${this.name} forward`, (pass) => {
      dispatch(this.device, pass, this.pipelines.pipeline(nnStages.softmaxCrossEntropy, 'rowLoss', constants), group, Math.ceil(rows / this.workgroupSize));
      dispatch(this.device, pass, this.pipelines.pipeline(nnStages.softmaxCrossEntropy, 'reduce', constants), group, 1);
    });
    return this.gradient ? plan.grad : null;
  }

  /**
   * The mean loss and accuracy of the batches since the last read (or reset), read
   * back from the GPU; the total starts again from zero. `encoder`, when given,
   * holds work to submit first (it is submitted with the copy).
   */
  async read(encoder?: GPUCommandEncoder): Promise<LossReading> {
    this.assertAlive('read()');
    const enc = encoder ?? this.encoder('read');
    const [total] = await this.readAndReset(enc, []);
    return reading(total);
  }

  /** Sets the running total back to zero (queued after the work already submitted). */
  reset(): void {
    this.assertAlive('reset()');
    this.device.queue.writeBuffer(this.total, 0, new Float32Array(TOTAL_FLOATS));
  }

  /**
   * forward() on typed arrays: the loss and accuracy of this one batch, and dlogits
   * (with gradient: true). Resets the running total.
   */
  async forwardArray(
    logits: Float32Array,
    labels: Uint32Array | Int32Array | number[],
    shape: readonly number[],
  ): Promise<LossReading & { dlogits: Float32Array | null }> {
    this.assertAlive('forwardArray()');
    const rows = checkRows(shape, this.classes, `${this.name} (classes)`, this.device.limits);
    const z = this.buffers.upload('logits', checkArray('logits', logits, rows * this.classes));
    const ids = this.buffers.upload('labels', checkLabelArray(labels, rows, this.classes));
    this.reset();
    const encoder = this.encoder('forwardArray');
    const grad = this.forward(z, ids, shape, encoder);
    const [total, dlogits] = await this.readAndReset(encoder, grad ? [{ buffer: grad, floats: rows * this.classes }] : []);
    return { ...reading(total), dlogits: dlogits ?? null };
  }

  /** Submits the encoder with copies of the total and `parts`, zeroes the total behind them, and waits for the copies. */
  private readAndReset(encoder: GPUCommandEncoder, parts: { buffer: GPUBuffer; floats: number }[]): Promise<Float32Array[]> {
    const copies = this.readBack(encoder, [{ buffer: this.total, floats: TOTAL_FLOATS }, ...parts]); // submits before its first await
    this.reset();
    return copies;
  }
}

function reading([lossSum, batches, correct, rows, badLabels]: Float32Array): LossReading {
  return {
    loss: batches > 0 && badLabels === 0 ? lossSum / batches : NaN,
    accuracy: rows > 0 ? correct / rows : NaN,
    badLabels,
    batches,
    rows,
  };
}
