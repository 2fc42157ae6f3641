// Float64 CPU reference of the training building blocks and of a whole network:
// linear layers, activations, softmax cross-entropy, the optimizers' update rules,
// and a Sequential of them with batch norm's reference. Plain loops, the math as
// written: the oracle the GPU training step is checked against. It takes nothing
// but types from the code it checks; its defaults are its own, written down from
// PyTorch's documentation (a test checks the modules use the same).
import { ReferenceBatchNorm } from '../batchnorm/index.js';
import type { ActivationKind } from './activation.js';
import type { OptimizerKind, OptimizerOptions } from './optimizer.js';

/** PyTorch's defaults for each update rule (torch.optim), with lr 0.01 for SGD as Keras has it. */
export const DEFAULTS: Record<OptimizerKind, OptimizerOptions> = {
  sgd: { learningRate: 0.01, weightDecay: 0 },
  momentum: { learningRate: 0.01, beta1: 0.9, weightDecay: 0, nesterov: false },
  rmsprop: { learningRate: 0.01, beta2: 0.99, eps: 1e-8, weightDecay: 0 },
  adam: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
};

/** y = x · Wᵀ + b: x [batch, in], W [out, in], y [batch, out]. */
export function linearForward(
  x: ArrayLike<number>,
  batch: number,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  inFeatures: number,
  outFeatures: number,
): Float64Array {
  const y = new Float64Array(batch * outFeatures);
  for (let r = 0; r < batch; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let sum = bias ? bias[o] : 0;
      for (let i = 0; i < inFeatures; i++) sum += x[r * inFeatures + i] * weight[o * inFeatures + i];
      y[r * outFeatures + o] = sum;
    }
  }
  return y;
}

export interface LinearReferenceGradients {
  dx: Float64Array;
  dweight: Float64Array;
  dbias: Float64Array;
}

/** dx = dy · W, dW = dyᵀ · x, db = Σ_rows dy. */
export function linearBackward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  batch: number,
  weight: ArrayLike<number>,
  inFeatures: number,
  outFeatures: number,
): LinearReferenceGradients {
  const dx = new Float64Array(batch * inFeatures);
  const dweight = new Float64Array(outFeatures * inFeatures);
  const dbias = new Float64Array(outFeatures);
  for (let r = 0; r < batch; r++) {
    for (let o = 0; o < outFeatures; o++) {
      const g = dy[r * outFeatures + o];
      dbias[o] += g;
      for (let i = 0; i < inFeatures; i++) {
        dx[r * inFeatures + i] += g * weight[o * inFeatures + i];
        dweight[o * inFeatures + i] += g * x[r * inFeatures + i];
      }
    }
  }
  return { dx, dweight, dbias };
}

const ACTIVATE: Record<ActivationKind, (x: number) => number> = {
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: (x) => Math.tanh(x),
};

/** The derivative written in terms of the output y. */
const DERIVATIVE: Record<ActivationKind, (y: number) => number> = {
  relu: (y) => (y > 0 ? 1 : 0),
  sigmoid: (y) => y * (1 - y),
  tanh: (y) => 1 - y * y,
};

export function activationForward(kind: ActivationKind, x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, ACTIVATE[kind]);
}

/** dx = dy · f'(x), from the forward's output y. */
export function activationBackward(kind: ActivationKind, y: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(y, (v, i) => dy[i] * DERIVATIVE[kind](v));
}

export interface ReferenceLoss {
  /** mean over rows of log Σ_j e^{z_j} − z_label */
  loss: number;
  /** rows whose first largest logit is the label */
  correct: number;
  /** gradient of the mean loss */
  dlogits: Float64Array;
}

export function softmaxCrossEntropy(logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, classes: number): ReferenceLoss {
  const dlogits = new Float64Array(rows * classes);
  let total = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const z = Array.from({ length: classes }, (_, j) => logits[r * classes + j]);
    const top = Math.max(...z);
    const sumExp = z.reduce((s, v) => s + Math.exp(v - top), 0);
    const label = labels[r];
    total += Math.log(sumExp) - (z[label] - top);
    if (z.indexOf(top) === label) correct++;
    z.forEach((v, j) => (dlogits[r * classes + j] = (Math.exp(v - top) / sumExp - (j === label ? 1 : 0)) / rows));
  }
  return { loss: total / rows, correct, dlogits };
}

/** One parameter's optimizer state. */
export interface ReferenceMoments {
  moment1: Float64Array;
  moment2: Float64Array;
}

/**
 * One update of `param` in place by the optimizer's rule (PyTorch's), at step t
 * (1 for the first step). g = grad + weightDecay · p.
 */
