// Float16 storage: x, y, dy, dx and the residual as IEEE binary16; γ, β, the
// running statistics and every sum f32. Every layout and an axis x {plain, relu,
// residual, relu + residual} at odd sizes against the float64 reference run on the
// decoded inputs (y and dx within f16 output rounding), values exactly
// representable, correct rounding, ±Infinity and NaN, a running variance past
// f16's range, the GPU-buffer API, data-parallel statistics and sums, each on both
// paths (packed u32s, and WGSL f16 where the device has shader-f16), and bad input.
import { BatchNorm, fromHalf, GPU_TUNING, toHalf, type BatchNormOptions, type FeaturePlacement } from '../../src/index.js';
import { check, expectClose, expectEqual, expectError } from '../../support/compare.js';
import { activations, elements, featuresOf, normal, placementName, placementOptions } from '../../support/data.js';
import { HALF_TOL, STATS_TOL } from '../../support/tolerances.js';
import { download, TestBuffers } from '../support/gpu.js';
import { forcePackedHalves, halfPathOf, type HalfPath } from '../../src/batchnorm/stages.js';
import { using, type Case } from './case.js';
import { EPILOGUES as FUSED_EPILOGUES, twins as fusedTwins, type Fused } from './fused.js';

const HALF_EPILOGUES: [string, Fused][] = [['plain', {}], ...FUSED_EPILOGUES];

/** Odd sizes: odd element counts (the last u32 half padding), tails in the periodic traversal, scalar plane items, one vec4-aligned plane. */
const PLACEMENTS: [FeaturePlacement, number[]][] = [
  ['NC', [37, 5]],
  ['NCL', [5, 3, 9]],
  ['NCHW', [3, 4, 5, 7]],
  ['NCHW', [3, 2, 4, 4]],
  ['NHWC', [3, 5, 7, 5]],
  ['NCDHW', [3, 3, 3, 5, 3]],
  ['NDHWC', [3, 3, 5, 3, 3]],
  [{ axis: -2 }, [5, 3, 7]],
];


/** A float16 BatchNorm with random gamma and beta, and its float64 twin. */
const twins = (device: GPUDevice, placement: FeaturePlacement, shape: number[], fused: Fused, seed: number, extra: Partial<BatchNormOptions> = {}) =>
  fusedTwins(device, placement, shape, fused, seed, { ...extra, storage: 'float16' });

/** Data as float16 bits and the values they hold. */
function half(values: Float32Array) {
  const bits = toHalf(values);
  return { bits, values: fromHalf(bits) };
}

/** GPU_TUNING: interleaved plane items (planeStep > 1), on a CPU adapter too. */
const TUNED: [FeaturePlacement, number[], Partial<BatchNormOptions>][] = [
  ['NCHW', [3, 4, 5, 7], { tuning: GPU_TUNING }],
  ['NCHW', [3, 2, 4, 4], { tuning: GPU_TUNING }],
  ['NHWC', [3, 5, 7, 5], { tuning: GPU_TUNING }],
];

const parityCases: Case[] = [...PLACEMENTS.map(([p, s]): [FeaturePlacement, number[], Partial<BatchNormOptions>] => [p, s, {}]), ...TUNED].flatMap(([placement, shape, extra]) =>
  HALF_EPILOGUES.filter(([label]) => !extra.tuning || label === 'relu + residual').map(([label, fused]): Case => ({
    name: `float16 ${label}${extra.tuning ? ' with GPU_TUNING' : ''} matches the float64 reference on the decoded inputs: ${placementName(placement)} [${shape}]`,
    run: async (device) => {
      const { bn, ref } = twins(device, placement, [...shape], fused, 11, extra);
      await using(bn, async () => {
        const n = elements(shape);
        for (const [training, seed] of [[true, 20], [true, 30], [false, 40]] as const) {
          bn.training = training;
          ref.training = training;
          const x = half(activations(placement, shape, seed));
          const z = fused.residual ? half(normal(n, seed + 1, 0, 2)) : undefined;
          const dy = half(normal(n, seed + 2));
          const mode = training ? 'training' : 'eval';
          const y = await bn.forwardArray(x.bits, shape, z ? { residual: z.bits } : {});
          check(y instanceof Uint16Array && y.length === n, `${mode} y should be a Uint16Array of ${n}`);
          expectClose(`${mode} y`, fromHalf(y), ref.forward(x.values, shape, z?.values), HALF_TOL);
          const g = await bn.backwardArray(dy.bits);
          const r = ref.backward(dy.values);
          check(g.dx instanceof Uint16Array && g.dgamma instanceof Float32Array, 'dx should be float16 bits, dgamma f32');
          expectClose(`${mode} dx`, fromHalf(g.dx), r.dx, HALF_TOL);
          expectClose(`${mode} dgamma`, g.dgamma, r.dgamma, HALF_TOL);
          expectClose(`${mode} dbeta`, g.dbeta, r.dbeta, HALF_TOL);
          if (fused.residual) expectClose(`${mode} dresidual`, fromHalf(g.dresidual!), r.dresidual!, HALF_TOL);
          else check(g.dresidual === null, 'dresidual should be null without residual');
          const s = await bn.getState();
          expectClose(`${mode} running mean`, s.runningMean!, ref.state.runningMean!, STATS_TOL);
          expectClose(`${mode} running var`, s.runningVar!, ref.state.runningVar!, STATS_TOL);
        }
      });
    },
  })),
);

