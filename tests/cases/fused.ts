// The fused epilogues: y = relu(BN(x) + z) in the apply stage, and
// its backward (ReLU's mask from y, applied to dy before the sums) in the
// gradient stages: every layout and an axis against the float64 reference, the
// reference against finite differences, values exactly at the ReLU kink, NaN and
// ±Infinity, data-parallel sums, the dispatch count, and bad input.
import { BatchNorm, GPU_TUNING, reference, ReferenceBatchNorm, type BatchNormOptions, type FeaturePlacement } from '../../src/index.js';
import { check, expectClose, expectEqual, expectError, relativeL2 } from '../../support/compare.js';
import { activations, elements, featuresOf, normal, placementName, placementOptions } from '../../support/data.js';
import { GRAD_TOL, Y_TOL } from '../../support/tolerances.js';
import { counting, download, TestBuffers } from '../support/gpu.js';
import { onPath, PATHS, using, type Case } from './case.js';

export type Fused = Pick<BatchNormOptions, 'activation' | 'residual'>;
export const EPILOGUES: [string, Fused][] = [
  ['relu', { activation: 'relu' }],
  ['residual', { residual: true }],
  ['relu + residual', { activation: 'relu', residual: true }],
];

/** Odd sizes: tails in the periodic traversal, scalar items in planes (inner % 4 != 0), and one vec4-aligned plane. */
const PLACEMENTS: [FeaturePlacement, number[]][] = [
  ['NC', [37, 5]],
  ['NCL', [5, 3, 9]],
  ['NCHW', [3, 4, 5, 7]],
  ['NCHW', [3, 2, 4, 4]],
  ['NHWC', [3, 5, 7, 6]],
  ['NCDHW', [2, 3, 3, 5, 3]],
  ['NDHWC', [2, 3, 5, 3, 3]],
  [{ axis: -2 }, [5, 3, 7]],
];


/** A BatchNorm with random gamma and beta, and its float64 twin (which takes the same options; it ignores tuning and storage). */
export function twins(device: GPUDevice, placement: FeaturePlacement, shape: number[], fused: Fused, seed: number, extra: Partial<BatchNormOptions> = {}) {
  const numFeatures = featuresOf(placement, shape);
  const options = { numFeatures, ...placementOptions(placement), ...fused, ...extra };
  const bn = new BatchNorm(device, options as BatchNormOptions<true>);
  const ref = new ReferenceBatchNorm(options as ConstructorParameters<typeof ReferenceBatchNorm>[0]);
  const gamma = normal(numFeatures, seed, 1, 0.5);
  const beta = normal(numFeatures, seed + 1, 0, 1);
  bn.setState({ gamma, beta });
  ref.state.gamma = Float64Array.from(gamma);
  ref.state.beta = Float64Array.from(beta);
  return { bn, ref };
}

const parityCases: Case[] = PLACEMENTS.flatMap(([placement, shape]) =>
  EPILOGUES.map(([label, fused]): Case => ({
    name: `${label} matches the float64 reference in training and eval: ${placementName(placement)} [${shape}]`,
    run: async (device) => {
      const { bn, ref } = twins(device, placement, shape, fused, 11);
      await using(bn, async () => {
        const n = elements(shape);
        for (const [training, seed] of [[true, 20], [true, 30], [false, 40]] as const) {
          bn.training = training;
          ref.training = training;
          const x = activations(placement, shape, seed);
          const z = fused.residual ? normal(n, seed + 1, 0, 2) : undefined;
          const dy = normal(n, seed + 2);
          const mode = training ? 'training' : 'eval';
          expectClose(`${mode} y`, await bn.forwardArray(x, shape, z ? { residual: z } : {}), ref.forward(x, shape, z), Y_TOL);
          const g = await bn.backwardArray(dy);
          const r = ref.backward(dy);
          expectClose(`${mode} dx`, g.dx, r.dx, GRAD_TOL);
          expectClose(`${mode} dgamma`, g.dgamma, r.dgamma, GRAD_TOL);
          expectClose(`${mode} dbeta`, g.dbeta, r.dbeta, GRAD_TOL);
          if (fused.residual) expectClose(`${mode} dresidual`, g.dresidual!, r.dresidual!, GRAD_TOL);
          else check(g.dresidual === null && r.dresidual === null, 'dresidual should be null without residual');
        }
      });
    },
  })),
);

