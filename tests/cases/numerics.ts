// Numerical behaviour: robust variance far from zero, the PyTorch parity case,
// finite-difference gradients, determinism, NaN and Inf propagation.
import { BatchNorm, reference, type Layout } from '../../src/index.js';
import { check, expectClose, expectEqual } from '../../support/compare.js';
import { activations, elements, featureIndex, featuresOf, normal } from '../../support/data.js';
import { using, type Case } from './case.js';
import { GRAD_TOL, STATS_TOL, Y_TOL } from '../../support/tolerances.js';
import { pair } from './parity.js';
import { forceOpaqueSums, lostErrorTerms, opaqueSums, probeCase, probeFloatOrder } from '../../src/batchnorm/float-order.js';

/** Variance of 1e6 + N(0, 1) over 1e6 values: relative error at most 1e-4 (E[x^2] - E[x]^2 would be garbage). */
const ROBUST_VAR_TOL = 1e-4;

const ROBUST_SHAPES: [Layout, number[]][] = [
  ['NC', [1 << 20, 3]],
  ['NCL', [1, 2, 1 << 20]],
  ['NCHW', [4, 2, 512, 512]],
  ['NHWC', [4, 512, 512, 2]],
];

const robustCases: Case[] = [1e4, 1e6].flatMap((offset) =>
  ROBUST_SHAPES.map(([layout, shape]): Case => ({
    name: `robust variance: ${offset} + N(0, 1), ${layout} [${shape}], m = ${elements(shape) / featuresOf(layout, shape)}; the last feature constant`,
    run: async (device) => {
      // momentum 1: after one step the running variance is the batch's unbiased variance
      const { bn, ref } = pair(device, layout, shape, { momentum: 1 });
      await using(bn, async () => {
        const c = featuresOf(layout, shape);
        const x = normal(elements(shape), offset, offset, 1);
        const feature = featureIndex(layout, shape);
        const constant = Math.fround(offset + 0.5);
        for (let i = 0; i < x.length; i++) if (feature(i) === c - 1) x[i] = constant;

        const y = await bn.forwardArray(x, shape);
        const yRef = ref.forward(x, shape);
        check(!y.some(Number.isNaN), 'y has NaN');
        expectClose('y', y, yRef, Y_TOL);
        const s = await bn.getState();
        for (let f = 0; f < c - 1; f++) {
          const rel = Math.abs(s.runningVar![f] - ref.state.runningVar[f]) / ref.state.runningVar[f];
          check(rel <= ROBUST_VAR_TOL, `feature ${f}: variance ${s.runningVar![f]}, reference ${ref.state.runningVar[f]}, relative error ${rel}`);
        }
        expectClose('runningMean', s.runningMean!, ref.state.runningMean, STATS_TOL);
        check(s.runningVar![c - 1] === 0, `constant feature: variance ${s.runningVar![c - 1]}, expected 0`);
        const beta = s.beta![c - 1];
        for (let i = 0; i < y.length; i++) {
          if (feature(i) === c - 1 && y[i] !== beta) throw new Error(`constant feature: y[${i}] = ${y[i]}, expected beta = ${beta}`);
        }
      });
    },
  })),
);

const reluParity: Case = {
  name: 'PyTorch parity: BatchNorm1d(1, momentum=0, eps=0, affine=False) on [-1, 1], ReLU, sum: dx is exactly [0, 0]',
  run: async (device) => {
    await using(new BatchNorm(device, { numFeatures: 1, layout: 'NC', momentum: 0, eps: 0, affine: false }), async (bn) => {
      const y = await bn.forwardArray(Float32Array.from([-1, 1]), [2, 1]);
      expectEqual('y', y, [-1, 1]);
      const dy = y.map((v) => (v > 0 ? 1 : 0)); // d(sum(relu(y)))/dy
      const { dx } = await bn.backwardArray(dy);
      check(dx[0] === 0 && dx[1] === 0, `dx = [${dx}], expected exactly [0, 0]`);
      const s = await bn.getState();
      expectEqual('running mean (momentum 0)', s.runningMean!, [0]);
      expectEqual('running var (momentum 0)', s.runningVar!, [1]);
    });
  },
};

