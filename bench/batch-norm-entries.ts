// The batch-norm rows: the sizes the benchmark's two models train at (trainingSizeEntries),
// then six shapes (one of 16.7e6 elements) × four ops, on seeded random inputs rotated
// between iterations, each op checked once against the float64 reference before it is timed.
import { Activation, BatchNorm, canonicalView, fromHalf, reference, toHalf, type BatchNormOptions, type Gradients, type Layout, type TensorStorage, type Tuning } from 'webgpu-batchnorm';
import { GRAD_TOL, HALF_TOL, Y_TOL } from '../support/tolerances.js';
import { expectClose } from '../support/compare.js';
import { activations, elements, normal } from '../support/data.js';
import { CNN, cnnBatchNormShapes } from './cnn-spec.js';
import { readFloats, upload } from './gpu.js';
import { NETWORK } from './training-entries.js';
import type { BatchNormOp, BenchEntry, OursRun, ShapeData } from './types.js';

/** Smallest first: the peer's time budget extrapolates from the shape before. */
export const SHAPES: [Layout, number[]][] = [
  ['NC', [64, 128]],
  ['NC', [4096, 256]],
  ['NCHW', [32, 64, 32, 32]],
  ['NHWC', [32, 32, 32, 64]],
  ['NC', [65536, 64]],
  ['NCHW', [16, 64, 128, 128]],
];

export const OPS: BatchNormOp[] = ['training forward', 'eval forward', 'backward', 'training step'];

/**
 * Fewest bytes per element in f32 (docs/design.md): training forward reads x twice
 * and writes y; eval forward reads x and writes y; backward reads x and dy twice
 * and writes dx; a training step is a training forward and a backward.
 */
export const BYTES_PER_ELEMENT: Record<BatchNormOp, number> = {
  'training forward': 3 * 4,
  'eval forward': 2 * 4,
  backward: 5 * 4,
  'training step': 8 * 4,
};

const EPS = 1e-5;

/** Inputs are rotated so that at least this many bytes of x stream through (caches cannot hold them), 2 to 8 copies. */
const ROTATED_BYTES = 64 << 20;
const rotations = (n: number) => Math.min(8, Math.max(2, Math.ceil(ROTATED_BYTES / (4 * n))));

function makeShapeData(layout: Layout, shape: number[]): ShapeData {
  const n = elements(shape);
  const c = canonicalView(layout, shape).features;
  const copies = rotations(n);
  const seed = n % 100_003;
  const x = Array.from({ length: copies }, (_, i) => activations(layout, shape, seed + 2 * i));
  const dy = Array.from({ length: copies }, (_, i) => normal(n, seed + 2 * i + 1));
  const gamma = normal(c, seed + 101, 1, 0.5);
  const beta = normal(c, seed + 102, 0, 2);
  const runningMean = normal(c, seed + 103, 0, 3);
  const runningVar = normal(c, seed + 104).map((v) => 0.2 + v * v);
  let expected: ShapeData['expected'] | undefined;
  return {
    layout,
    shape,
    x,
    dy,
    gamma,
    beta,
    runningMean,
    runningVar,
    get expected() {
      if (!expected) {
        const state = referenceState(this);
        const train = reference.forward(x[0], shape, state, { layout, eps: EPS });
        const evalY = reference.forward(x[0], shape, state, { layout, eps: EPS, training: false }).y;
        const grads = reference.backward(x[0], dy[0], shape, layout, state.gamma, train);
        expected = { trainY: train.y, evalY, ...grads };
      }
      return expected;
    },
  };
}

/** The float64 reference's state from a shape's parameters and running statistics, before any step. */
function referenceState(d: Pick<ShapeData, 'gamma' | 'beta' | 'runningMean' | 'runningVar'>) {
  return {
    gamma: Float64Array.from(d.gamma),
    beta: Float64Array.from(d.beta),
    runningMean: Float64Array.from(d.runningMean),
    runningVar: Float64Array.from(d.runningVar),
    numBatchesTracked: 0,
  };
}

/** The i-th of a row's rotated input buffers. */
const at = (list: GPUBuffer[], i: number) => list[i % list.length];

/**
 * What every row's setup starts with: a BatchNorm holding the shape's parameters
 * and running statistics, and uploads of the rotated inputs, destroyed with it.
 */
