// GPU results against the float64 reference on the same f32 inputs.
// Tolerances (relative L2): y and running statistics 1e-5; dx, dgamma, dbeta 1e-4.
import { BatchNorm, ReferenceBatchNorm, type FeaturePlacement, type Layout } from '../../src/index.js';
import type { BatchNormOptions } from '../../src/index.js';
import { check, expectClose } from '../../support/compare.js';
import { GRAD_TOL, STATS_TOL, Y_TOL } from '../../support/tolerances.js';
import { activations, elements, featuresOf, normal, placementName, placementOptions } from '../../support/data.js';
import { using, type Case } from './case.js';


type Options = Omit<BatchNormOptions, 'numFeatures' | 'layout' | 'axis'>;


/** A GPU BatchNorm and its float64 twin, with the same random gamma and beta when affine. */
export function pair(device: GPUDevice, where: FeaturePlacement, shape: number[], options: Options = {}, seed = 1) {
  const numFeatures = featuresOf(where, shape);
  const bn = new BatchNorm(device, { numFeatures, ...placementOptions(where), ...options });
  const ref = new ReferenceBatchNorm({ numFeatures, ...placementOptions(where), ...options });
  if (options.affine !== false) {
    const gamma = normal(numFeatures, seed + 7, 1, 0.5);
    const beta = normal(numFeatures, seed + 8, 0, 2);
    bn.setState({ gamma, beta });
    ref.state.gamma = Float64Array.from(gamma);
    ref.state.beta = Float64Array.from(beta);
  }
  return { bn, ref };
}

/** dx when m = 2 is a pure cancellation (exactly 0 with eps = 0): judge it on the scale of its terms, |dy| * max|gamma * invstd|. */
function dxScale(dy: Float32Array, ref: ReferenceBatchNorm, layout: FeaturePlacement, shape: number[], eps = 1e-5) {
  if (elements(shape) / featuresOf(layout, shape) > 2) return undefined;
  const gammaMax = ref.state.gamma.reduce((a, g) => Math.max(a, Math.abs(g)), 0);
  return Math.hypot(...dy) * (gammaMax / Math.sqrt(eps));
}

export async function checkState(bn: BatchNorm<boolean>, ref: ReferenceBatchNorm, label: string) {
  const s = await bn.getState();
  expectClose(`${label} runningMean`, s.runningMean!, ref.state.runningMean, STATS_TOL);
  expectClose(`${label} runningVar`, s.runningVar!, ref.state.runningVar, STATS_TOL);
  check(s.numBatchesTracked === ref.state.numBatchesTracked,
    `${label} numBatchesTracked: got ${s.numBatchesTracked}, expected ${ref.state.numBatchesTracked}`);
}

export const SHAPES: [Layout, number[]][] = [
  ['NC', [7, 3]],
  ['NC', [64, 8]],
  ['NC', [2, 5]], // m = 2
  ['NC', [1000, 1]], // C = 1
  ['NC', [33, 1024]],
  ['NC', [9, 4099]], // C past 4096, odd
  ['NCL', [33, 5, 17]],
  ['NCL', [6, 12, 64]], // inner a multiple of 4: vec4 planes
  ['NCL', [2, 3, 2]], // inner 2 < 4
  ['NCL', [1, 2, 7]], // one sample
  ['NCL', [2, 3, 100_001]], // inner past 1e5, odd
  ['NCL', [2, 70_000, 2]], // more than 65535 workgroups: a 2D dispatch
  ['NCHW', [3, 7, 5, 9]],
  ['NCHW', [2, 9, 11, 13]],
  ['NCHW', [4, 16, 8, 8]],
  ['NCHW', [3, 1, 7, 7]], // C = 1
  ['NCHW', [1, 2, 320, 320]], // inner 102400
  ['NCHW', [8, 64, 7, 7]], // inner 49: scalar planes
  ['NCHW', [5, 3, 12, 12]], // CPU tuning: bn-apply's runs of 68 vec4s start mid-row and wrap past the last feature
  ['NHWC', [3, 7, 5, 9]],
  ['NHWC', [2, 9, 11, 13]],
  ['NHWC', [2, 4, 4, 1024]],
  ['NHWC', [1, 1, 2, 6]], // m = 2
  ['NHWC', [16, 32, 32, 256]], // 4.2e6 elements
  ['NCDHW', [2, 3, 4, 5, 6]],
  ['NCDHW', [3, 5, 2, 3, 7]], // inner 42: scalar planes
  ['NDHWC', [2, 3, 4, 5, 6]],
  ['NDHWC', [1, 2, 3, 1, 4]],
];

/** Rank 2 to 5 with the feature axis at every position, as `axis`: counted from the front and from the end in turn. */
const AXIS_SHAPES: [FeaturePlacement, number[]][] = [2, 3, 4, 5].flatMap((rank) =>
  Array.from({ length: rank }, (_, p): [FeaturePlacement, number[]] => {
    const shape = [6, 5, 4, 3, 7].slice(0, rank).map((d, i) => (i === p ? 3 + p : d));
    return [{ axis: p % 2 === 0 ? p : p - rank }, shape];
  }),
);


