// The float64 reference against values worked out by hand, and across layouts.
import { describe, expect, it } from 'vitest';
import { reference, ReferenceBatchNorm } from '../src/index.js';
import { normal } from '../support/data.js';

describe('reference', () => {
  it('matches hand-computed training statistics and running updates', () => {
    const bn = new ReferenceBatchNorm({ numFeatures: 1, layout: 'NC' });
    const y = bn.forward([1, 2, 3, 4], [4, 1]);
    const invstd = 1 / Math.sqrt(1.25 + 1e-5); // mean 2.5, biased variance 1.25
    expect(Array.from(y)).toEqual([-1.5, -0.5, 0.5, 1.5].map((d) => d * invstd));
    expect(bn.state.runningMean[0]).toBeCloseTo(0.25, 15); // 0.9 * 0 + 0.1 * 2.5
    expect(bn.state.runningVar[0]).toBeCloseTo(0.9 + (0.1 * 1.25 * 4) / 3, 15); // unbiased
    expect(bn.state.numBatchesTracked).toBe(1);
  });

  it('averages over all batches when momentum is null', () => {
    const bn = new ReferenceBatchNorm({ numFeatures: 1, layout: 'NC', momentum: null });
    bn.forward([0, 2], [2, 1]); // mean 1, unbiased variance 2
    bn.forward([4, 8], [2, 1]); // mean 6, unbiased variance 8
    expect(bn.state.runningMean[0]).toBeCloseTo(3.5, 15);
    expect(bn.state.runningVar[0]).toBeCloseTo(5, 15);
  });

  it('normalizes with running statistics in eval, and backward is then dy * gamma * invstd', () => {
    const bn = new ReferenceBatchNorm({ numFeatures: 2, layout: 'NC', eps: 0 });
    bn.state.runningMean = Float64Array.from([1, -1]);
    bn.state.runningVar = Float64Array.from([4, 0.25]);
    bn.state.gamma = Float64Array.from([3, 1]);
    bn.training = false;
    expect(Array.from(bn.forward([5, 0, 1, -1], [2, 2]))).toEqual([6, 2, 0, 0]);
    expect(Array.from(bn.backward([1, 1, 2, 2]).dx)).toEqual([1.5, 2, 3, 4]);
  });

  it('gives the same statistics in NCHW and NHWC for transposed data', () => {
    const [n, c, h, w] = [2, 3, 4, 5];
    const nchw = normal(n * c * h * w, 3);
    const nhwc = new Float32Array(nchw.length);
    for (let b = 0; b < n; b++)
      for (let f = 0; f < c; f++)
        for (let s = 0; s < h * w; s++) nhwc[(b * h * w + s) * c + f] = nchw[(b * c + f) * h * w + s];
    const a = reference.forward(nchw, [n, c, h, w], reference.initialState(c), { layout: 'NCHW' });
    const b = reference.forward(nhwc, [n, h, w, c], reference.initialState(c), { layout: 'NHWC' });
    for (let f = 0; f < c; f++) {
      expect(a.mean[f]).toBeCloseTo(b.mean[f], 12);
      expect(a.variance[f]).toBeCloseTo(b.variance[f], 12);
    }
  });

  it("refuses batch statistics over one value per feature, with PyTorch's message", () => {
    const bn = new ReferenceBatchNorm({ numFeatures: 3, layout: 'NC' });
    expect(() => bn.forward([1, 2, 3], [1, 3])).toThrow('Expected more than 1 value per channel when training, got input size [1, 3]');
  });
});
