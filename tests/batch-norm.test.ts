// GPU results against the float64 reference on the same f32 inputs.
// Tolerances (relative L2): y and running statistics 1e-5; dx, dgamma, dbeta 1e-4.
import { describe, expect, it } from 'vitest';
import { BatchNorm, ReferenceBatchNorm, type Layout } from '../src/index.js';
import { activations, elements, expectClose, normal, useDevice, withoutGpuErrors } from './helpers.js';

const Y_TOL = 1e-5;
const STATS_TOL = 1e-5;
const GRAD_TOL = 1e-4;

const gpu = useDevice();
const featuresOf = (layout: Layout, shape: number[]) => (layout === 'NHWC' ? shape[3] : shape[1]);

/** A GPU BatchNorm and its float64 twin, with the same random gamma and beta. */
function pair(layout: Layout, shape: number[], options: { eps?: number; momentum?: number | null; affine?: boolean; trackRunningStats?: boolean } = {}, seed = 1) {
  const numFeatures = featuresOf(layout, shape);
  const bn = new BatchNorm(gpu.device, { numFeatures, layout, ...options });
  const ref = new ReferenceBatchNorm({ numFeatures, layout, ...options });
  if (options.affine !== false) {
    const gamma = normal(numFeatures, seed + 7, 1, 0.5);
    const beta = normal(numFeatures, seed + 8, 0, 2);
    bn.setState({ gamma, beta });
    ref.state.gamma = Float64Array.from(gamma);
    ref.state.beta = Float64Array.from(beta);
  }
  return { bn, ref };
}

/** dx where m = 2 is a pure cancellation (exactly 0 with eps = 0): judge it on the scale of its terms. */
function dxScale(dy: Float32Array, ref: ReferenceBatchNorm, layout: Layout, shape: number[]) {
  const c = featuresOf(layout, shape);
  const m = elements(shape) / c;
  if (m > 2) return undefined;
  const s = ref.state.gamma.reduce((a, g) => Math.max(a, Math.abs(g)), 0) / Math.sqrt(1e-5);
  return Math.hypot(...dy) * s;
}

async function checkState(bn: BatchNorm, ref: ReferenceBatchNorm, label: string) {
  const s = await bn.getState();
  expectClose(`${label} runningMean`, s.runningMean!, ref.state.runningMean, STATS_TOL);
  expectClose(`${label} runningVar`, s.runningVar!, ref.state.runningVar, STATS_TOL);
  expect(s.numBatchesTracked, `${label} numBatchesTracked`).toBe(ref.state.numBatchesTracked);
}

const SHAPES: [Layout, number[]][] = [
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
  ['NCL', [2, 70_000, 2]], // 70000 workgroups: folded into a 2D dispatch
  ['NCHW', [3, 7, 5, 9]],
  ['NCHW', [2, 9, 11, 13]],
  ['NCHW', [4, 16, 8, 8]],
  ['NCHW', [3, 1, 7, 7]], // C = 1
  ['NCHW', [1, 2, 320, 320]], // inner 102400
  ['NHWC', [3, 7, 5, 9]],
  ['NHWC', [2, 9, 11, 13]],
  ['NHWC', [2, 4, 4, 1024]],
  ['NHWC', [1, 1, 2, 6]], // m = 2
  ['NHWC', [16, 32, 32, 256]], // 4.2e6 elements
];