/** Central differences of L = sum(w * y) in float64, through the reference's training forward. */
function numericalGradients(layout: Layout, shape: number[], x: Float32Array, w: Float32Array, gamma: Float32Array, beta: Float32Array) {
  const loss = (xs: ArrayLike<number>, g: ArrayLike<number>, b: ArrayLike<number>) => {
    const state = { ...reference.initialState(g.length), gamma: Float64Array.from(g), beta: Float64Array.from(b) };
    const { y } = reference.forward(xs, shape, state, { layout });
    return y.reduce((acc, v, i) => acc + v * w[i], 0);
  };
  const diff = (values: ArrayLike<number>, f: (v: Float64Array) => number) => {
    const v = Float64Array.from(values);
    return v.map((_, i) => {
      const h = 1e-6 * Math.max(1, Math.abs(v[i]));
      const keep = v[i];
      v[i] = keep + h;
      const up = f(v);
      v[i] = keep - h;
      const down = f(v);
      v[i] = keep;
      return (up - down) / (2 * h);
    });
  };
  return {
    dx: diff(x, (v) => loss(v, gamma, beta)),
    dgamma: diff(gamma, (v) => loss(x, v, beta)),
    dbeta: diff(beta, (v) => loss(x, gamma, v)),
  };
}

const gradientChecks: Case[] = ([['NCHW', [2, 3, 2, 3]], ['NHWC', [3, 2, 2, 2]], ['NC', [5, 3]]] as [Layout, number[]][]).map(
  ([layout, shape]): Case => ({
    name: `finite differences in float64 match the reference and the GPU backward: ${layout} [${shape}]`,
    run: async (device) => {
      const c = featuresOf(layout, shape);
      const x = activations(layout, shape, 31);
      const w = normal(x.length, 32);
      const gamma = normal(c, 33, 1, 0.5);
      const beta = normal(c, 34);
      const numeric = numericalGradients(layout, shape, x, w, gamma, beta);

      const state = { ...reference.initialState(c), gamma: Float64Array.from(gamma), beta: Float64Array.from(beta) };
      const saved = reference.forward(x, shape, state, { layout });
      const analytic = reference.backward(x, w, shape, layout, state.gamma, saved);
      for (const k of ['dx', 'dgamma', 'dbeta'] as const) expectClose(`reference ${k} vs finite differences`, analytic[k], numeric[k], 1e-6);

      await using(new BatchNorm(device, { numFeatures: c, layout }), async (bn) => {
        bn.setState({ gamma, beta });
        await bn.forwardArray(x, shape);
        const g = await bn.backwardArray(w);
        expectClose('GPU dx vs finite differences', g.dx, numeric.dx, GRAD_TOL);
        expectClose('GPU dgamma vs finite differences', g.dgamma!, numeric.dgamma, GRAD_TOL);
        expectClose('GPU dbeta vs finite differences', g.dbeta!, numeric.dbeta, GRAD_TOL);
      });
    },
  }),
);

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

const determinism: Case[] = ([['NHWC', [8, 32, 32, 64]], ['NCHW', [8, 64, 32, 32]], ['NCL', [16, 7, 999]]] as [Layout, number[]][]).map(
  ([layout, shape]): Case => ({
    name: `determinism: the same input twice gives bit-identical y, dx, dgamma, dbeta: ${layout} [${shape}]`,
    run: async (device) => {
      await using(new BatchNorm(device, { numFeatures: featuresOf(layout, shape), layout }), async (bn) => {
        const x = activations(layout, shape, 41);
        const dy = normal(x.length, 42);
        const runs = [];
        for (let r = 0; r < 2; r++) {
          const y = await bn.forwardArray(x, shape);
          runs.push({ y, ...(await bn.backwardArray(dy)) });
        }
        for (const k of ['y', 'dx', 'dgamma', 'dbeta'] as const) expectEqual(`${k} bits`, bits(runs[1][k]!), bits(runs[0][k]!));
      });
    },
  }),
);