/** GPU_TUNING: interleaved plane items (planeStep > 1) and short compensated loops, on a CPU adapter too. */
const gpuTuningCases: Case[] = ([['NCHW', [3, 4, 5, 7]], ['NCHW', [3, 2, 4, 4]], ['NHWC', [3, 5, 7, 6]]] as [FeaturePlacement, number[]][]).map(
  ([placement, shape]): Case => ({
    name: `relu + residual with GPU_TUNING matches the reference: ${placementName(placement)} [${shape}]`,
    run: async (device) => {
      const { bn, ref } = twins(device, placement, shape, { activation: 'relu', residual: true }, 12, { tuning: GPU_TUNING });
      await using(bn, async () => {
        const n = elements(shape);
        const x = activations(placement, shape, 21);
        const z = normal(n, 22);
        const dy = normal(n, 23);
        expectClose('y', await bn.forwardArray(x, shape, { residual: z }), ref.forward(x, shape, z), Y_TOL);
        const g = await bn.backwardArray(dy);
        const r = ref.backward(dy);
        expectClose('dx', g.dx, r.dx, GRAD_TOL);
        expectClose('dgamma', g.dgamma, r.dgamma, GRAD_TOL);
        expectClose('dresidual', g.dresidual!, r.dresidual!, GRAD_TOL);
      });
    },
  }),
);

/** The GPU-buffer calls: the encoder as the third argument still works, dresidual's buffer (dy itself without an activation). */
const bufferCases: Case[] = EPILOGUES.map(([label, fused]): Case => ({
  name: `${label}: forward and backward on GPU buffers in one encoder; dresidual is dy without an activation, the BatchNorm's own buffer with relu`,
  run: async (device) => {
    const shape = [3, 4, 6, 5];
    const { bn, ref } = twins(device, 'NHWC', shape, fused, 50);
    await using(new TestBuffers(device), (buffers) =>
      using(bn, async () => {
        const n = elements(shape);
        const x = activations('NHWC', shape, 51);
        const z = normal(n, 52);
        const dy = normal(n, 53);
        const dyBuffer = buffers.upload(dy);
        const encoder = device.createCommandEncoder();
        const y = fused.residual ? bn.forward(buffers.upload(x), shape, { encoder, residual: buffers.upload(z) }) : bn.forward(buffers.upload(x), shape, encoder);
        const g = bn.backward(dyBuffer, encoder);
        device.queue.submit([encoder.finish()]);
        expectClose('y', await download(device, y, n), ref.forward(x, shape, fused.residual ? z : undefined), Y_TOL);
        const r = ref.backward(dy);
        expectClose('dx', await download(device, g.dx, n), r.dx, GRAD_TOL);
        if (!fused.residual) check(g.dresidual === null, 'dresidual should be null');
        else if (fused.activation === 'relu') {
          check(g.dresidual !== dyBuffer && g.dresidual !== g.dx, 'dresidual with relu should be a buffer of its own');
          expectClose('dresidual', await download(device, g.dresidual!, n), r.dresidual!, GRAD_TOL);
        } else check(g.dresidual === dyBuffer, 'dresidual without an activation should be dy itself');
      }),
    );
  },
}));

