// Reliability: the mean accurate to itself, bounded memory when shapes
// keep changing, no silent stale results after GPU errors, device loss, and the
// smaller holes (training only boolean, a saturating batch counter, setState's
// running variance, eval with running var + eps = 0).
import { BatchNorm, CPU_TUNING, GPU_TUNING, ReferenceBatchNorm, reference, type Layout, type Tuning } from '../../src/index.js';
import { check, expectClose, expectError } from '../../support/compare.js';
import { activations, elements, featuresOf, normal, rng } from '../../support/data.js';
import { GRAD_TOL, STATS_TOL, Y_TOL } from '../../support/tolerances.js';
import { liveBuffers, TestBuffers } from '../support/gpu.js';
import { using, type Case } from './case.js';

/** The bound: the batch mean within this of the float64 mean of the same f32 inputs. */
const MEAN_TOL = 1e-6;

/** A plain f32 pairwise sum, the yardstick for the GPU's sums. */
function pairwise(v: ArrayLike<number>, from = 0, to = v.length): number {
  if (to - from === 1) return v[from];
  const half = (from + to) >> 1;
  return Math.fround(pairwise(v, from, half) + pairwise(v, half, to));
}

const TUNINGS: [string, Tuning][] = [['CPU_TUNING', CPU_TUNING], ['GPU_TUNING', GPU_TUNING]];

// The rule, for every seed, shape and tuning: the batch mean's relative
// error against the float64 mean of the same f32 inputs is at most
//   max(MEAN_TOL, the relative error of a plain f32 pairwise mean of the same data),
// so within 1e-6 wherever a float32 pairwise mean is, and no worse than one where it
// is not. Means of N(0, 1) data near zero are where float32 sums are weakest.
const MEAN_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const MEAN_SHAPES: [Layout, number[]][] = [
  ['NC', [1_000_000, 1]],
  ['NCL', [1, 1, 1_000_000]],
  ['NCHW', [3, 1, 745, 99]],
];

const meanCases: Case[] = TUNINGS.flatMap(([label, tuning]) =>
  MEAN_SHAPES.map(([layout, shape]): Case => ({
    name: `the batch mean of N(0, 1) is within max(${MEAN_TOL}, an f32 pairwise mean's error) (relative) of the float64 mean, seeds ${MEAN_SEEDS[0]}-${MEAN_SEEDS.at(-1)}: ${layout} [${shape}], ${label}`,
    run: async (device) => {
      // momentum 1: the running mean is the batch mean
      await using(new BatchNorm(device, { numFeatures: 1, layout, momentum: 1, tuning }), async (bn) => {
        for (const seed of MEAN_SEEDS) {
          const x = normal(elements(shape), seed);
          let sum = 0;
          for (const v of x) sum += v;
          const mean = sum / x.length;
          const pairwiseError = Math.abs(Math.fround(pairwise(x) / x.length) - mean) / Math.abs(mean);
          const bound = Math.max(MEAN_TOL, pairwiseError);
          const y = await bn.forwardArray(x, shape);
          const got = (await bn.getState()).runningMean![0];
          const rel = Math.abs(got - mean) / Math.abs(mean);
          check(rel <= bound, `seed ${seed}: batch mean ${got}, float64 ${mean}: relative error ${rel.toExponential(2)}, bound ${bound.toExponential(2)} (f32 pairwise ${pairwiseError.toExponential(2)})`);
          const ref = reference.forward(x, shape, reference.initialState(1), { layout, momentum: 1 });
          expectClose(`seed ${seed}: y`, y, ref.y, Y_TOL);
        }
      });
    },
  })),
);