describe.each(SHAPES)('%s %j', (layout, shape) => {
  it('training forward, running statistics, backward, then eval forward and backward', async () => {
    const { bn, ref } = pair(layout, shape, {}, shape.length);
    const n = elements(shape);
    const x = activations(layout, shape, n);
    const dy = normal(n, n + 1);
    await withoutGpuErrors(gpu.device, async () => {
      expectClose('train y', await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
      await checkState(bn, ref, 'after one step');
      const g = await bn.backwardArray(dy);
      const r = ref.backward(dy);
      expectClose('train dx', g.dx, r.dx, GRAD_TOL, dxScale(dy, ref, layout, shape));
      expectClose('train dgamma', g.dgamma!, r.dgamma, GRAD_TOL);
      expectClose('train dbeta', g.dbeta!, r.dbeta, GRAD_TOL);

      bn.training = false;
      ref.training = false;
      const x2 = activations(layout, shape, n + 2);
      expectClose('eval y', await bn.forwardArray(x2, shape), ref.forward(x2, shape), Y_TOL);
      await checkState(bn, ref, 'after eval');
      const ge = await bn.backwardArray(dy);
      const re = ref.backward(dy);
      expectClose('eval dx', ge.dx, re.dx, GRAD_TOL);
      expectClose('eval dgamma', ge.dgamma!, re.dgamma, GRAD_TOL);
      expectClose('eval dbeta', ge.dbeta!, re.dbeta, GRAD_TOL);
    });
    bn.destroy();
  });
});

describe.each([0.1, 0, null])('five training steps with momentum %s', (momentum) => {
  it.each<[Layout, number[]]>([
    ['NC', [37, 6]],
    ['NCHW', [3, 5, 6, 7]],
    ['NHWC', [4, 3, 5, 12]],
  ])('%s %j', async (layout, shape) => {
    const { bn, ref } = pair(layout, shape, { momentum });
    await withoutGpuErrors(gpu.device, async () => {
      for (let step = 0; step < 5; step++) {
        const x = activations(layout, shape, 100 + step);
        expectClose(`step ${step} y`, await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
        await checkState(bn, ref, `step ${step}`);
      }
    });
    bn.destroy();
  });
});

describe('options', () => {
  it.each<[Layout, number[]]>([
    ['NC', [50, 7]],
    ['NCHW', [2, 3, 5, 5]],
  ])('affine: false has no gamma, beta or their gradients (%s %j)', async (layout, shape) => {
    const { bn, ref } = pair(layout, shape, { affine: false });
    const x = activations(layout, shape, 5);
    const dy = normal(x.length, 6);
    await withoutGpuErrors(gpu.device, async () => {
      expectClose('y', await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
      const g = await bn.backwardArray(dy);
      expectClose('dx', g.dx, ref.backward(dy).dx, GRAD_TOL);
      expect(g.dgamma).toBeNull();
      expect(g.dbeta).toBeNull();
      const [xb, dyb] = [gpuBuffer(x), gpuBuffer(dy)];
      bn.forward(xb, shape);
      const gpuGrads = bn.backward(dyb);
      expect([gpuGrads.dgamma, gpuGrads.dbeta]).toEqual([null, null]);
      xb.destroy();
      dyb.destroy();
      const s = await bn.getState();
      expect([s.gamma, s.beta]).toEqual([null, null]);
    });
    bn.destroy();
  });

  it.each<[Layout, number[]]>([
    ['NC', [40, 9]],
    ['NHWC', [2, 3, 3, 8]],
  ])('trackRunningStats: false uses batch statistics in eval too (%s %j)', async (layout, shape) => {
    const { bn, ref } = pair(layout, shape, { trackRunningStats: false });
    const dy = normal(elements(shape), 9);
    await withoutGpuErrors(gpu.device, async () => {
      for (const training of [true, false]) {
        bn.training = ref.training = training;
        const x = activations(layout, shape, training ? 11 : 12);
        expectClose(`training=${training} y`, await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
        const g = await bn.backwardArray(dy);
        expectClose(`training=${training} dx`, g.dx, ref.backward(dy).dx, GRAD_TOL);
      }
      const s = await bn.getState();
      expect([s.runningMean, s.runningVar, s.numBatchesTracked]).toEqual([null, null, null]);
    });
    bn.destroy();
  });

  it('eps = 0 on a constant feature gives invstd 0 (y = beta, dx = 0) like PyTorch', async () => {
    const shape = [6, 2];
    const { bn, ref } = pair('NC', shape, { eps: 0 });
    const x = Float32Array.from([3, -1, 3, 2, 3, 0.5, 3, 4, 3, -2, 3, 1]); // feature 0 constant
    const dy = normal(12, 3);
    await withoutGpuErrors(gpu.device, async () => {
      const y = await bn.forwardArray(x, shape);
      expectClose('y', y, ref.forward(x, shape), Y_TOL);
      const beta = (await bn.getState()).beta!;
      for (let r = 0; r < 6; r++) expect(y[2 * r]).toBe(beta[0]);
      const g = await bn.backwardArray(dy);
      for (let r = 0; r < 6; r++) expect(g.dx[2 * r]).toBe(0);
      expectClose('dx', g.dx, ref.backward(dy).dx, GRAD_TOL);
    });
    bn.destroy();
  });
});

/** A GPU buffer holding data, owned by the test. */
function gpuBuffer(data: Float32Array<ArrayBuffer>): GPUBuffer {
  const b = gpu.device.createBuffer({
    label: 'test input',
    size: Math.ceil(data.byteLength / 16) * 16,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  gpu.device.queue.writeBuffer(b, 0, data);
  return b;
}