/** The reference's fused backward against central differences of L = Σ w·y, in float64. */
const finiteDifferenceCases: Case[] = ([['NC', [6, 3]], ['NCHW', [2, 3, 2, 3]]] as [FeaturePlacement, number[]][]).flatMap(([placement, shape]) =>
  EPILOGUES.flatMap(([label, fused]) =>
    [true, false].map((training): Case => ({
      name: `the reference's ${label} backward matches central differences (${training ? 'training' : 'eval'}): ${placementName(placement)} [${shape}]`,
      run: async () => {
        const n = elements(shape);
        const c = featuresOf(placement, shape);
        const x = Float64Array.from(activations(placement, shape, 60));
        const z = Float64Array.from(normal(n, 61, 0, 2));
        const w = Float64Array.from(normal(n, 62));
        const state = reference.initialState(c);
        state.gamma = Float64Array.from(normal(c, 63, 1, 0.5));
        state.beta = Float64Array.from(normal(c, 64, 0, 1));
        state.runningMean = Float64Array.from(normal(c, 65));
        state.runningVar = Float64Array.from(normal(c, 66).map((v) => 0.5 + v * v));
        const options = { ...placementOptions(placement), ...fused, training };
        const run = () => reference.forward(x, shape, state, options, fused.residual ? z : undefined);
        const loss = () => run().y.reduce((s, v, i) => s + v * w[i], 0);
        const saved = run();
        const pre = saved.y.filter((v) => v > 0).length;
        check(pre > 0 && pre < n || fused.activation !== 'relu', 'the data should reach both sides of the kink');
        const g = reference.backward(x, w, shape, placement, state.gamma, saved);
        const h = 1e-6;
        const numeric = (values: Float64Array) =>
          values.map((v, i) => {
            values[i] = v + h;
            const up = loss();
            values[i] = v - h;
            const down = loss();
            values[i] = v;
            return (up - down) / (2 * h);
          });
        const against = (name: string, analytic: Float64Array, values: Float64Array) => {
          const err = relativeL2(analytic, numeric(values));
          check(err < 1e-6, `${name}: relative L2 error ${err} against central differences`);
        };
        against('dx', g.dx, x);
        against('dgamma', g.dgamma, state.gamma);
        against('dbeta', g.dbeta, state.beta);
        if (fused.residual) against('dresidual', g.dresidual!, z);
      },
    })),
  ),
);

/**
 * NC with 2 rows and eps = 0: x̂ is exactly -1 and +1 (mean 2, variance 1 from rows
 * 1 and 3), so BN(x) + z is exactly 0 where β = 1 (feature 0) or z = 1 (feature 1, with
 * residual). There y = 0 and, as PyTorch's ReLU, the gradient is 0 (mask y > 0).
 */
const kinkCases: Case[] = [false, true].map((residual): Case => ({
  name: `relu${residual ? ' + residual' : ''}: values exactly at the kink give y = 0 and gradient 0 there, as PyTorch`,
  run: async (device) => {
    const shape = [2, 3];
    const fused: Fused = { activation: 'relu', residual };
    const options = { numFeatures: 3, layout: 'NC' as const, eps: 0, ...fused };
    await using(new BatchNorm(device, options), async (bn) => {
      const ref = new ReferenceBatchNorm(options);
      const beta = new Float32Array([1, residual ? 0 : 1, 0]);
      bn.setState({ beta });
      ref.state.beta = Float64Array.from(beta);
      const x = new Float32Array([1, 1, 1, 3, 3, 3]); // rows [1, 1, 1] and [3, 3, 3]
      const z = residual ? new Float32Array([0, 1, 0.5, 0, 0, 0]) : undefined;
      const y = await bn.forwardArray(x, shape, z ? { residual: z } : {});
      const yRef = ref.forward(x, shape, z);
      // element 0 (feature 0, β = 1) and element 1 (feature 1, z = 1, or β = 1): exactly 0
      check(Object.is(y[0], 0) && y[1] === 0 && yRef[0] === 0 && yRef[1] === 0, `y at the kink: ${[...y]}, reference ${[...yRef]}`);
      check(y[2] === (residual ? 0 : 0), 'element 2 is below the kink: 0');
      expectEqual('y', y, Float32Array.from(yRef));
      const dy = new Float32Array([0.5, -2, 3, 1.5, 0.25, -1]);
      const g = await bn.backwardArray(dy);
      const r = ref.backward(dy);
      // the masked dy: 0 at the kink (0 and 1) and below it (2), dy above it
      const masked = [0, 0, 0, 1.5, 0.25, -1];
      expectEqual('dbeta', g.dbeta, Float32Array.from(r.dbeta));
      expectEqual('dbeta is the sum of the masked dy', g.dbeta, new Float32Array([1.5, 0.25, -1]));
      if (residual) expectEqual('dresidual', g.dresidual!, new Float32Array(masked));
      expectClose('dx', g.dx, r.dx, GRAD_TOL);
      expectClose('dgamma', g.dgamma, r.dgamma, GRAD_TOL);
    });
  },
}));

