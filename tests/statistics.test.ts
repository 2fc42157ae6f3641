// Host merges of split statistics (data-parallel batch norm): the merge of shards
// equals the statistics of the whole batch, does not depend on the shards' order,
// and takes empty shards.
import { describe, expect, it } from 'vitest';
import { mergeGradientSums, mergeStatistics, type ShardStatistics } from '../src/batchnorm/statistics.js';
import { relativeL2 } from '../support/compare.js';
import { normal, rng } from '../support/data.js';
import { STATS_TOL } from '../support/tolerances.js';

/** Exact float64 (count, mean, M2) of rows [n, C] of one shard, rounded to f32 as a GPU shard reports them. */
function shardOf(rows: Float32Array, n: number, c: number): ShardStatistics<Float32Array> {
  const count = new Float32Array(c).fill(n);
  const mean = new Float32Array(c);
  const m2 = new Float32Array(c);
  for (let f = 0; f < c; f++) {
    let s = 0;
    for (let r = 0; r < n; r++) s += rows[r * c + f];
    const mu = n > 0 ? s / n : 0;
    let q = 0;
    for (let r = 0; r < n; r++) q += (rows[r * c + f] - mu) ** 2;
    mean[f] = mu;
    m2[f] = q;
  }
  return { count, mean, m2 };
}

describe('mergeStatistics', () => {
  const c = 5;
  const sizes = [7, 1, 0, 30, 12];
  const total = sizes.reduce((a, b) => a + b, 0);
  const all = normal(total * c, 3, 1000, 2); // offset 1000: the merge must not cancel
  const shards: ShardStatistics<Float32Array>[] = [];
  let row = 0;
  for (const n of sizes) {
    shards.push(shardOf(all.subarray(row * c, (row + n) * c), n, c));
    row += n;
  }
  const whole = shardOf(all, total, c);

  it('equals the statistics of the whole batch (uneven shards, one of a single row, one empty)', () => {
    const merged = mergeStatistics(shards, c);
    expect(Array.from(merged.count)).toEqual(Array.from(whole.count));
    // each shard's mean travels as f32: at offset 1000 that is 6e-5 absolute, which moves M2 by about 1e-6
    expect(relativeL2(merged.mean, whole.mean)).toBeLessThan(1e-7);
    expect(relativeL2(merged.m2, whole.m2)).toBeLessThan(STATS_TOL);
  });

  it('gives bit-identical results whatever the order the shards arrive in', () => {
    const first = mergeStatistics(shards);
    const next = rng(11);
    for (let trial = 0; trial < 10; trial++) {
      const shuffled = [...shards].sort(() => next() - 0.5);
      const again = mergeStatistics(shuffled);
      expect(Array.from(again.mean)).toEqual(Array.from(first.mean));
      expect(Array.from(again.m2)).toEqual(Array.from(first.m2));
    }
  });

  it('rejects shards of the wrong feature count, negative counts and empty lists, naming them', () => {
    expect(() => mergeStatistics(shards, 4)).toThrow(/shard 0's count has 5 features, but 4 are expected/);
    const bad = { ...shards[0], count: Float32Array.from([-1, 1, 1, 1, 1]) };
    expect(() => mergeStatistics([shards[1], bad])).toThrow(/shard 1's count\[0\] must be a whole number >= 0, got -1/);
    expect(() => mergeStatistics([])).toThrow(/takes a non-empty array of shard records/);
    expect(() => mergeStatistics([{ count: shards[0].count, mean: [1, 2] } as never])).toThrow(/shard 0's mean must be a Float32Array or Float64Array, got \[1, 2\]/);
  });
});

describe('mergeGradientSums', () => {
  it('adds the sums, in any order, with bit-identical results', () => {
    const c = 3;
    const make = (seed: number, n: number) => ({
      count: new Float32Array(c).fill(n),
      sumDy: normal(c, seed, 0, 10),
      sumDyXhat: normal(c, seed + 1, 0, 10),
    });
    const parts = [make(1, 4), make(3, 16), make(5, 0), make(7, 9)];
    const merged = mergeGradientSums(parts);
    expect(Array.from(merged.count)).toEqual([29, 29, 29]);
    for (let f = 0; f < c; f++) {
      const expected = parts.reduce((a, p) => a + p.sumDy[f], 0);
      expect(Math.abs(merged.sumDy[f] - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-7);
    }
    const reversed = mergeGradientSums([...parts].reverse());
    expect(Array.from(reversed.sumDyXhat)).toEqual(Array.from(merged.sumDyXhat));
  });
});