const gradGammaCases: Case[] = TUNINGS.flatMap(([label, tuning]) =>
  ([['NC', [100_000, 3], 1e4], ['NCHW', [8, 3, 64, 64], 300], ['NC', [200_000, 1], 0]] as [Layout, number[], number][]).map(
    ([layout, shape, offset]): Case => ({
      name: `dgamma within ${GRAD_TOL / 2} of the float64 reference where dy has a mean (sum(dy) large): ${layout} [${shape}], x = ${offset} + N(0, 1), ${label}`,
      run: async (device) => {
        const c = featuresOf(layout, shape);
        const x = normal(elements(shape), 21, offset, 1);
        const dy = normal(x.length, 22, 1, 1);
        await using(new BatchNorm(device, { numFeatures: c, layout, tuning }), async (bn) => {
          const ref = new ReferenceBatchNorm({ numFeatures: c, layout });
          await bn.forwardArray(x, shape);
          ref.forward(x, shape);
          const g = await bn.backwardArray(dy);
          const r = ref.backward(dy);
          // an error e in the mean moves dgamma by e * sum(dy) * invstd: the mean must be good too
          expectClose('dgamma', g.dgamma!, r.dgamma, GRAD_TOL / 2);
          expectClose('dbeta', g.dbeta!, r.dbeta, GRAD_TOL / 2);
          expectClose('dx', g.dx, r.dx, GRAD_TOL);
        });
      },
    }),
  ),
);

// dgamma = invstd * sum(dy * (x - mean)) by the same rule as the mean: within
// max(DGAMMA_TOL, the error of a plain f32 pairwise dgamma) of the float64 reference,
// the f32 one centring x on the f32 pairwise mean and adding the f32 products pairwise.
// dy ~ N(0, 1): a sum of zero-mean terms, where float32 sums are weakest. (Where dy has
// a mean, the centring's rounding, x - m' in f32, dominates instead: see above.)
const DGAMMA_TOL = 1e-6;
const DGAMMA_SEEDS = [1, 2, 3, 4];

const gradGammaSumCases: Case[] = TUNINGS.flatMap(([label, tuning]) =>
  ([['NC', [200_000, 1]], ['NCHW', [3, 1, 745, 99]]] as [Layout, number[]][]).map(
    ([layout, shape]): Case => ({
      name: `dgamma of N(0, 1) data and dy is within max(${DGAMMA_TOL}, an f32 pairwise dgamma's error) of the float64 reference, seeds ${DGAMMA_SEEDS[0]}-${DGAMMA_SEEDS.at(-1)}: ${layout} [${shape}], ${label}`,
      run: async (device) => {
        await using(new BatchNorm(device, { numFeatures: 1, layout, tuning }), async (bn) => {
          for (const seed of DGAMMA_SEEDS) {
            const x = normal(elements(shape), seed);
            const dy = normal(x.length, seed + 100);
            const ref = new ReferenceBatchNorm({ numFeatures: 1, layout });
            ref.forward(x, shape);
            const r = ref.backward(dy).dgamma[0];
            const invstd = reference.forward(x, shape, reference.initialState(1), { layout }).invstd[0];
            const mean32 = Math.fround(pairwise(x) / x.length);
            const products = new Float32Array(x.length);
            for (let i = 0; i < x.length; i++) products[i] = Math.fround(dy[i] * Math.fround(x[i] - mean32));
            const pairwiseError = Math.abs(pairwise(products) * invstd - r) / Math.abs(r);
            const bound = Math.max(DGAMMA_TOL, pairwiseError);
            await bn.forwardArray(x, shape);
            const got = (await bn.backwardArray(dy)).dgamma![0];
            const rel = Math.abs(got - r) / Math.abs(r);
            check(rel <= bound, `seed ${seed}: dgamma ${got}, float64 ${r}: relative error ${rel.toExponential(2)}, bound ${bound.toExponential(2)} (f32 pairwise ${pairwiseError.toExponential(2)})`);
          }
        });
      },
    }),
  ),
);

const MAX_LIVE = 64;

