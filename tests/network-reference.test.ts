// The float64 network reference on its own: gradients against finite differences,
// the optimizers' update rules against values worked out by hand, and the loss
// against a case small enough to write down. CPU only.
import { describe, expect, it } from 'vitest';
import { ReferenceBatchNorm } from '../src/batchnorm/reference.js';
import { OPTIMIZER_DEFAULTS } from '../src/index.js';
import {
  DEFAULTS,
  linearBackward,
  linearForward,
  optimizerUpdate,
  ReferenceOptimizer,
  ReferenceSequential,
  softmaxCrossEntropy,
  type ReferenceLayer,
} from '../src/nn/reference.js';
import { relativeL2 } from '../support/compare.js';
import { activations, normal, rng } from '../support/data.js';
import { HAND_COMPUTED_STEPS } from './cases/training.js';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** A tiny network: Linear(3→4, no bias) → BN(4) → sigmoid → Linear(4→4) → tanh → Linear(4→3). */
function tinyNetwork(seed: number): ReferenceSequential {
  const bn = new ReferenceBatchNorm({ numFeatures: 4, layout: 'NC' });
  bn.state.gamma = f64(normal(4, seed + 1, 1, 0.3));
  bn.state.beta = f64(normal(4, seed + 2, 0, 0.5));
  const layers: ReferenceLayer[] = [
    { kind: 'linear', inFeatures: 3, outFeatures: 4, weight: f64(normal(12, seed + 3, 0, 0.6)), bias: null },
    { kind: 'batchnorm', bn },
    { kind: 'sigmoid' },
    { kind: 'linear', inFeatures: 4, outFeatures: 4, weight: f64(normal(16, seed + 4, 0, 0.6)), bias: f64(normal(4, seed + 5, 0, 0.3)) },
    { kind: 'tanh' },
    { kind: 'linear', inFeatures: 4, outFeatures: 3, weight: f64(normal(12, seed + 6, 0, 0.6)), bias: f64(normal(3, seed + 7, 0, 0.3)) },
  ];
  return new ReferenceSequential(layers);
}

describe('network reference', () => {
  it('gradients of every parameter and of the input match central differences (batch 6, batch statistics)', () => {
    const net = tinyNetwork(10);
    const rows = 6;
    const x = f64(activations('NC', [rows, 3], 20));
    const next = rng(21);
    const labels = Array.from({ length: rows }, () => Math.floor(next() * 3));
    const loss = () => softmaxCrossEntropy(net.forward(x, rows), labels, rows, 3).loss;

    const dlogits = softmaxCrossEntropy(net.forward(x, rows), labels, rows, 3).dlogits;
    const dx = net.backward(dlogits);
    const h = 1e-5;
    const numeric = (values: () => Float64Array, i: number) => {
      const v = values()[i];
      values()[i] = v + h;
      const up = loss();
      values()[i] = v - h;
      const down = loss();
      values()[i] = v;
      return (up - down) / (2 * h);
    };
    const analytic = Object.fromEntries(net.parameters().map((p) => [p.name, Float64Array.from(p.grad)]));
    expect(Object.keys(analytic)).toEqual(['0.weight', '1.gamma', '1.beta', '3.weight', '3.bias', '5.weight', '5.bias']);
    for (const name of Object.keys(analytic)) {
      // parameters() is asked again for each value: batch norm's forward replaces its state arrays
      const values = () => net.parameters().find((p) => p.name === name)!.value;
      const fd = analytic[name].map((_, i) => numeric(values, i));
      expect(relativeL2(analytic[name], fd), name).toBeLessThan(1e-7);
    }
    const fdx = x.map((_, i) => numeric(() => x, i));
    expect(relativeL2(dx, fdx), 'dx').toBeLessThan(1e-7);
  });

  it('linear layer: y = x·Wᵀ + b and its gradients on a 2 x 2 case worked by hand', () => {
    const x = [1, 2, 3, 4]; // rows [1, 2], [3, 4]
    const w = [5, 6, 7, 8]; // out 0: [5, 6], out 1: [7, 8]
    expect([...linearForward(x, 2, w, [0.5, -1], 2, 2)]).toEqual([1 * 5 + 2 * 6 + 0.5, 1 * 7 + 2 * 8 - 1, 3 * 5 + 4 * 6 + 0.5, 3 * 7 + 4 * 8 - 1]);
    const dy = [1, -1, 2, 0.5];
    const g = linearBackward(x, dy, 2, w, 2, 2);
    expect([...g.dx]).toEqual([1 * 5 - 1 * 7, 1 * 6 - 1 * 8, 2 * 5 + 0.5 * 7, 2 * 6 + 0.5 * 8]);
    expect([...g.dweight]).toEqual([1 * 1 + 2 * 3, 1 * 2 + 2 * 4, -1 * 1 + 0.5 * 3, -1 * 2 + 0.5 * 4]);
    expect([...g.dbias]).toEqual([1 + 2, -1 + 0.5]);
  });

  it('softmax cross-entropy: value, gradient and accuracy on a row worked by hand, and stable for logits near 1e4', () => {
    const z = [1, 2, 3];
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const r = softmaxCrossEntropy([...z, ...z], [2, 0], 2, 3);
    expect(r.loss).toBeCloseTo(((lse - 3) + (lse - 1)) / 2, 14);
    expect(r.correct).toBe(1); // row 0's largest logit is its label
    const p = z.map((v) => Math.exp(v - lse));
    expect([...r.dlogits].map((v) => +v.toFixed(14))).toEqual(
      [p[0] / 2, p[1] / 2, (p[2] - 1) / 2, (p[0] - 1) / 2, p[1] / 2, p[2] / 2].map((v) => +v.toFixed(14)),
    );
    const shifted = softmaxCrossEntropy([10001, 10002, 10003], [2], 1, 3);
    expect(shifted.loss).toBeCloseTo(lse - 3, 9);
  });
});

describe('optimizer update rules (float64 reference)', () => {
  it("has its own defaults, and they are the optimizers' (PyTorch's)", () => {
    expect(DEFAULTS).toEqual(OPTIMIZER_DEFAULTS);
  });

  it.each(HAND_COMPUTED_STEPS.map((h) => [`${h[0]} ${JSON.stringify(h[1])}`, ...h] as const))('%s', (_, kind, options, first, second) => {
    const p = new Float64Array([1]);
    const moments = { moment1: new Float64Array(1), moment2: new Float64Array(1) };
    optimizerUpdate(kind, options, p, [0.5], moments, 1);
    expect(p[0]).toBeCloseTo(first, 12);
    optimizerUpdate(kind, options, p, [-1], moments, 2);
    expect(p[0]).toBeCloseTo(second, 12);
  });

  it('ReferenceOptimizer keeps the step count and state per parameter name', () => {
    const opt = new ReferenceOptimizer('adam', { learningRate: 0.1 });
    const a = new Float64Array([1]);
    const b = new Float64Array([1, 1]);
    opt.update([{ name: 'a', value: a, grad: [0.5] }, { name: 'b', value: b, grad: [0.5, 0.5] }]);
    opt.update([{ name: 'a', value: a, grad: [-1] }, { name: 'b', value: b, grad: [-1, -1] }]);
    expect(opt.step).toBe(2);
    for (const v of [a[0], b[0], b[1]]) expect(v).toBeCloseTo(HAND_COMPUTED_STEPS.find(([k]) => k === 'adam')![3], 12);
  });
});
