// Data-parallel batch norm on one device (Node and Chrome): the GPU-buffer calls
// with statistics merged on the device, gradient accumulation over micro-batches,
// data far from zero, and bad input. Several devices: tests/data-parallel.test.ts.
import { BatchNorm, ReferenceBatchNorm } from '../../src/index.js';
import { check, expectClose, expectEqual, expectError } from '../../support/compare.js';
import { activations, normal } from '../../support/data.js';
import { GRAD_TOL, STATS_TOL, Y_TOL } from '../../support/tolerances.js';
import { download, TestBuffers } from '../support/gpu.js';
import type { Case } from './case.js';

const C = 5;

/** A BatchNorm and its float64 twin with the same random gamma and beta. */
function twins(device: GPUDevice, count: number) {
  const gamma = normal(C, 3, 1, 0.5);
  const beta = normal(C, 4, 0, 2);
  const bns = Array.from({ length: count }, () => new BatchNorm(device, { numFeatures: C, layout: 'NCHW' }));
  for (const bn of bns) bn.setState({ gamma, beta });
  const ref = new ReferenceBatchNorm({ numFeatures: C, layout: 'NCHW' });
  ref.state.gamma = Float64Array.from(gamma);
  ref.state.beta = Float64Array.from(beta);
  return { bns, ref };
}

/** Rows [from, to) of an NCHW batch of per-row size `per`. */
const rows = (data: Float32Array, per: number, from: number, to: number) => data.slice(from * per, to * per);