/** Eval with mean 0, variance 1, eps 0, γ 1, β 0 is the identity: every half comes back bit for bit. */
const exactCase: Case = {
  name: 'float16: values exactly representable (subnormals, ±65504) come back bit for bit (eval identity), odd count, both traversals',
  run: async (device) => {
    const values = [0, 1, -1, 0.5, -2.75, 1024, 65504, -65504, 2 ** -14, -(2 ** -14), 3.140625, 2 ** -24, -(2 ** -20) * 3, 0.0999755859375, -3];
    for (const [placement, shape] of [['NC', [5, 3]], ['NCHW', [3, 1, 1, 5]], ['NCHW', [1, 1, 3, 5]]] as [FeaturePlacement, number[]][]) {
      const c = featuresOf(placement, shape);
      await using(new BatchNorm(device, { numFeatures: c, ...placementOptions(placement), eps: 0, storage: 'float16' }), async (bn) => {
        bn.training = false;
        const bits = toHalf(values);
        expectEqual(`${placementName(placement)} [${shape}] y bits`, await bn.forwardArray(bits, shape), bits);
      });
    }
  },
};

/**
 * y = x·γ in eval (mean 0, variance 1, eps 0, β 0), with products exact in f32: the
 * GPU's f16 rounding must be the host's toHalf bit for bit (to nearest, ties to even,
 * subnormal results, overflow to Infinity).
 */
const roundingCase: Case = {
  name: 'float16: outputs are correctly rounded (ties to even, subnormals, overflow), as toHalf rounds',
  run: async (device) => {
    const bits = toHalf(Float32Array.from({ length: 600 }, (_, i) => (i % 2 ? -1 : 1) * 2 ** ((i % 40) - 24) * (1 + ((i * 37) % 1024) / 1024)));
    bits[599] = toHalf([43690])[0]; // feature 2: ·1.5 is 65535, past 65520: Infinity
    bits[596] = toHalf([43000])[0]; // 64500
    const gammas = [1 + 2 ** -11, 3 * 2 ** -12, 1.5];
    await using(new BatchNorm(device, { numFeatures: 3, layout: 'NC', eps: 0, storage: 'float16' }), async (bn) => {
      bn.setState({ gamma: Float32Array.from(gammas) });
      bn.training = false;
      const got = await bn.forwardArray(bits, [200, 3]);
      const expected = toHalf(Array.from(fromHalf(bits), (v, i) => v * gammas[i % 3]));
      check(expected[599] === 0x7c00, 'the overflow value should round to Infinity');
      expectEqual('y bits', got, expected);
    });
  },
};

const nonFiniteCase: Case = {
  name: 'float16: ±Infinity and NaN in halves propagate as in the reference (training and eval)',
  run: async (device) => {
    const shape = [7, 3];
    const x = normal(21, 60, 1, 2);
    x[3] = Infinity; // feature 0 in training: NaN throughout
    x[10] = -Infinity;
    x[14] = NaN;
    const { bn, ref } = twins(device, 'NC', shape, {}, 61);
    await using(bn, async () => {
      for (const training of [true, false]) {
        bn.training = training;
        ref.training = training;
        const h = half(x);
        expectClose(`${training ? 'training' : 'eval'} y`, fromHalf(await bn.forwardArray(h.bits, shape)), ref.forward(h.values, shape), HALF_TOL);
        const dy = half(normal(21, 62));
        expectClose('dx', fromHalf((await bn.backwardArray(dy.bits)).dx), ref.backward(dy.values).dx, HALF_TOL);
      }
    });
  },
};