export function optimizerUpdate(
  kind: OptimizerKind,
  options: OptimizerOptions,
  param: Float64Array,
  grad: ArrayLike<number>,
  moments: ReferenceMoments,
  t: number,
): void {
  const o = { ...DEFAULTS[kind], ...options } as Required<OptimizerOptions>;
  const { moment1: m, moment2: s } = moments;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] + o.weightDecay * param[i];
    switch (kind) {
      case 'sgd':
        param[i] -= o.learningRate * g;
        break;
      case 'momentum':
        m[i] = o.beta1 * m[i] + g;
        param[i] -= o.learningRate * (o.nesterov ? g + o.beta1 * m[i] : m[i]);
        break;
      case 'rmsprop':
        s[i] = o.beta2 * s[i] + (1 - o.beta2) * g * g;
        param[i] -= (o.learningRate * g) / (Math.sqrt(s[i]) + o.eps);
        break;
      case 'adam': {
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
        s[i] = o.beta2 * s[i] + (1 - o.beta2) * g * g;
        const mHat = m[i] / (1 - o.beta1 ** t);
        const sHat = s[i] / (1 - o.beta2 ** t);
        param[i] -= (o.learningRate * mHat) / (Math.sqrt(sHat) + o.eps);
        break;
      }
    }
  }
}

/** An optimizer over named float64 parameters, keeping its state between steps. */
export class ReferenceOptimizer {
  step = 0;
  private readonly moments = new Map<string, ReferenceMoments>();

  constructor(
    readonly kind: OptimizerKind,
    readonly options: OptimizerOptions = {},
  ) {}

  /** Updates every parameter's value in place from its gradient. */
  update(parameters: { name: string; value: Float64Array; grad: ArrayLike<number> }[]): void {
    this.step += 1;
    for (const p of parameters) {
      let m = this.moments.get(p.name);
      if (!m) this.moments.set(p.name, (m = { moment1: new Float64Array(p.value.length), moment2: new Float64Array(p.value.length) }));
      optimizerUpdate(this.kind, this.options, p.value, p.grad, m, this.step);
    }
  }
}

export type ReferenceLayer =
  | { kind: 'linear'; inFeatures: number; outFeatures: number; weight: Float64Array; bias: Float64Array | null }
  | { kind: 'batchnorm'; bn: ReferenceBatchNorm }
  | { kind: ActivationKind };

/** A float64 Sequential: forward, backward, and a training step with softmax cross-entropy. */
export class ReferenceSequential {
  private last?: { inputs: Float64Array[]; outputs: Float64Array[]; rows: number };
  private grads = new Map<string, Float64Array>();

  constructor(readonly layers: ReferenceLayer[]) {}

  set training(training: boolean) {
    for (const l of this.layers) if (l.kind === 'batchnorm') l.bn.training = training;
  }

  /** Logits for x [rows, in]; keeps what backward() needs. */
  forward(x: ArrayLike<number>, rows: number): Float64Array {
    const inputs: Float64Array[] = [];
    const outputs: Float64Array[] = [];
    let a: Float64Array = Float64Array.from(x);
    for (const layer of this.layers) {
      inputs.push(a);
      if (layer.kind === 'linear') a = linearForward(a, rows, layer.weight, layer.bias, layer.inFeatures, layer.outFeatures);
      else if (layer.kind === 'batchnorm') a = layer.bn.forward(a, [rows, layer.bn.options.numFeatures]);
      else a = activationForward(layer.kind, a);
      outputs.push(a);
    }
    this.last = { inputs, outputs, rows };
    return a;
  }

  /** Backpropagates dlogits; returns the gradient with respect to the input. */
  backward(dlogits: ArrayLike<number>): Float64Array {
    if (!this.last) throw new Error('backward() called before any forward()');
    const { inputs, outputs, rows } = this.last;
    this.grads = new Map();
    let dy: Float64Array = Float64Array.from(dlogits);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i];
      if (layer.kind === 'linear') {
        const g = linearBackward(inputs[i], dy, rows, layer.weight, layer.inFeatures, layer.outFeatures);
        this.grads.set(`${i}.weight`, g.dweight);
        if (layer.bias) this.grads.set(`${i}.bias`, g.dbias);
        dy = g.dx;
      } else if (layer.kind === 'batchnorm') {
        const g = layer.bn.backward(dy);
        this.grads.set(`${i}.gamma`, g.dgamma);
        this.grads.set(`${i}.beta`, g.dbeta);
        dy = g.dx;
      } else {
        dy = activationBackward(layer.kind, outputs[i], dy);
      }
    }
    return dy;
  }

  /** The parameters, named as Sequential names them, with the last backward()'s gradients. */
  parameters(): { name: string; value: Float64Array; grad: Float64Array }[] {
    const out: { name: string; value: Float64Array; grad: Float64Array }[] = [];
    const add = (name: string, value: Float64Array | null) => {
      if (value) out.push({ name, value, grad: this.grads.get(name) ?? new Float64Array(value.length) });
    };
    this.layers.forEach((layer, i) => {
      if (layer.kind === 'linear') {
        add(`${i}.weight`, layer.weight);
        add(`${i}.bias`, layer.bias);
      } else if (layer.kind === 'batchnorm') {
        add(`${i}.gamma`, layer.bn.state.gamma);
        add(`${i}.beta`, layer.bn.state.beta);
      }
    });
    return out;
  }

  /** Forward, loss, backward and the optimizer's update; returns the batch's loss. */
  trainStep(x: ArrayLike<number>, labels: ArrayLike<number>, rows: number, optimizer: ReferenceOptimizer): ReferenceLoss {
    const logits = this.forward(x, rows);
    const loss = softmaxCrossEntropy(logits, labels, rows, logits.length / rows);
    this.backward(loss.dlogits);
    optimizer.update(this.parameters());
    return loss;
  }
}