export const dataParallelCases: Case[] = [
  {
    name: 'GPU buffers: three shards merged on the device (mergeStatisticsBuffers), forward with statistics, backward with sums, in one encoder',
    run: async (device) => {
      const { bns, ref } = twins(device, 3);
      const shape = [7, C, 3, 4];
      const per = C * 12;
      const split = [[0, 2], [2, 3], [3, 7]];
      const x = activations('NCHW', shape, 8);
      const dy = normal(x.length, 9);
      const buffers = new TestBuffers(device);
      try {
        const yRef = ref.forward(x, shape);
        const gRef = ref.backward(dy);
        const xs = split.map(([a, b]) => buffers.upload(rows(x, per, a, b)));
        const dys = split.map(([a, b]) => buffers.upload(rows(dy, per, a, b)));
        const shapes = split.map(([a, b]) => [b - a, C, 3, 4]);
        const encoder = device.createCommandEncoder();
        const shardStats = bns.map((bn, i) => bn.statistics(xs[i], shapes[i], encoder));
        const merged = bns[0].mergeStatisticsBuffers(shardStats, encoder);
        const ys = bns.map((bn, i) => bn.forward(xs[i], shapes[i], { encoder, statistics: merged }));
        const sums = bns.map((bn, i) => bn.gradientSums(dys[i], encoder));
        device.queue.submit([encoder.finish()]);
        const y = await Promise.all(ys.map((b, i) => download(device, b, shapes[i].reduce((p, q) => p * q, 1))));
        expectClose('y', Float32Array.from(y.flatMap((v) => [...v])), yRef, Y_TOL);
        // the sums travel through the host here (any all-reduce would do), then back as a buffer
        const sumFloats = await Promise.all(sums.map((b) => download(device, b, 3 * C)));
        const total = new Float32Array(3 * C);
        for (const s of sumFloats) s.forEach((v, i) => (total[i] += v));
        const sumsBuffer = buffers.upload(total);
        const encoder2 = device.createCommandEncoder();
        const grads = bns.map((bn, i) => bn.backward(dys[i], { encoder: encoder2, sums: sumsBuffer }));
        device.queue.submit([encoder2.finish()]);
        const dx = await Promise.all(grads.map((g, i) => download(device, g.dx, shapes[i].reduce((p, q) => p * q, 1))));
        expectClose('dx', Float32Array.from(dx.flatMap((v) => [...v])), gRef.dx, GRAD_TOL);
        expectClose('dgamma', await download(device, grads[1].dgamma, C), gRef.dgamma, GRAD_TOL);
        expectClose('dbeta', await download(device, grads[2].dbeta, C), gRef.dbeta, GRAD_TOL);
        for (const bn of bns) {
          const s = await bn.getState();
          expectClose('runningMean', s.runningMean!, ref.state.runningMean, STATS_TOL);
          expectClose('runningVar', s.runningVar!, ref.state.runningVar, STATS_TOL);
        }
      } finally {
        buffers.destroy();
        for (const bn of bns) bn.destroy();
      }
    },
  },
  {
    name: 'gradient accumulation: 4 micro-batches of 16 with merged statistics and sums give the y, dx, dgamma and dbeta of one batch of 64',
    run: async (device) => {
      const { bns: [bn], ref } = twins(device, 1);
      const shape = [64, C, 2, 2];
      const per = C * 4;
      const x = activations('NCHW', shape, 21);
      const dy = normal(x.length, 22);
      try {
        const yRef = ref.forward(x, shape);
        const gRef = ref.backward(dy);
        const micro = [0, 1, 2, 3].map((k) => ({ x: rows(x, per, 16 * k, 16 * k + 16), dy: rows(dy, per, 16 * k, 16 * k + 16), shape: [16, C, 2, 2] }));
        const stats = [];
        for (const m of micro) stats.push(await bn.statisticsArray(m.x, m.shape));
        const merged = BatchNorm.mergeStatistics(stats);
        check(merged.count.every((n) => n === 256), `merged count: ${merged.count}`);
        const y: number[] = [];
        const sums = [];
        for (const m of micro) {
          y.push(...(await bn.forwardArray(m.x, m.shape, { statistics: merged })));
          sums.push(await bn.gradientSumsArray(m.dy));
        }
        expectClose('y', y, yRef, Y_TOL);
        const total = BatchNorm.mergeGradientSums(sums);
        const dx: number[] = [];
        let last;
        for (const m of micro) {
          await bn.forwardArray(m.x, m.shape, { statistics: merged }); // the backward belongs to the last forward
          last = await bn.backwardArray(m.dy, { sums: total });
          dx.push(...last.dx);
        }
        expectClose('dx', dx, gRef.dx, GRAD_TOL);
        expectClose('dgamma', last!.dgamma, gRef.dgamma, GRAD_TOL);
        expectClose('dbeta', last!.dbeta, gRef.dbeta, GRAD_TOL);
      } finally {
        bn.destroy();
      }
    },
  },
  {
    name: 'data offset by 1e4: split statistics keep y exact (the mean travels to twice f32 precision)',
    run: async (device) => {
      const { bns, ref } = twins(device, 2);
      const shape = [6, C, 4, 4];
      const per = C * 16;
      const x = normal(6 * per, 31, 1e4, 1);
      try {
        const yRef = ref.forward(x, shape);
        const halves = [rows(x, per, 0, 3), rows(x, per, 3, 6)];
        const stats = await Promise.all(bns.map((bn, i) => bn.statisticsArray(halves[i], [3, C, 4, 4])));
        const merged = BatchNorm.mergeStatistics(stats);
        const y = await Promise.all(bns.map((bn, i) => bn.forwardArray(halves[i], [3, C, 4, 4], { statistics: merged })));
        expectClose('y', [...y[0], ...y[1]], yRef, Y_TOL);
      } finally {
        for (const bn of bns) bn.destroy();
      }
    },
  },
  {
    name: "statistics and gradient sums convert between a buffer's f32 (read back, or to upload) and host records, both ways exactly",
    run: async (device) => {
      const bn = new BatchNorm(device, { numFeatures: C, layout: 'NC' });
      const buffers = new TestBuffers(device);
      try {
        const shape = [6, C];
        const x = normal(6 * C, 51, 1e4); // far from zero: meanLow is not 0
        const dy = normal(6 * C, 52);
        const stats = await bn.statisticsArray(x, shape);
        const floats = await download(device, bn.statistics(buffers.upload(x), shape), 4 * C);
        check(floats.subarray(2 * C, 3 * C).some((v) => v !== 0), 'meanLow is 0 for every feature: the mean\'s low part would go untested');
        const record = bn.statisticsFromFloats(floats);
        for (const key of ['count', 'mean', 'm2'] as const) expectEqual(`statistics ${key}`, record[key], stats[key]);
        expectEqual('statistics back to f32', bn.statisticsToFloats(record), floats);
        await bn.forwardArray(x, shape, { statistics: stats });
        const sums = await bn.gradientSumsArray(dy);
        const sumFloats = await download(device, bn.gradientSums(buffers.upload(dy)), 3 * C);
        const sumRecord = bn.gradientSumsFromFloats(sumFloats);
        for (const key of ['count', 'sumDy', 'sumDyXhat'] as const) expectEqual(`sums ${key}`, sumRecord[key], sums[key]);
        expectEqual('sums back to f32', bn.gradientSumsToFloats(sumRecord), sumFloats);
        await expectError(() => bn.statisticsFromFloats(new Float32Array(3)), /statisticsFromFloats\(\) floats has 3 elements, but 20 are expected/);
        await expectError(() => bn.gradientSumsFromFloats(Float64Array.from(sumFloats) as never), /gradientSumsFromFloats\(\) floats must be a Float32Array, got Float64Array/);
        await expectError(() => bn.statisticsToFloats({ ...stats, m2: new Float64Array(C + 1) }), /m2 has 6 features, but 5 are expected/);
        await expectError(() => bn.gradientSumsToFloats({ count: sums.count, sumDy: sums.sumDy } as never), /gradientSumsToFloats\(\).*sumDyXhat/);
      } finally {
        buffers.destroy();
        bn.destroy();
      }
    },
  },
  {
    name: 'bad split statistics and sums throw a BatchNormError naming them, and change nothing',
    run: async (device) => {
      const bn = new BatchNorm(device, { numFeatures: C, layout: 'NC' });
      const other = new BatchNorm(device, { numFeatures: C + 1, layout: 'NC' });
      const buffers = new TestBuffers(device);
      try {
        const x = normal(4 * C, 41);
        const stats = await bn.statisticsArray(x, [4, C]);
        const before = await bn.getState();
        const otherStats = await other.statisticsArray(normal(4 * (C + 1), 42), [4, C + 1]);
        await expectError(() => bn.backwardArray(normal(4 * C, 43), { sums: { count: new Float64Array(C), sumDy: new Float64Array(C), sumDyXhat: new Float64Array(C) } }),
          /backwardArray\(\) called before any forward|gradient sums need a forward with statistics first/);
        await expectError(() => bn.forwardArray(x, [4, C], { statistics: otherStats }), /statistics: shard 0's count has 6 features, but 5 are expected/);
        await expectError(() => BatchNorm.mergeStatistics([stats, otherStats]), /shard 1's count has 6 features, but 5 are expected/);
        const empty = { count: new Float64Array(C), mean: new Float64Array(C), m2: new Float64Array(C) };
        await expectError(() => bn.forwardArray(x, [4, C], { statistics: empty }), /Expected more than 1 value per channel when training, got statistics with count 0 for feature 0/);
        await expectError(() => bn.forward(buffers.upload(x), [4, C], { statistics: buffers.buffer(16) }), /statistics has 16 bytes, but the shape has 20 f32 elements/);
        await expectError(() => bn.forwardArray(x, [4, C], { statistcs: stats } as never), /forwardArray\(\): unknown option statistcs/);
        const unchanged = await bn.getState();
        expectEqual('runningMean after the failed calls', unchanged.runningMean!, before.runningMean!);
        expectEqual('runningVar after the failed calls', unchanged.runningVar!, before.runningVar!);
        check(unchanged.numBatchesTracked === before.numBatchesTracked, 'numBatchesTracked changed by a failed call');
        await bn.forwardArray(x, [4, C]); // an ordinary forward: its backward takes no sums
        await expectError(() => bn.gradientSumsArray(normal(4 * C, 44)), /gradient sums need a forward with statistics first/);
        bn.training = false;
        await expectError(() => bn.forwardArray(x, [4, C], { statistics: stats }), /statistics are batch statistics, for training/);
        bn.training = true;
        await expectError(() => bn.mergeStatisticsBuffers([buffers.buffer(80, GPUBufferUsage.STORAGE)]), /statistics buffer 0 needs GPUBufferUsage\.COPY_SRC/);
        const after = await bn.getState();
        check(after.numBatchesTracked === before.numBatchesTracked! + 1, `numBatchesTracked: ${before.numBatchesTracked} then ${after.numBatchesTracked} (one good forward)`);
      } finally {
        buffers.destroy();
        bn.destroy();
        other.destroy();
      }
    },
  },
];
