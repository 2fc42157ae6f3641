// Data-parallel batch norm on several GPUDevices in one process (Dawn gives as many
// as asked from one adapter): each shard computes its statistics, they are merged,
// every shard normalizes with the merged ones, and the backward merges two sums.
// The result must be one batch norm over the concatenated batch: y and the running
// statistics within 1e-5, dx, dγ and dβ within 1e-4 of the float64 reference.
import { describe, expect, it } from 'vitest';
import { BatchNorm, ReferenceBatchNorm, type FeaturePlacement, type GradientSums, type ShardStatistics } from '../src/index.js';
import { useDevices } from './helpers.js';
import { expectClose } from '../support/compare.js';
import { activations, featuresOf, normal, placementOptions } from '../support/data.js';
import { GRAD_TOL, STATS_TOL, Y_TOL } from '../support/tolerances.js';

const devices = useDevices(4);

/** What a shard with no rows sends: zero counts. */
const emptyStatistics = (c: number): ShardStatistics => ({ count: new Float64Array(c), mean: new Float64Array(c), m2: new Float64Array(c) });
const emptySums = (c: number): GradientSums => ({ count: new Float64Array(c), sumDy: new Float64Array(c), sumDyXhat: new Float64Array(c) });

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** [placement, whole-batch shape, rows of each shard along dimension 0 (one device each)] */
const CASES: [FeaturePlacement, number[], number[]][] = [
  ['NC', [10, 6], [4, 1, 0, 5]],
  ['NCL', [7, 3, 5], [5, 2]],
  ['NCHW', [6, 4, 3, 5], [1, 3, 2]],
  ['NHWC', [5, 3, 2, 4], [2, 0, 3]],
  ['NCDHW', [4, 2, 2, 3, 3], [3, 1]],
  [{ axis: -1 }, [6, 5, 3], [2, 2, 2]],
];

describe('data-parallel batch norm: shards on their own devices equal one batch norm on the whole batch', () => {
  it.each(CASES.map(([where, shape, rows]) => [`${typeof where === 'string' ? where : `axis ${where.axis}`} [${shape}] in shards of ${rows.join(', ')} rows`, where, shape, rows] as const))(
    '%s: five training steps',
    async (_name, where, shape, rows) => {
      const c = featuresOf(where, shape);
      const perRow = shape.slice(1).reduce((a, b) => a * b, 1);
      const gamma = normal(c, 5, 1, 0.5);
      const beta = normal(c, 6, 0, 2);
      const ref = new ReferenceBatchNorm({ numFeatures: c, ...placementOptions(where), momentum: 0.1 });
      ref.state.gamma = Float64Array.from(gamma);
      ref.state.beta = Float64Array.from(beta);
      const bns = rows.map((n, i) => (n > 0 ? new BatchNorm(devices[i], { numFeatures: c, ...placementOptions(where) }) : null));
      try {
        for (const bn of bns) bn?.setState({ gamma, beta });
        for (let step = 0; step < 5; step++) {
          const x = activations(where, shape, 40 + step);
          const dy = normal(x.length, 50 + step);
          const yRef = ref.forward(x, shape);
          const gRef = ref.backward(dy);
          let row = 0;
          const slices = rows.map((n) => {
            const s = { rows: n, shape: [n, ...shape.slice(1)], x: x.slice(row * perRow, (row + n) * perRow), dy: dy.slice(row * perRow, (row + n) * perRow) };
            row += n;
            return s;
          });
          const statistics = await Promise.all(bns.map((bn, i) => (bn ? bn.statisticsArray(slices[i].x, slices[i].shape) : emptyStatistics(c))));
          const merged = BatchNorm.mergeStatistics(statistics);
          const ys = await Promise.all(bns.map((bn, i) => (bn ? bn.forwardArray(slices[i].x, slices[i].shape, { statistics: merged }) : new Float32Array(0))));
          expectClose(`step ${step} y`, concat(ys), yRef, Y_TOL);
          const sums = await Promise.all(bns.map((bn, i) => (bn ? bn.gradientSumsArray(slices[i].dy) : emptySums(c))));
          const total = BatchNorm.mergeGradientSums(sums);
          const grads = await Promise.all(bns.map((bn, i) => (bn ? bn.backwardArray(slices[i].dy, { sums: total }) : null)));
          expectClose(`step ${step} dx`, concat(grads.map((g) => g?.dx ?? new Float32Array(0))), gRef.dx, GRAD_TOL);
          for (const g of grads) {
            if (!g) continue;
            expectClose(`step ${step} dgamma`, g.dgamma, gRef.dgamma, GRAD_TOL);
            expectClose(`step ${step} dbeta`, g.dbeta, gRef.dbeta, GRAD_TOL);
          }
        }
        for (const bn of bns) {
          if (!bn) continue;
          const s = await bn.getState();
          expectClose('runningMean after 5 steps', s.runningMean!, ref.state.runningMean, STATS_TOL);
          expectClose('runningVar after 5 steps', s.runningVar!, ref.state.runningVar, STATS_TOL);
          expect(s.numBatchesTracked).toBe(ref.state.numBatchesTracked);
        }
      } finally {
        for (const bn of bns) bn?.destroy();
      }
    },
  );
});