function rowSetup(device: GPUDevice, d: ShapeData, options: Partial<BatchNormOptions>) {
  const { layout, shape } = d;
  const c = canonicalView(layout, shape).features;
  const bn = new BatchNorm(device, { numFeatures: c, layout, eps: EPS, ...options } as BatchNormOptions<true>);
  bn.setState({ gamma: d.gamma, beta: d.beta, runningMean: d.runningMean, runningVar: d.runningVar });
  const buffers: GPUBuffer[] = [];
  return {
    bn,
    n: elements(shape),
    c,
    uploadAll(name: string, arrays: (Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer>)[]): GPUBuffer[] {
      return arrays.map((a, i) => {
        const b = upload(device, `bench ${name} ${i} of ${layout} [${shape}]`, a);
        buffers.push(b);
        return b;
      });
    },
    destroy() {
      bn.destroy();
      for (const b of buffers) b.destroy();
    },
  };
}

/** The data of one shape at a time (rows run shape by shape; the previous shape's arrays are let go). */
let current: { key: string; data: ShapeData } | undefined;
function shapeData(layout: Layout, shape: number[]): ShapeData {
  const key = `${layout} ${shape}`;
  if (current?.key !== key) {
    current = undefined; // let the previous shape's arrays go before making the next
    current = { key, data: makeShapeData(layout, shape) };
  }
  return current.data;
}

/** The shape the data-parallel row runs on. */
const SPLIT_SHAPE: [Layout, number[]] = ['NCHW', [32, 64, 32, 32]];

/**
 * A training step through the data-parallel calls on one shard with the merge on the
 * device (no transport): statistics (x), merge, forward with them (x, y), gradient
 * sums (x, dy), backward with them (x, dy, dx): the same 32 bytes per element as the
 * fused step, in 10 dispatches instead of 6.
 */
async function setupSplitStep(device: GPUDevice, d: ShapeData, tuning: Partial<Tuning>): Promise<OursRun> {
  const { shape } = d;
  const row = rowSetup(device, d, { tuning });
  const { bn, n } = row;
  const xs = row.uploadAll('x', d.x as Float32Array<ArrayBuffer>[]);
  const dys = row.uploadAll('dy', d.dy as Float32Array<ArrayBuffer>[]);
  let y: GPUBuffer | undefined;
  let grads: Gradients<GPUBuffer> | undefined;
  return {
    encode(encoder, i) {
      const statistics = bn.mergeStatisticsBuffers([bn.statistics(at(xs, i), shape, encoder)], encoder);
      y = bn.forward(at(xs, i), shape, { encoder, statistics });
      const sums = bn.gradientSums(at(dys, i), encoder);
      grads = bn.backward(at(dys, i), { encoder, sums });
    },
    async verify() {
      const e = d.expected;
      const [got, dx] = await readFloats(device, [{ buffer: y!, floats: n }, { buffer: grads!.dx, floats: n }]);
      expectClose('data-parallel y', got, e.trainY, Y_TOL);
      expectClose('data-parallel dx', dx, e.dx, GRAD_TOL);
    },
    destroy: row.destroy,
  };
}

/** One of the four ops, with x, y, dy and dx in the storage (float16: γ, β and the statistics stay f32). */
async function setupOurs(device: GPUDevice, op: BatchNormOp, d: ShapeData, tuning: Partial<Tuning>, storage: TensorStorage = 'float32'): Promise<OursRun> {
  const { layout, shape } = d;
  const half = storage === 'float16';
  const row = rowSetup(device, d, { tuning, storage });
  const { bn, n, c } = row;
  const forwards = op !== 'backward';
  const backwards = op === 'backward' || op === 'training step';
  bn.training = op !== 'eval forward';
  // float16: the binary16 bits as u32 words, two halves each (n is even)
  const stored = (a: Float32Array) => (half ? new Uint32Array(toHalf(a).buffer) : (a as Float32Array<ArrayBuffer>));
  const xs = row.uploadAll(`${storage} x`, d.x.map(stored));
  const dys = backwards ? row.uploadAll(`${storage} dy`, d.dy.map(stored)) : [];
  let y = forwards ? undefined : bn.forward(xs[0], shape); // the forward every timed backward differentiates
  let grads: Gradients<GPUBuffer> | undefined;
  return {
    encode(encoder, i) {
      if (forwards) y = bn.forward(at(xs, i), shape, encoder);
      if (backwards) grads = bn.backward(at(dys, i), encoder);
    },
    async verify() {
      const label = half ? `float16 ${op}` : op;
      if (half) {
        // the float64 reference on the decoded inputs
        const state = referenceState(d);
        const x = fromHalf(toHalf(d.x[0]));
        const forward = reference.forward(x, shape, state, { layout, eps: EPS, training: bn.training });
        const parts = [{ buffer: y!, floats: n / 2 }, ...(grads ? [{ buffer: grads.dx, floats: n / 2 }] : [])];
        const [got, gotDx] = (await readFloats(device, parts)).map((w) => fromHalf(new Uint16Array(w.buffer, w.byteOffset, n)));
        expectClose(`${label} y`, got, forward.y, HALF_TOL);
        if (grads) expectClose(`${label} dx`, gotDx, reference.backward(x, fromHalf(toHalf(d.dy[0])), shape, layout, state.gamma, forward).dx, HALF_TOL);
        return;
      }
      const e = d.expected;
      const [got] = await readFloats(device, [{ buffer: y!, floats: n }]);
      expectClose(`${label} y`, got, op === 'eval forward' ? e.evalY : e.trainY, Y_TOL);
      if (grads) {
        const [dx, dgamma, dbeta] = await readFloats(device, [
          { buffer: grads.dx, floats: n },
          { buffer: grads.dgamma!, floats: c },
          { buffer: grads.dbeta!, floats: c },
        ]);
        expectClose(`${label} dx`, dx, e.dx, GRAD_TOL);
        expectClose(`${label} dgamma`, dgamma, e.dgamma, GRAD_TOL);
        expectClose(`${label} dbeta`, dbeta, e.dbeta, GRAD_TOL);
      }
    },
    destroy: row.destroy,
  };
}