const nonFiniteCases: Case[] = [
  {
    name: 'relu + residual: ±Infinity and NaN in z propagate (y = Inf, 0, NaN) and the gradient is dy, 0, 0 there',
    run: async (device) => {
      const shape = [16, 3];
      const { bn, ref } = twins(device, 'NC', shape, { activation: 'relu', residual: true }, 70);
      await using(bn, async () => {
        const x = activations('NC', shape, 71);
        const z = normal(48, 72);
        z[4] = Infinity;
        z[10] = -Infinity;
        z[20] = NaN;
        const y = await bn.forwardArray(x, shape, { residual: z });
        check(y[4] === Infinity && y[10] === 0 && Number.isNaN(y[20]), `y at Inf, -Inf, NaN: ${y[4]}, ${y[10]}, ${y[20]}`);
        expectClose('y', y, ref.forward(x, shape, z), Y_TOL);
        const dy = normal(48, 73);
        const g = await bn.backwardArray(dy);
        const r = ref.backward(dy);
        check(g.dresidual![4] === dy[4] && g.dresidual![10] === 0 && g.dresidual![20] === 0, 'dresidual at Inf, -Inf, NaN should be dy, 0, 0');
        check(g.dx.every(Number.isFinite), 'dx should stay finite: x is');
        expectClose('dx', g.dx, r.dx, GRAD_TOL);
        expectClose('dgamma', g.dgamma, r.dgamma, GRAD_TOL);
        expectClose('dbeta', g.dbeta, r.dbeta, GRAD_TOL);
        expectClose('dresidual', g.dresidual!, r.dresidual!, GRAD_TOL);
      });
    },
  },
  {
    name: 'relu: NaN in x makes its feature NaN (relu keeps NaN), the other features stay as the reference',
    run: async (device) => {
      const shape = [4, 3, 5];
      const { bn, ref } = twins(device, 'NCL', shape, { activation: 'relu' }, 80);
      await using(bn, async () => {
        const x = activations('NCL', shape, 81);
        x[5 + 2] = NaN; // feature 1 of row 0
        const y = await bn.forwardArray(x, shape);
        expectClose('y', y, ref.forward(x, shape), Y_TOL);
        check([5, 6, 7, 8, 9, 20, 21].every((i) => Number.isNaN(y[i])), 'feature 1 should be NaN');
        const dy = normal(60, 82);
        const g = await bn.backwardArray(dy);
        const r = ref.backward(dy);
        expectClose('dx', g.dx, r.dx, GRAD_TOL);
        expectClose('dgamma', g.dgamma, r.dgamma, GRAD_TOL);
        expectClose('dbeta', g.dbeta, r.dbeta, GRAD_TOL);
      });
    },
  },
];

