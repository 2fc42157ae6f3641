// webgpu-batchnorm/tfjs in Node, no GPU: how a BatchNormalization layer's `axis`
// (an integer, or a list as tf.keras 2.x writes it in a model's JSON) maps onto our
// kernels, and that every fallback reason prints its value so it cannot be misread.
// The same decisions in TF.js itself, on real models: tests/tfjs-adapter-browser.test.ts.
import { describe, expect, it } from 'vitest';
import { featureAxis, planCall, showValue, type BatchNormLayerLike } from '../src/tfjs/layer.js';
import { planOp, type KernelArgs, type KernelRegistryLike } from '../src/tfjs/op.js';
import type { WebGPUBackendLike } from '../src/tfjs/backend.js';

describe('featureAxis', () => {
  it.each([
    [1, 2, 1],
    [-1, 2, 1],
    [[1], 2, 1],
    [[-1], 4, 3],
    [[3], 4, 3],
    [[0], 3, 0],
    [-3, 3, 0],
  ] as const)('axis %j of rank %i is axis %i', (axis, rank, expected) => {
    expect(featureAxis(axis, rank)).toEqual({ ok: true, axis: expected });
  });

  it.each([
    [[1, 2], 4, 'axis [1,2] (more than one axis)'],
    [[-1, 1], 3, 'axis [-1,1] (more than one axis)'],
    [[], 2, 'axis []'],
    ['1', 2, 'axis "1"'],
    [['1'], 2, 'axis ["1"]'],
    [1.5, 2, 'axis 1.5'],
    [[1.5], 2, 'axis [1.5]'],
    [Number.NaN, 2, 'axis NaN'],
    [null, 2, 'axis null'],
    [undefined, 2, 'axis undefined'],
    [2, 2, 'axis 2 out of range for rank 2'],
    [[-3], 2, 'axis [-3] out of range for rank 2'],
  ] as const)('axis %j of rank %i falls back: %s', (axis, rank, reason) => {
    expect(featureAxis(axis, rank)).toEqual({ ok: false, reason });
  });
});

describe('showValue', () => {
  it.each([
    [1, '1'],
    ['1', '"1"'],
    [[1], '[1]'],
    [[1, '2'], '[1,"2"]'],
    [-0, '-0'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [true, 'true'],
    [{ a: 1 }, '{"a":1}'],
    [() => 1, 'a function'],
  ] as const)('%j prints as %s', (value, shown) => {
    expect(showValue(value)).toBe(shown);
  });
});

// planCall and planOp with stand-ins for TF.js's tensors, variables and device.
const device = { limits: { maxStorageBufferBindingSize: 1 << 30 } } as GPUDevice;
const tensor = (shape: number[], dtype = 'float32') => ({ dataId: {}, shape, dtype, size: shape.reduce((a, b) => a * b, 1) });
const variable = (c: number) => ({ read: () => tensor([c]), write: () => undefined });

function layer(config: Partial<BatchNormLayerLike> & { axis: unknown }, c: number): BatchNormLayerLike {
  return {
    name: 'bn',
    momentum: 0.99,
    epsilon: 1e-3,
    center: true,
    scale: true,
    gamma: variable(c),
    beta: variable(c),
    movingMean: variable(c),
    movingVariance: variable(c),
    ...config,
  };
}

describe('planCall: the layer', () => {
  it('axis [1] on [N, C] is the NC layout over C = x.shape[1], as axis 1 and -1 are', () => {
    for (const axis of [[1], 1, -1, [-1]]) {
      expect(planCall(layer({ axis }, 6), tensor([8, 6]), { training: true }, device)).toMatchObject({ ok: true, axis: 1, c: 6, layout: 'NC', bnShape: [8, 6] });
    }
  });

  it('axis [3] on NHWC and [1] on NCHW: NC and NCL views', () => {
    expect(planCall(layer({ axis: [3] }, 3), tensor([4, 5, 5, 3]), {}, device)).toMatchObject({ ok: true, axis: 3, layout: 'NC', bnShape: [100, 3] });
    expect(planCall(layer({ axis: [1] }, 3), tensor([4, 3, 5, 5]), {}, device)).toMatchObject({ ok: true, axis: 1, layout: 'NCL', bnShape: [4, 3, 25] });
  });

  it('a list of two axes, or a string, falls back with the value as written', () => {
    expect(planCall(layer({ axis: [1, 2] }, 3), tensor([4, 3, 5]), {}, device)).toEqual({ ok: false, reason: 'axis [1,2] (more than one axis)' });
    expect(planCall(layer({ axis: '1' }, 3), tensor([4, 3]), {}, device)).toEqual({ ok: false, reason: 'axis "1"' });
  });

  it('a feature count that does not fit the list\'s axis throws, naming the layer', () => {
    expect(() => planCall(layer({ axis: [1] }, 4), tensor([4, 3]), {}, device)).toThrow(/incompatible with layer bn: expected axis 1 .* value 4/);
  });

  it('momentum and epsilon print strings quoted', () => {
    expect(planCall(layer({ axis: [1], momentum: '0.9' as unknown as number }, 3), tensor([4, 3]), {}, device)).toEqual({ ok: false, reason: 'momentum "0.9"' });
    expect(planCall(layer({ axis: [1], epsilon: '1e-3' as unknown as number }, 3), tensor([4, 3]), {}, device)).toEqual({ ok: false, reason: 'epsilon "1e-3"' });
  });
});

describe('planOp: tf.batchNorm (no axis: parameters of shape [C], C the last dimension)', () => {
  const backend = { device } as WebGPUBackendLike;
  const core = {} as KernelRegistryLike;
  const args = (param: number[], varianceEpsilon: unknown): KernelArgs => ({
    inputs: { x: tensor([2, 3, 4]), mean: tensor(param), variance: tensor([4]) },
    attrs: { varianceEpsilon },
    backend,
  });

  it('parameters of shape [C] run on ours', () => {
    expect(planOp(args([4], 1e-3), backend, core)).toEqual({ ok: true, c: 4, eps: 1e-3 });
  });

  it('other parameter shapes and a string epsilon fall back, printed unambiguously', () => {
    expect(planOp(args([1, 1, 4], 1e-3), backend, core)).toEqual({ ok: false, reason: 'mean of shape [1,1,4] (only [C], features on x\'s last axis: C = 4)' });
    expect(planOp(args([3], 1e-3), backend, core)).toEqual({ ok: false, reason: 'mean of shape [3] (only [C], features on x\'s last axis: C = 4)' });
    expect(planOp(args([4], '0.001'), backend, core)).toEqual({ ok: false, reason: 'varianceEpsilon "0.001"' });
  });
});