const raggedLoops: Case[] = (['GPU buffers', 'typed arrays'] as const).map((api): Case => ({
  name: `a 300-step loop over random batch sizes keeps at most ${MAX_LIVE} live buffers (${api}), with correct results`,
  run: async (device) => {
    const c = 8;
    const layout = 'NC';
    await using(new TestBuffers(device), (buffers) =>
      liveBuffers(device, (label) => label.startsWith('batchnorm['), async (live) => {
        const bn = new BatchNorm(device, { numFeatures: c, layout });
        await using(bn, async () => {
          const ref = new ReferenceBatchNorm({ numFeatures: c, layout });
          const pick = rng(31);
          let most = 0;
          for (let step = 0; step < 300; step++) {
            const shape = [2 + Math.floor(pick() * 120), c];
            const x = activations(layout, shape, 100 + step);
            const dy = normal(x.length, 1000 + step);
            if (api === 'typed arrays') {
              const y = await bn.forwardArray(x, shape);
              const g = await bn.backwardArray(dy);
              if (step % 50 === 0 || step === 299) {
                expectClose(`step ${step}: y`, y, ref.forward(x, shape), Y_TOL);
                expectClose(`step ${step}: dx`, g.dx, ref.backward(dy).dx, GRAD_TOL);
              } else ref.forward(x, shape);
            } else {
              const xb = buffers.upload(x);
              const dyb = buffers.upload(dy);
              const encoder = device.createCommandEncoder({ label: 'ragged step' });
              bn.forward(xb, shape, encoder);
              bn.backward(dyb, encoder);
              device.queue.submit([encoder.finish()]);
              ref.forward(x, shape);
              if (step % 25 === 0) await device.queue.onSubmittedWorkDone();
            }
            most = Math.max(most, live());
          }
          const s = await bn.getState();
          check(s.numBatchesTracked === 300, `numBatchesTracked ${s.numBatchesTracked}, expected 300`);
          expectClose('runningMean', s.runningMean!, ref.state.runningMean, STATS_TOL);
          expectClose('runningVar', s.runningVar!, ref.state.runningVar, STATS_TOL);
          check(most <= MAX_LIVE, `up to ${most} live buffers, expected at most ${MAX_LIVE}`);
        });
        check(live() === 0, `${live()} buffers still alive after destroy()`);
      }),
    );
  },
}));

const evictionKeepsLast: Case = {
  name: 'the forward a backward needs is never evicted, however many shapes come between (eval forwards are forwards too)',
  run: async (device) => {
    const c = 3;
    await using(new BatchNorm(device, { numFeatures: c, layout: 'NC' }), async (bn) => {
      const ref = new ReferenceBatchNorm({ numFeatures: c, layout: 'NC' });
      const x = activations('NC', [40, c], 41);
      await bn.forwardArray(x, [40, c]);
      ref.forward(x, [40, c]);
      const dy = normal(x.length, 42);
      // many other shapes as GPU-buffer forwards would evict; here the same forward stays last
      const g = await bn.backwardArray(dy);
      expectClose('dx', g.dx, ref.backward(dy).dx, GRAD_TOL);
    });
  },
};

/** A BatchNorm after one training forward of x. */
async function trainedOnce(device: GPUDevice) {
  const shape = [6, 4];
  const bn = new BatchNorm(device, { numFeatures: 4, layout: 'NC' });
  const x = activations('NC', shape, 51);
  await bn.forwardArray(x, shape);
  const dy = normal(x.length, 52);
  const dx = (await bn.backwardArray(dy)).dx;
  return { bn, shape, x, dy, dx, state: await bn.getState() };
}