/** The shapes the fused-epilogue rows run on (≥ 1e6 elements). */
const FUSED_SHAPES: [Layout, number[]][] = [
  ['NCHW', [32, 64, 32, 32]],
  ['NHWC', [32, 32, 32, 64]],
];

type FusedOp = 'fused BN+ReLU training step' | 'BN then ReLU training step (unfused)' | 'fused BN+add+ReLU training step';

/**
 * Fewest bytes per element in f32 of the fused-epilogue training steps (forward + backward):
 * - fused BN+ReLU, 40: forward 12 (x twice, y); backward 28: bn-grad-reduce reads x, dy
 *   and y (the mask) and writes dy' = dy·[y > 0], the dx pass reads x and dy' and writes dx.
 * - BN then the toolkit's ReLU, 52: BN forward 12, ReLU forward 8 (BN's y in, y out),
 *   ReLU backward 12 (y, dy in, dy' out), BN backward 20 (x and dy' twice, dx).
 * - fused BN+add+ReLU, 44: forward 16 (x twice, z, y), backward 28 as BN+ReLU: dresidual
 *   is the dy' written anyway. (Unfused, with an add kernel between: 12 + 12 + 8 forward,
 *   12 + 20 backward, 64; the toolkit has no add, so there is no such row.)
 */
const FUSED_BYTES: Record<FusedOp, number> = {
  'fused BN+ReLU training step': 40,
  'BN then ReLU training step (unfused)': 52,
  'fused BN+add+ReLU training step': 44,
};

/** A training step of BN with a ReLU after it (and a residual before it): fused, or BN then the toolkit's ReLU layer. */
async function setupFused(device: GPUDevice, op: FusedOp, d: ShapeData, tuning: Partial<Tuning>): Promise<OursRun> {
  const { layout, shape } = d;
  const fused = op !== 'BN then ReLU training step (unfused)';
  const residual = op === 'fused BN+add+ReLU training step';
  const row = rowSetup(device, d, { tuning, ...(fused ? { activation: 'relu' as const, residual } : {}) });
  const { bn, n } = row;
  const relu = fused ? undefined : new Activation(device, 'relu');
  const xs = row.uploadAll('x', d.x as Float32Array<ArrayBuffer>[]);
  const dys = row.uploadAll('dy', d.dy as Float32Array<ArrayBuffer>[]);
  // the residual: another copy's dy, rotated with x
  const zs = residual ? row.uploadAll('z', d.x.map((_, i) => d.dy[(i + 1) % d.dy.length]) as Float32Array<ArrayBuffer>[]) : [];
  let y: GPUBuffer | undefined;
  let dx: GPUBuffer | undefined;
  return {
    encode(encoder, i) {
      if (relu) {
        y = relu.forward(bn.forward(at(xs, i), shape, encoder), [n], encoder);
        dx = bn.backward(relu.backward(at(dys, i), encoder).dx, encoder).dx;
      } else {
        y = bn.forward(at(xs, i), shape, residual ? { encoder, residual: at(zs, i) } : encoder);
        dx = bn.backward(at(dys, i), encoder).dx;
      }
    },
    async verify() {
      const state = referenceState(d);
      const z = residual ? d.dy[1 % d.dy.length] : undefined;
      const forward = reference.forward(d.x[0], shape, state, { layout, eps: EPS, activation: 'relu', residual }, z);
      const [got, gotDx] = await readFloats(device, [{ buffer: y!, floats: n }, { buffer: dx!, floats: n }]);
      expectClose(`${op} y`, got, forward.y, Y_TOL);
      // ReLU's mask from the y we computed: where BN(x) + z is within f32 rounding of 0
      // (far-from-zero features: 1e-5), float64 may fall on the other side of the kink
      const grads = reference.backward(d.x[0], d.dy[0], shape, layout, state.gamma, { ...forward, y: Float64Array.from(got) });
      expectClose(`${op} dx`, gotDx, grads.dx, GRAD_TOL);
    },
    destroy() {
      row.destroy();
      relu?.destroy();
    },
  };
}