const dataParallelCases: Case[] = EPILOGUES.map(([label, fused]): Case => {
  // a backward with given sums: their finalize and dx; with ReLU and a residual, first
  // bn-grad-reduce, which writes dy' (dresidual)
  const backwardDispatches = fused.activation === 'relu' && fused.residual ? 3 : 2;
  return {
    name: `${label}, data-parallel: statistics merged on the device, gradient sums, backward with sums in ${backwardDispatches} dispatches (${fused.residual ? 'dx, dresidual' : 'dx'})`,
    run: async (device) => {
      const C = 4;
      const full = [5, C, 3, 5];
      const per = C * 15;
      const split = [[0, 2], [2, 5]];
      const gamma = normal(C, 90, 1, 0.5);
      const beta = normal(C, 91);
      const bns = split.map(() => new BatchNorm(device, { numFeatures: C, layout: 'NCHW', ...fused }));
      for (const bn of bns) bn.setState({ gamma, beta });
      const ref = new ReferenceBatchNorm({ numFeatures: C, layout: 'NCHW', ...fused });
      ref.state.gamma = Float64Array.from(gamma);
      ref.state.beta = Float64Array.from(beta);
      const buffers = new TestBuffers(device);
      try {
        const n = elements(full);
        const x = activations('NCHW', full, 92);
        const z = normal(n, 93);
        const dy = normal(n, 94);
        const yRef = ref.forward(x, full, fused.residual ? z : undefined);
        const gRef = ref.backward(dy);
        const part = (a: Float32Array, [from, to]: number[]) => buffers.upload(a.slice(from * per, to * per));
        const shapes = split.map(([a, b]) => [b - a, C, 3, 5]);
        const sizes = shapes.map(elements);
        const dys = split.map((s) => part(dy, s));
        const encoder = device.createCommandEncoder();
        const xs = split.map((s) => part(x, s));
        const merged = bns[0].mergeStatisticsBuffers(bns.map((bn, i) => bn.statistics(xs[i], shapes[i], encoder)), encoder);
        const ys = bns.map((bn, i) =>
          bn.forward(xs[i], shapes[i], fused.residual ? { encoder, statistics: merged, residual: part(z, split[i]) } : { encoder, statistics: merged }),
        );
        const sums = bns.map((bn, i) => bn.gradientSums(dys[i], encoder));
        device.queue.submit([encoder.finish()]);
        const y = await Promise.all(ys.map((b, i) => download(device, b, sizes[i])));
        expectClose('y', Float32Array.from(y.flatMap((v) => [...v])), yRef, Y_TOL);
        const total = new Float32Array(3 * C);
        for (const s of await Promise.all(sums.map((b) => download(device, b, 3 * C)))) s.forEach((v, i) => (total[i] += v));
        const sumsBuffer = buffers.upload(total);
        const grads = bns.map((bn, i) => {
          const { encoder: one, log } = recordingEncoder(device);
          const g = bn.backward(dys[i], { encoder: one, sums: sumsBuffer });
          check(log.dispatches === backwardDispatches, `backward with sums: ${log.dispatches} dispatches, expected ${backwardDispatches}`);
          device.queue.submit([one.finish()]);
          return g;
        });
        const joined = async (key: 'dx' | 'dresidual') =>
          Float32Array.from((await Promise.all(grads.map((g, i) => download(device, g[key]!, sizes[i])))).flatMap((v) => [...v]));
        expectClose('dx', await joined('dx'), gRef.dx, GRAD_TOL);
        if (fused.residual) expectClose('dresidual', await joined('dresidual'), gRef.dresidual!, GRAD_TOL);
        else check(grads.every((g) => g.dresidual === null), 'dresidual should be null without residual');
        expectClose('dgamma', await download(device, grads[0].dgamma, C), gRef.dgamma, GRAD_TOL);
        expectClose('dbeta', await download(device, grads[1].dbeta, C), gRef.dbeta, GRAD_TOL);
      } finally {
        buffers.destroy();
        for (const bn of bns) bn.destroy();
      }
    },
  };
});

/** Counts the dispatches recorded into an encoder. */
function recordingEncoder(device: GPUDevice) {
  const log = { dispatches: 0 };
  const encoder = device.createCommandEncoder({ label: 'test encoder' });
  const begin = encoder.beginComputePass.bind(encoder);
  encoder.beginComputePass = (descriptor) => {
    const pass = begin(descriptor);
    const dispatch = pass.dispatchWorkgroups.bind(pass);
    pass.dispatchWorkgroups = (x, y = 1, z = 1) => (log.dispatches++, dispatch(x, y, z));
    return pass;
  };
  return { encoder, log };
}