const shapeCases: Case[] = [...SHAPES, ...AXIS_SHAPES].map(([layout, shape]) => ({
  name: `${placementName(layout)} [${shape}]: training forward, running statistics, backward; eval forward and backward`,
  run: async (device) => {
    const { bn, ref } = pair(device, layout, shape, {}, shape.length);
    await using(bn, async () => {
      const n = elements(shape);
      const x = activations(layout, shape, n);
      const dy = normal(n, n + 1);
      expectClose('train y', await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
      await checkState(bn, ref, 'after one step');
      const g = await bn.backwardArray(dy);
      const r = ref.backward(dy);
      expectClose('train dx', g.dx, r.dx, GRAD_TOL, dxScale(dy, ref, layout, shape));
      expectClose('train dgamma', g.dgamma!, r.dgamma, GRAD_TOL);
      expectClose('train dbeta', g.dbeta!, r.dbeta, GRAD_TOL);

      bn.training = ref.training = false;
      const x2 = activations(layout, shape, n + 2);
      expectClose('eval y', await bn.forwardArray(x2, shape), ref.forward(x2, shape), Y_TOL);
      await checkState(bn, ref, 'after eval');
      const ge = await bn.backwardArray(dy);
      const re = ref.backward(dy);
      expectClose('eval dx', ge.dx, re.dx, GRAD_TOL);
      expectClose('eval dgamma', ge.dgamma!, re.dgamma, GRAD_TOL);
      expectClose('eval dbeta', ge.dbeta!, re.dbeta, GRAD_TOL);
    });
  },
}));

const STEP_SHAPES: [Layout, number[]][] = [
  ['NC', [37, 6]],
  ['NCHW', [3, 5, 6, 7]],
  ['NHWC', [4, 3, 5, 12]],
];

const stepCases: Case[] = [0.1, 0, null].flatMap((momentum) =>
  STEP_SHAPES.map(([layout, shape]): Case => ({
    name: `five training steps, momentum ${momentum}: ${layout} [${shape}]`,
    run: async (device) => {
      const { bn, ref } = pair(device, layout, shape, { momentum });
      await using(bn, async () => {
        for (let step = 0; step < 5; step++) {
          const x = activations(layout, shape, 100 + step);
          expectClose(`step ${step} y`, await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
          await checkState(bn, ref, `step ${step}`);
        }
      });
    },
  })),
);

const optionCases: Case[] = [
  ...([['NC', [50, 7]], ['NCHW', [2, 3, 5, 5]]] as [Layout, number[]][]).map(([layout, shape]): Case => ({
    name: `affine: false has no gamma, beta or their gradients: ${layout} [${shape}]`,
    run: async (device) => {
      const { bn, ref } = pair(device, layout, shape, { affine: false });
      await using(bn, async () => {
        const x = activations(layout, shape, 5);
        const dy = normal(x.length, 6);
        expectClose('y', await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
        const g = await bn.backwardArray(dy);
        expectClose('dx', g.dx, ref.backward(dy).dx, GRAD_TOL);
        check(g.dgamma === null && g.dbeta === null, 'backwardArray: dgamma and dbeta should be null');
        const s = await bn.getState();
        check(s.gamma === null && s.beta === null, 'getState: gamma and beta should be null');
      });
    },
  })),
  ...([['NC', [40, 9]], ['NHWC', [2, 3, 3, 8]]] as [Layout, number[]][]).map(([layout, shape]): Case => ({
    name: `trackRunningStats: false uses batch statistics in eval too: ${layout} [${shape}]`,
    run: async (device) => {
      const { bn, ref } = pair(device, layout, shape, { trackRunningStats: false });
      await using(bn, async () => {
        const dy = normal(elements(shape), 9);
        for (const training of [true, false]) {
          bn.training = ref.training = training;
          const x = activations(layout, shape, training ? 11 : 12);
          expectClose(`training=${training} y`, await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
          const g = await bn.backwardArray(dy);
          expectClose(`training=${training} dx`, g.dx, ref.backward(dy).dx, GRAD_TOL);
        }
        const s = await bn.getState();
        check(s.runningMean === null && s.runningVar === null && s.numBatchesTracked === null,
          'getState: running statistics should be null');
      });
    },
  })),
  {
    name: 'eps = 0 on a constant feature gives invstd 0 (y = beta, dx = 0), as PyTorch does',
    run: async (device) => {
      const shape = [6, 2];
      const { bn, ref } = pair(device, 'NC', shape, { eps: 0 });
      await using(bn, async () => {
        const x = Float32Array.from([3, -1, 3, 2, 3, 0.5, 3, 4, 3, -2, 3, 1]); // feature 0 constant
        const dy = normal(12, 3);
        const y = await bn.forwardArray(x, shape);
        expectClose('y', y, ref.forward(x, shape), Y_TOL);
        const beta = (await bn.getState()).beta!;
        for (let r = 0; r < 6; r++) check(y[2 * r] === beta[0], `y[${2 * r}] = ${y[2 * r]}, expected beta ${beta[0]}`);
        const g = await bn.backwardArray(dy);
        for (let r = 0; r < 6; r++) check(g.dx[2 * r] === 0, `dx[${2 * r}] = ${g.dx[2 * r]}, expected 0`);
        expectClose('dx', g.dx, ref.backward(dy).dx, GRAD_TOL);
      });
    },
  },
];

const conventionCases: Case[] = (
  [
    ['Keras / TF.js: momentum 1 - 0.99, eps 1e-3, biased running variance', { momentum: 0.01, eps: 1e-3, unbiasedRunningVar: false }],
    ['ONNX: momentum 1 - 0.9, eps 1e-5, biased running variance', { momentum: 0.1, eps: 1e-5, unbiasedRunningVar: false }],
  ] as [string, Options][]
).map(([label, options]): Case => ({
  name: `five training steps with the conventions of ${label}`,
  run: async (device) => {
    const layout = 'NHWC';
    const shape = [4, 3, 5, 12];
    const { bn, ref } = pair(device, layout, shape, options);
    await using(bn, async () => {
      for (let step = 0; step < 5; step++) {
        const x = activations(layout, shape, 200 + step);
        expectClose(`step ${step} y`, await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
        await checkState(bn, ref, `step ${step}`);
      }
    });
  },
}));

export const parityCases: Case[] = [...shapeCases, ...stepCases, ...optionCases, ...conventionCases];