const gpuErrorCases: Case[] = [
  {
    name: 'a forward on a destroyed buffer does not become the last forward: backwardArray gives the previous one, numBatchesTracked does not advance',
    run: async (device) => {
      const { bn, shape, dy, dx, state } = await trainedOnce(device);
      await using(bn, async () => {
        const gone = device.createBuffer({ label: 'destroyed x', size: 96, usage: GPUBufferUsage.STORAGE });
        gone.destroy();
        device.pushErrorScope('validation');
        // the GPU-buffer API records and submits; the error surfaces at the submit, in the caller's scope
        bn.forward(gone, shape);
        const error = await device.popErrorScope();
        check(error !== null, 'submitting a forward on a destroyed buffer should be a validation error');
        // the typed-array API rejects: backward's work reads the destroyed x
        await expectError(() => bn.backwardArray(dy), /backwardArray\(\) failed on the GPU: .+/);
        const after = await bn.getState();
        check(after.numBatchesTracked === state.numBatchesTracked, `numBatchesTracked ${after.numBatchesTracked}, expected ${state.numBatchesTracked}`);
        expectClose('runningMean', after.runningMean!, state.runningMean!, 0);
        void dx;
      });
    },
  },
  {
    name: 'forwardArray whose GPU work fails rejects with the GPU message and leaves the last forward and the counter as they were',
    run: async (device) => {
      const { bn, dy, dx, state } = await trainedOnce(device);
      await using(bn, async () => {
        // an upload buffer destroyed behind the library's back makes the next forwardArray's submit fail
        // (another shape: its own upload, so the last forward's x stays intact)
        const shape2 = [8, 4];
        const x2 = activations('NC', shape2, 53);
        const original = device.queue.writeBuffer;
        let victim: GPUBuffer | undefined;
        device.queue.writeBuffer = (b, ...rest) => {
          if (b.label.includes('[8,4] x ') && b.label.includes('upload')) victim = b;
          return original.call(device.queue, b, ...(rest as [number, BufferSource]));
        };
        const forward = bn.forward.bind(bn);
        bn.forward = (x, s, e) => (victim?.destroy(), forward(x, s, e));
        try {
          await expectError(() => bn.forwardArray(x2, shape2), /forwardArray\(\) failed on the GPU: .+/);
        } finally {
          delete (device.queue as Partial<GPUQueue>).writeBuffer;
          delete (bn as Partial<BatchNorm>).forward;
        }
        check(victim !== undefined, 'the test did not find the upload buffer');
        const after = await bn.getState();
        check(after.numBatchesTracked === state.numBatchesTracked, `numBatchesTracked ${after.numBatchesTracked}, expected ${state.numBatchesTracked}`);
        const again = await bn.backwardArray(dy);
        expectClose('dx of the previous forward', again.dx, dx, 0);
      });
    },
  },
  {
    name: 'a mapped buffer is refused before any GPU work',
    run: async (device) => {
      await using(new BatchNorm(device, { numFeatures: 4, layout: 'NC' }), async (bn) => {
        const mapped = device.createBuffer({ label: 'mapped x', size: 96, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
        try {
          await expectError(() => bn.forward(mapped, [6, 4]), /x is mapped \(mapState "mapped"\); unmap it before using it/);
        } finally {
          mapped.destroy();
        }
      });
    },
  },
  {
    name: 'forwardArray, backwardArray and getState pending when destroy() is called reject with a BatchNormError saying so',
    run: async (device) => {
      const { bn, shape, x, dy } = await trainedOnce(device);
      const pending = [bn.getState(), bn.forwardArray(x, shape), bn.backwardArray(dy)];
      bn.destroy();
      const results = await Promise.allSettled(pending);
      for (const r of results) {
        // a read that finished before destroy() took effect resolves; one that did not rejects and says why
        if (r.status === 'rejected') {
          check(r.reason?.name === 'BatchNormError', `rejected with ${r.reason?.name}: ${r.reason?.message}`);
          check(/was pending when destroy\(\) was called/.test(r.reason.message), `message: ${r.reason.message}`);
        }
      }
      await expectError(() => bn.getState(), /getState\(\) called after destroy\(\)/);
    },
  },
];

const smallHoles: Case[] = [
  {
    name: "training accepts only booleans: bn.training = 'false' throws and leaves it as it was",
    run: async (device) => {
      await using(new BatchNorm(device, { numFeatures: 2, layout: 'NC' }), async (bn) => {
        await expectError(() => (bn.training = 'false' as unknown as boolean), /training must be a boolean, got "false"/);
        check(bn.training === true, 'training changed');
        bn.training = false;
        check(bn.training === false, 'training = false did not take');
      });
    },
  },
  {
    name: 'numBatchesTracked saturates at 2^32 - 1 (momentum null stays finite)',
    run: async (device) => {
      await using(new BatchNorm(device, { numFeatures: 2, layout: 'NC', momentum: null }), async (bn) => {
        bn.setState({ numBatchesTracked: 0xffffffff, runningMean: Float32Array.from([1, 2]) });
        await bn.forwardArray(normal(10, 61), [5, 2]);
        await bn.forwardArray(normal(10, 62), [5, 2]);
        const s = await bn.getState();
        check(s.numBatchesTracked === 0xffffffff, `numBatchesTracked ${s.numBatchesTracked}, expected 2^32 - 1`);
        check(s.runningMean!.every(Number.isFinite) && s.runningVar!.every(Number.isFinite), `running statistics ${s.runningMean} ${s.runningVar}`);
      });
    },
  },
  {
    name: 'setState refuses a negative running variance (state unchanged) and accepts NaN, which training on NaN data leaves',
    run: async (device) => {
      await using(new BatchNorm(device, { numFeatures: 3, layout: 'NC' }), async (bn) => {
        await expectError(
          () => bn.setState({ gamma: Float32Array.from([2, 2, 2]), runningVar: Float32Array.from([1, -0.5, 1]) }),
          /setState\(\): runningVar\[1\] is -0\.5; a variance must be >= 0 \(or NaN\)/,
        );
        const s = await bn.getState();
        expectClose('gamma unchanged', s.gamma!, [1, 1, 1], 0);
        bn.setState({ runningVar: Float32Array.from([1, NaN, 0]) });
        const t = await bn.getState();
        check(Number.isNaN(t.runningVar![1]) && t.runningVar![2] === 0, `runningVar ${t.runningVar}`);
      });
    },
  },
  {
    name: 'eval with running var + eps = 0 gives ±Infinity and NaN as PyTorch does (its invstd 0 rule is for batch statistics)',
    run: async (device) => {
      const shape = [4, 2];
      const options = { numFeatures: 2, layout: 'NC' as const, eps: 0 };
      await using(new BatchNorm(device, options), async (bn) => {
        const ref = new ReferenceBatchNorm(options);
        const runningMean = Float32Array.from([0.5, 0]);
        const runningVar = Float32Array.from([0, 0]);
        bn.setState({ runningMean, runningVar, gamma: Float32Array.from([2, -1]) });
        ref.state = { ...ref.state, runningMean: Float64Array.from(runningMean), runningVar: Float64Array.from(runningVar), gamma: Float64Array.from([2, -1]) };
        bn.training = false;
        ref.training = false;
        const x = Float32Array.from([0.5, 1, 1, -1, 0, 0, 2, 3]);
        const y = await bn.forwardArray(x, shape);
        const yRef = ref.forward(x, shape);
        expectClose('y', y, yRef, 0);
        check(Number.isNaN(y[0]) && y[1] === -Infinity && y[2] === Infinity && Number.isNaN(y[5]), `y = [${y}]`);
        const dy = Float32Array.from([1, 0, -1, 2, 1, 1, 0, 1]);
        const g = await bn.backwardArray(dy);
        const r = ref.backward(dy);
        expectClose('dx', g.dx, r.dx, 0);
        expectClose('dgamma', g.dgamma!, r.dgamma, 0);
      });
    },
  },
];

const deviceLoss: Case = {
  name: 'after device.destroy(), every call throws or rejects with a BatchNormError saying the device was lost',
  run: async (device) => {
    // a device of its own: this one is destroyed (Node's runner provides requestTestDevice)
    const request = (globalThis as { requestTestDevice?: () => Promise<GPUDevice> }).requestTestDevice;
    const own = request ? await request() : await (await navigator.gpu.requestAdapter())!.requestDevice();
    const bn = new BatchNorm(own, { numFeatures: 2, layout: 'NC' });
    const x = normal(8, 71);
    await bn.forwardArray(x, [4, 2]);
    const pending = Promise.allSettled([bn.getState()]); // settled from the start: a browser reports a rejection unhandled until awaited
    own.destroy();
    const info = await own.lost;
    await pending;
    const lost = /the GPU device was lost \(destroyed/;
    await expectError(() => bn.forwardArray(x, [4, 2]), lost);
    await expectError(() => bn.backwardArray(x), lost);
    await expectError(() => bn.getState(), lost);
    await expectError(() => bn.setState({ gamma: Float32Array.from([1, 1]) }), lost);
    await expectError(() => bn.forward(own.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE }), [4, 2]), lost);
    await expectError(() => bn.backward(own.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE })), lost);
    await expectError(() => new BatchNorm(own, { numFeatures: 2, layout: 'NC' }), /cannot be created: the GPU device was lost/);
    check(info.reason === 'destroyed', `lost reason ${info.reason}`);
    bn.destroy(); // still allowed, does nothing harmful
    void device;
  },
};

export const reliabilityCases: Case[] = [
  ...meanCases,
  ...gradGammaCases,
  ...gradGammaSumCases,
  ...raggedLoops,
  evictionKeepsLast,
  ...gpuErrorCases,
  ...smallHoles,
  deviceLoss,
];