function fusedEntries(tuning: Partial<Tuning>): BenchEntry[] {
  return FUSED_SHAPES.flatMap(([layout, shape]) =>
    (Object.keys(FUSED_BYTES) as FusedOp[]).map((op): BenchEntry => ({
      group: `${layout} [${shape.join(', ')}]`,
      op,
      elements: elements(shape),
      minBytes: FUSED_BYTES[op] * elements(shape),
      setup: (device) => setupFused(device, op, shapeData(layout, shape), tuning),
    })),
  );
}

/**
 * The shapes the float16-storage rows run on, next to their float32 rows: one per
 * traversal, and 16·10⁶ elements, where a GPU's memory time should show float16's
 * halved bytes.
 */
const HALF_SHAPES: [Layout, number[]][] = [
  ['NCHW', [32, 64, 32, 32]],
  ['NHWC', [32, 32, 32, 64]],
  ['NCHW', [16, 64, 128, 128]],
];

/** Fewest bytes per element with float16 storage: each f32 op's traffic at 2 bytes per element. */
const halfBytes = (op: BatchNormOp) => BYTES_PER_ELEMENT[op] / 2;

function halfEntries(tuning: Partial<Tuning>): BenchEntry[] {
  return HALF_SHAPES.flatMap(([layout, shape]) =>
    OPS.map((op): BenchEntry => ({
      group: `${layout} [${shape.join(', ')}]`,
      op: `float16 ${op}`,
      elements: elements(shape),
      minBytes: halfBytes(op) * elements(shape),
      setup: (device) => setupOurs(device, op, shapeData(layout, shape), tuning, 'float16'),
    })),
  );
}

/**
 * The batch norms of the models users train here, at their training sizes: the MLP's
 * (training-entries.ts NETWORK, the demo's network at batch 256: [256, 64] NC, once for its
 * three equal layers) and the TF.js CNN's three (cnn-spec.ts: NHWC, channels last as TF.js
 * has them), smallest first. Each group is "LAYOUT [shape], training size (model)", so that
 * `--only "training size"` runs them all and `--only "[256, 64]"` one.
 */
export const TRAINING_SIZES: [Layout, number[], string][] = [
  ...[...new Set(NETWORK.hidden)].map((width): [Layout, number[], string] => ['NC', [NETWORK.batch, width], 'demo MLP']),
  ...cnnBatchNormShapes(CNN).map((shape, i): [Layout, number[], string] => ['NHWC', shape, `CNN block ${i + 1}`]),
].sort((a, b) => elements(a[1]) - elements(b[1]));

/** Training forward, eval forward, backward and training step at each of TRAINING_SIZES, with the peer's same ops. */
export function trainingSizeEntries(tuning: Partial<Tuning>): BenchEntry[] {
  return TRAINING_SIZES.flatMap(([layout, shape, model]) => shapeEntries(`${layout} [${shape.join(', ')}], training size (${model})`, layout, shape, tuning));
}

/** The four ops on one shape, each with the peer's same op. */
function shapeEntries(group: string, layout: Layout, shape: number[], tuning: Partial<Tuning>): BenchEntry[] {
  return OPS.map((op): BenchEntry => ({
    group,
    op,
    elements: elements(shape),
    minBytes: BYTES_PER_ELEMENT[op] * elements(shape),
    setup: (device) => setupOurs(device, op, shapeData(layout, shape), tuning),
    peer: { op, layout, shape, data: () => shapeData(layout, shape) },
  }));
}

export function batchNormEntries(tuning: Partial<Tuning>): BenchEntry[] {
  return [...plainEntries(tuning), ...fusedEntries(tuning), ...halfEntries(tuning)];
}

function plainEntries(tuning: Partial<Tuning>): BenchEntry[] {
  return SHAPES.flatMap(([layout, shape]) => {
    const group = `${layout} [${shape.join(', ')}]`;
    const rows = shapeEntries(group, layout, shape, tuning);
    if (layout !== SPLIT_SHAPE[0] || `${shape}` !== `${SPLIT_SHAPE[1]}`) return rows;
    const split: BenchEntry = {
      group,
      op: 'data-parallel training step',
      elements: elements(shape),
      minBytes: BYTES_PER_ELEMENT['training step'] * elements(shape),
      setup: (device) => setupSplitStep(device, shapeData(layout, shape), tuning),
    };
    return [...rows, split];
  });
}