const dispatchCases: Case[] = EPILOGUES.flatMap(([label, fused]) =>
  PATHS.map((path): Case => {
    // a residual keeps the three passes (the one-pass forward has no binding left for it)
    const training = path === 'one pass' && !fused.residual ? 1 : 3;
    const evalForward = fused.residual ? 2 : 1;
    return {
      name: `${label}, ${path}: training ${training} + ${training} dispatches, eval ${evalForward} + ${training} (with a residual, eval's finalize runs apart)`,
      ownPath: true,
      run: (device) =>
        onPath(device, path, async () => {
          const shape = [2, 8, 4, 4];
          await using(new TestBuffers(device), (buffers) =>
            using(new BatchNorm(device, { numFeatures: 8, layout: 'NCHW', ...fused }), async (bn) => {
              const x = buffers.upload(activations('NCHW', shape, 100));
              const z = buffers.upload(normal(256, 101));
              const dy = buffers.upload(normal(256, 102));
              const expected = { 'training forward': training, 'training backward': training, 'eval forward': evalForward, 'eval backward': training };
              for (const [op, dispatches] of Object.entries(expected)) {
                bn.training = op.startsWith('training');
                const { encoder, log } = recordingEncoder(device);
                await counting(device, async (counts) => {
                  if (op.endsWith('forward')) bn.forward(x, shape, fused.residual ? { encoder, residual: z } : encoder);
                  else bn.backward(dy, encoder);
                  check(counts.submits === 0, `${op}: submitted into the queue while recording into the caller's encoder`);
                });
                check(log.dispatches === dispatches, `${op}: ${log.dispatches} dispatches, expected ${dispatches}`);
                device.queue.submit([encoder.finish()]);
              }
              await device.queue.onSubmittedWorkDone();
            }),
          );
        }),
    };
  }),
);

/**
 * Eval in one dispatch (no residual: apply-running.wgsl) against eval's two (a
 * residual of zeros: bn-finalize, then bn-apply): the same y, and through the
 * constants the one pass stores, the same dx, dgamma, dbeta. Both backwards take the
 * three passes (a residual's always does; the one-pass backward adds dgamma's terms
 * in another order).
 */
const evalOnePassCases: Case[] = ([['NC', [37, 5]], ['NCHW', [3, 4, 5, 7]], ['NHWC', [3, 5, 7, 5]], ['NCL', [64, 8, 32]]] as [FeaturePlacement, number[]][]).map(
  ([placement, shape]): Case => ({
    name: `eval in one dispatch gives the bits of eval in two (bn-finalize, then bn-apply), y and the backward through it: ${placementName(placement)} [${shape}]`,
    ownPath: true,
    run: (device) => onPath(device, 'three passes', async () => {
      const c = featuresOf(placement, shape);
      const state = { gamma: normal(c, 40, 1, 0.5), beta: normal(c, 41), runningMean: normal(c, 42), runningVar: normal(c, 43, 2, 0.5).map(Math.abs) };
      const make = (residual: boolean) => {
        const bn = new BatchNorm(device, { numFeatures: c, ...placementOptions(placement), activation: 'relu', residual });
        bn.setState(state);
        bn.training = false;
        return bn;
      };
      await using(make(false), (one) =>
        using(make(true), async (two) => {
          const x = normal(elements(shape), 44, 0.5, 2);
          const dy = normal(elements(shape), 45);
          const y1 = await one.forwardArray(x, shape);
          const y2 = await two.forwardArray(x, shape, { residual: new Float32Array(x.length) });
          check(y1.every((v, i) => v === y2[i]), 'y differs between one dispatch and two');
          const [g1, g2] = [await one.backwardArray(dy), await two.backwardArray(dy)];
          for (const k of ['dx', 'dgamma', 'dbeta'] as const) {
            const [a, b] = [g1[k]!, g2[k]!];
            check(a.every((v, i) => v === b[i]), `${k} differs between one dispatch and two`);
          }
        }),
      );
    }),
  }),
);

// ---- bad input: a BatchNormError naming the value, nothing changed ---------------

const constructorErrors: [string, Partial<BatchNormOptions>, RegExp][] = [
  ["activation 'ReLU'", { activation: 'ReLU' as 'relu' }, /activation must be 'none' or 'relu', got "ReLU"/],
  ["activation 'gelu'", { activation: 'gelu' as 'relu' }, /activation must be 'none' or 'relu', got "gelu"/],
  ['activation null', { activation: null as unknown as 'relu' }, /activation must be 'none' or 'relu', got null/],
  ["residual 'yes'", { residual: 'yes' as unknown as boolean }, /residual must be a boolean, got "yes"/],
];

const SHAPE = [2, 3, 4, 5];