const nonFinite: Case[] = (
  [
    ['NaN', 'NC', [16, 4]],
    ['NaN', 'NCHW', [3, 4, 5, 8]],
    ['Infinity', 'NHWC', [2, 3, 5, 6]],
  ] as [string, Layout, number[]][]
).map(([value, layout, shape]): Case => ({
  name: `${value} in one feature propagates like PyTorch (that feature all NaN, the others unaffected): ${layout} [${shape}]`,
  run: async (device) => {
    const { bn, ref } = pair(device, layout, shape);
    await using(bn, async () => {
      const x = activations(layout, shape, 51);
      const feature = featureIndex(layout, shape);
      const at = Array.from({ length: x.length }, (_, i) => i).filter((i) => feature(i) === 1)[3];
      x[at] = Number(value);
      const y = await bn.forwardArray(x, shape);
      const yRef = ref.forward(x, shape);
      expectClose('y', y, yRef, Y_TOL);
      for (let i = 0; i < y.length; i++) check(Number.isNaN(y[i]) === (feature(i) === 1), `y[${i}] = ${y[i]}`);
      const s = await bn.getState();
      expectClose('runningMean', s.runningMean!, ref.state.runningMean, STATS_TOL);
      expectClose('runningVar', s.runningVar!, ref.state.runningVar, STATS_TOL);
      const dy = normal(x.length, 52);
      const g = await bn.backwardArray(dy);
      const r = ref.backward(dy);
      expectClose('dx', g.dx, r.dx, GRAD_TOL);
      expectClose('dgamma', g.dgamma!, r.dgamma, GRAD_TOL);
    });
  },
}));

/** A training forward's y, running statistics and backward, as bits, with compensated.wgsl's barrier forced on or off. */
async function compensatedRun(device: GPUDevice, opaque: boolean, layout: Layout, shape: number[]): Promise<Uint32Array[]> {
  forceOpaqueSums(device, opaque);
  try {
    return await using(new BatchNorm(device, { numFeatures: featuresOf(layout, shape), layout }), async (bn) => {
      const x = normal(elements(shape), 5, 0.25, 1);
      const y = await bn.forwardArray(x, shape);
      const { dx, dgamma } = await bn.backwardArray(normal(elements(shape), 6));
      const s = await bn.getState();
      return [y, dx, dgamma, s.runningMean!, s.runningVar!].map((a) => new Uint32Array(Float32Array.from(a).buffer));
    });
  } finally {
    forceOpaqueSums(device, undefined);
  }
}

const floatOrder: Case[] = [
  {
    name: "the float-order probe: with opaque() every error term survives; without it, its verdict is whether every one did, and the stages' barrier follows it",
    run: async (device) => {
      const kept = await probeFloatOrder(device);
      const { expected } = probeCase();
      check(expected.every((t) => t !== 0), 'every expected error term is non-zero, so a folded one shows');
      const withBarrier = await lostErrorTerms(device, true);
      check(withBarrier === 0, `${withBarrier} error terms lost even behind opaque()`);
      const without = await lostErrorTerms(device, false);
      check(kept === (without === 0), `probe said ${kept ? 'kept' : 'lost'}, yet without opaque() ${without} error terms differ from the exact ones`);
      check(opaqueSums(device) === !kept, `OPAQUE_SUMS is ${opaqueSums(device)} where the probe said ${kept ? 'kept' : 'lost'}`);
    },
  },
  ...([['NCHW', [4, 3, 24, 24]], ['NC', [4096, 3]]] as [Layout, number[]][]).map(([layout, shape]): Case => ({
    name: `where the probe found float order kept, the barrier changes no bit: training forward and backward, ${layout} [${shape}]`,
    run: async (device) => {
      const kept = await probeFloatOrder(device);
      const [withBarrier, without] = [await compensatedRun(device, true, layout, shape), await compensatedRun(device, false, layout, shape)];
      const names = ['y', 'dx', 'dgamma', 'runningMean', 'runningVar'];
      const differs = names.filter((_, k) => withBarrier[k].some((b, i) => b !== without[k][i]));
      if (kept) check(differs.length === 0, `with and without opaque() these differ: ${differs.join(', ')}`);
      // where it found them lost, the barrier stays on for this device's BatchNorms
      else check(opaqueSums(device), 'the probe found error terms lost, yet OPAQUE_SUMS is off');
    },
  })),
];

export const numericsCases: Case[] = [...robustCases, reluParity, ...gradientChecks, ...determinism, ...nonFinite, ...floatOrder];