const largeVarianceCase: Case = {
  name: 'float16: a feature whose running variance exceeds 65504 stays finite (the statistics are f32)',
  run: async (device) => {
    const shape = [4, 2, 3, 5]; // 120 values
    const x = normal(120, 70);
    for (let i = 0; i < 120; i++) if (Math.floor(i / 15) % 2 === 0) x[i] *= 20000; // feature 0: variance near 4e8
    const { bn, ref } = twins(device, 'NCHW', shape, {}, 71);
    await using(bn, async () => {
      for (let step = 0; step < 3; step++) {
        const h = half(x);
        expectClose('y', fromHalf(await bn.forwardArray(h.bits, shape)), ref.forward(h.values, shape), HALF_TOL);
      }
      const s = await bn.getState();
      check(Number.isFinite(s.runningVar![0]) && s.runningVar![0] > 65504, `running var ${s.runningVar![0]} should be finite and past 65504`);
      expectClose('running var', s.runningVar!, ref.state.runningVar!, STATS_TOL);
      expectClose('running mean', s.runningMean!, ref.state.runningMean!, STATS_TOL);
    });
  },
};

/** Float16Array where the runtime has one (Chrome; Node from 24): taken and returned as itself. */
const float16ArrayCase: Case = {
  name: 'float16: a Float16Array is taken and returned where the runtime has one; GPU buffers of whole u32s',
  run: async (device) => {
    const shape = [3, 3, 1, 3]; // 27 values: odd
    const x = half(activations('NCHW', shape, 80));
    const dy = half(normal(27, 81));
    await using(new TestBuffers(device), (s) =>
      using(new BatchNorm(device, { numFeatures: 3, layout: 'NCHW', storage: 'float16' }), async (bn) => {
        const y = await bn.forwardArray(x.bits, shape);
        const dx = (await bn.backwardArray(dy.bits)).dx;
        // GPU-resident: a buffer of 28 halves (56 bytes, whole u32s) in, the BatchNorm's padded one out
        const xb = s.buffer(56, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        const padded = new Uint16Array(28);
        padded.set(x.bits);
        device.queue.writeBuffer(xb, 0, padded);
        const yb = bn.forward(xb, shape);
        check(yb.size === 64, `y has ${yb.size} bytes, expected 64 (27 halves padded to 16 bytes)`);
        expectEqual('y from a GPU buffer', new Uint16Array((await download(device, yb, 14)).buffer, 0, 27), y);
        const F16 = (globalThis as { Float16Array?: new (bits: ArrayBuffer) => ArrayLike<number> }).Float16Array;
        if (!F16) return;
        const y16 = await bn.forwardArray(new F16(x.bits.slice().buffer) as unknown as Uint16Array, shape);
        check(y16 instanceof (F16 as unknown as typeof Uint16Array), 'y should be a Float16Array when x is one');
        expectEqual('y of a Float16Array', Array.from(y16), Array.from(fromHalf(y)));
        const g = await bn.backwardArray(new F16(dy.bits.slice().buffer) as unknown as Uint16Array);
        expectEqual('dx of a Float16Array', Array.from(g.dx), Array.from(fromHalf(dx)));
      }),
    );
  },
};

// relu alone: a backward with sums masks dy in its dx pass; relu + residual: bn-grad-reduce writes dy' (dresidual)
const dataParallelCases: Case[] = [false, true].map((residual): Case => ({
  name: `float16 relu${residual ? ' + residual' : ''}: data-parallel statistics and sums on 2 shards equal one BatchNorm on the whole batch`,
  run: async (device) => {
    const shape = [7, 3, 5];
    const rows = [4, 3];
    const n = elements(shape);
    const x = half(activations('NCL', shape, 90));
    const z = half(normal(n, 91));
    const dy = half(normal(n, 92));
    const options = { numFeatures: 3, layout: 'NCL' as const, activation: 'relu' as const, residual, storage: 'float16' as const };
    await using(new BatchNorm(device, options), async (whole) => {
      const y = fromHalf(await whole.forwardArray(x.bits, shape, residual ? { residual: z.bits } : {}));
      const g = await whole.backwardArray(dy.bits);
      const shards = [new BatchNorm(device, options), new BatchNorm(device, options)];
      try {
        const per = 15;
        const parts = rows.map((r, i) => {
          const start = (i === 0 ? 0 : rows[0]) * per;
          return { shape: [r, 3, 5], x: x.bits.slice(start, start + r * per), z: z.bits.slice(start, start + r * per), dy: dy.bits.slice(start, start + r * per) };
        });
        const stats = BatchNorm.mergeStatistics(await Promise.all(parts.map((p, i) => shards[i].statisticsArray(p.x, p.shape))));
        const ys = await Promise.all(parts.map((p, i) => shards[i].forwardArray(p.x, p.shape, residual ? { statistics: stats, residual: p.z } : { statistics: stats })));
        expectClose('y', [...fromHalf(ys[0]), ...fromHalf(ys[1])], y, 1e-3);
        const sums = BatchNorm.mergeGradientSums(await Promise.all(parts.map((p, i) => shards[i].gradientSumsArray(p.dy))));
        const gs = await Promise.all(parts.map((p, i) => shards[i].backwardArray(p.dy, { sums })));
        expectClose('dx', [...fromHalf(gs[0].dx), ...fromHalf(gs[1].dx)], fromHalf(g.dx), 1e-3);
        expectClose('dgamma', gs[0].dgamma, g.dgamma, 1e-4);
        expectClose('dbeta', gs[0].dbeta, g.dbeta, 1e-4);
        if (residual) expectClose('dresidual', [...fromHalf(gs[0].dresidual!), ...fromHalf(gs[1].dresidual!)], fromHalf(g.dresidual!), 1e-3);
      } finally {
        shards.forEach((b) => b.destroy());
      }
    });
  },
}));

const SHAPE = [2, 3, 4, 5];
const badInputCases: Case[] = [
  {
    name: "new BatchNorm with storage 'fp16' throws",
    run: (device) => expectError(() => new BatchNorm(device, { numFeatures: 3, layout: 'NC', storage: 'fp16' as 'float16' }), /storage must be 'float32' or 'float16', got "fp16"/),
  },
  {
    name: 'float32 storage: a Uint16Array of halves throws, naming the storage',
    run: (device) =>
      using(new BatchNorm(device, { numFeatures: 3, layout: 'NC' }), (bn) =>
        expectError(() => bn.forwardArray(new Uint16Array(6) as unknown as Float32Array, [2, 3]), /x is a Uint16Array, but this BatchNorm has storage 'float32': pass a Float32Array \(fromHalf\(bits\)\), or make it with storage: 'float16'/)),
  },
  {
    name: 'float16: a Float32Array, a GPU buffer of the f32 size, a wrong length throw and change nothing',
    run: async (device) => {
      await using(new TestBuffers(device), (s) =>
        using(new BatchNorm(device, { numFeatures: 3, layout: 'NCHW', storage: 'float16' }), async (bn) => {
          const x = toHalf(normal(120, 100, 2, 3));
          await bn.forwardArray(x, SHAPE);
          const state = await bn.getState();
          const dy = toHalf(normal(120, 101));
          const before = (await bn.backwardArray(dy)).dx;
          await expectError(() => bn.forwardArray(new Float32Array(120) as unknown as Uint16Array, SHAPE), /x is a Float32Array, but this BatchNorm has storage 'float16': pass the binary16 bits as a Uint16Array \(toHalf\(values\)\) or a Float16Array/);
          await expectError(() => bn.backwardArray(new Float32Array(120) as unknown as Uint16Array), /dy is a Float32Array, but this BatchNorm has storage 'float16'/);
          await expectError(() => bn.forwardArray(new Uint16Array(119), SHAPE), /x has 119 elements, but 120 are expected/);
          await expectError(() => bn.forward(s.buffer(480), SHAPE), /x has 480 bytes, but the shape has 120 float16 elements \(240 bytes\)/);
          await expectError(() => bn.backward(s.buffer(480)), /dy has 480 bytes, but the shape has 120 float16 elements/);
          const after = await bn.getState();
          for (const k of ['runningMean', 'runningVar'] as const) expectEqual(k, after[k]!, state[k]!);
          check(after.numBatchesTracked === state.numBatchesTracked, 'numBatchesTracked changed');
          expectEqual('dx of the last good forward', (await bn.backwardArray(dy)).dx, before);
        }),
      );
    },
  },
];

const HALF_PATHS: HalfPath[] = ['packed', 'f16'];

/**
 * A case on each float16 path, named by it: packed on every device (forced where
 * the device has shader-f16), f16 where it has shader-f16 and skipped elsewhere.
 */
const onEachPath = (c: Case): Case[] =>
  HALF_PATHS.map((path) => ({
    name: `${c.name} (${path})`,
    skipOn: (device) => (path === 'f16' && !device.features.has('shader-f16') ? 'the device has no shader-f16, so float16 takes the packed path only' : undefined),
    run: async (device) => {
      forcePackedHalves(device, path === 'packed');
      try {
        check(halfPathOf(device) === path, `BatchNorms should take the ${path} path, not ${halfPathOf(device)}`);
        await c.run(device);
      } finally {
        forcePackedHalves(device, false);
      }
    },
  }));

export const halfCases: Case[] = [
  ...[...parityCases, exactCase, roundingCase, nonFiniteCase, largeVarianceCase, float16ArrayCase, ...dataParallelCases].flatMap(onEachPath),
  ...badInputCases,
];