/** A bad call on a trained fused BatchNorm: the error, and the state and the last forward unchanged. */
function rejects(what: string, pattern: RegExp, fused: Fused, call: (bn: BatchNorm, s: TestBuffers) => unknown): Case {
  return {
    name: `${what} throws and changes nothing`,
    run: async (device) => {
      await using(new TestBuffers(device), (s) =>
        using(new BatchNorm(device, { numFeatures: 3, layout: 'NCHW', ...fused }), async (bn) => {
          bn.setState({ gamma: normal(3, 110, 1, 0.3), beta: normal(3, 111) });
          const x = normal(120, 112, 2, 3);
          await bn.forwardArray(x, SHAPE, fused.residual ? { residual: normal(120, 113) } : {});
          const state = await bn.getState();
          const dy = normal(120, 114);
          const grads = await bn.backwardArray(dy);
          await expectError(() => call(bn, s), pattern);
          const after = await bn.getState();
          for (const k of ['gamma', 'beta', 'runningMean', 'runningVar'] as const) expectEqual(k, after[k]!, state[k]!);
          check(after.numBatchesTracked === state.numBatchesTracked, 'numBatchesTracked changed');
          expectEqual('dx of the last good forward', (await bn.backwardArray(dy)).dx, grads.dx);
        }),
      );
    },
  };
}

const RESIDUAL: Fused = { activation: 'relu', residual: true };
const badInputCases: Case[] = [
  ...constructorErrors.map(([what, options, pattern]): Case => ({
    name: `new BatchNorm with ${what} throws`,
    run: (device) => expectError(() => new BatchNorm(device, { numFeatures: 3, layout: 'NC', ...options }), pattern),
  })),
  rejects('forward with a residual of the wrong size', /residual has 400 bytes, but the shape has 120 f32 elements \(480 bytes\)/, RESIDUAL,
    (bn, s) => bn.forward(s.buffer(480), SHAPE, { residual: s.buffer(400) })),
  rejects('forwardArray with a residual of the wrong length', /residual has 119 elements, but 120 are expected/, RESIDUAL,
    (bn) => bn.forwardArray(new Float32Array(120), SHAPE, { residual: new Float32Array(119) })),
  rejects('forward with residual: true and no residual (an encoder alone)', /forward\(\): this BatchNorm was made with residual: true; pass the residual tensor: forward\(x, shape, \{ residual: z \}\)/, RESIDUAL,
    (bn, s) => bn.forward(s.buffer(480), SHAPE, bn.device.createCommandEncoder())),
  rejects('forwardArray with residual: true and no residual', /forwardArray\(\): this BatchNorm was made with residual: true; pass the residual tensor/, RESIDUAL,
    (bn) => bn.forwardArray(new Float32Array(120), SHAPE)),
  rejects('forward with a residual on a BatchNorm without residual', /forward\(\): residual given \(a GPUBuffer\), but this BatchNorm was made without residual: true/, { activation: 'relu' },
    (bn, s) => bn.forward(s.buffer(480), SHAPE, { residual: s.buffer(480) })),
  rejects('forwardArray with a residual on a BatchNorm without residual', /forwardArray\(\): residual given \(Float32Array\(120\).*\), but this BatchNorm was made without residual: true/, {},
    (bn) => bn.forwardArray(new Float32Array(120), SHAPE, { residual: new Float32Array(120) })),
  rejects('forward with its own dresidual as the residual', /residual is a buffer this forward\(\) writes; copy it first/, RESIDUAL,
    (bn, s) => bn.forward(s.buffer(480), SHAPE, { residual: bn.backward(s.upload(normal(120, 115))).dresidual! })),
  rejects('forward with a residual that is not a buffer', /residual must be a GPUBuffer, got Float32Array\(120\)/, RESIDUAL,
    (bn, s) => bn.forward(s.buffer(480), SHAPE, { residual: new Float32Array(120) as unknown as GPUBuffer })),
];

export const fusedCases: Case[] = [
  ...parityCases,
  ...gpuTuningCases,
  ...bufferCases,
  ...finiteDifferenceCases,
  ...kinkCases,
  ...nonFiniteCases,
  ...dataParallelCases,
  ...dispatchCases,
  ...evalOnePassCases,
  ...badInputCases,
];
