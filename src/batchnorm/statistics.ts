// Split statistics for data-parallel batch norm: what one shard's batch computes,
// in a form any all-reduce can carry and merge. Merging on the host is done in
// float64 and in a canonical order (shards sorted by their contents), so the
// result does not depend on the order in which shards arrive.
import { fail, show } from '../gpu/errors.js';
import { STATISTICS_SECTIONS, SUM_SECTIONS } from './stages.js';

type Floats = Float32Array | Float64Array;

/**
 * One shard's per-feature statistics: how many values it saw (count), their mean and
 * their sum of squared deviations from that mean (M2), in float64 on the host. As a
 * GPU buffer (what `statistics()` returns) it is 4·C f32: count[C], mean[C],
 * meanLow[C] (what the f32 mean misses: mean + meanLow is the mean to twice f32
 * precision), M2[C].
 */
export interface ShardStatistics<T extends Floats = Float64Array> {
  count: T;
  mean: T;
  m2: T;
}

/**
 * One shard's per-feature gradient sums for the backward pass: its count, Σdy and
 * Σdy·x̂ (x̂ normalized with the global statistics), in float64 on the host. As a GPU
 * buffer (what `gradientSums()` returns) it is 3·C f32: count[C], Σdy[C], Σdy·x̂[C].
 */
export interface GradientSums<T extends Floats = Float64Array> {
  count: T;
  sumDy: T;
  sumDyXhat: T;
}

const STATISTICS_FIELDS = ['count', 'mean', 'm2'] as const;
const GRADIENT_SUM_FIELDS = ['count', 'sumDy', 'sumDyXhat'] as const;

/** Checks a list of shard records of C features each; returns C. */
function checkList<T extends object>(what: string, list: unknown, sections: readonly (keyof T & string)[], numFeatures?: number): number {
  if (!Array.isArray(list) || list.length === 0) fail(`${what} takes a non-empty array of shard records, got ${show(list)}`);
  let c = numFeatures;
  (list as unknown[]).forEach((item, i) => {
    if (!item || typeof item !== 'object') fail(`${what}: shard ${i} must be an object with ${sections.join(', ')}, got ${show(item)}`);
    for (const key of sections) {
      const v = (item as Record<string, unknown>)[key];
      if (!(v instanceof Float32Array || v instanceof Float64Array)) fail(`${what}: shard ${i}'s ${key} must be a Float32Array or Float64Array, got ${show(v)}`);
      const length = (v as Floats).length;
      c ??= length;
      if (length !== c) fail(`${what}: shard ${i}'s ${key} has ${length} features, but ${c} are expected`);
    }
    const count = (item as Record<string, Floats>)[sections[0]];
    const bad = count.findIndex((n) => !(n >= 0) || !Number.isInteger(n));
    if (bad >= 0) fail(`${what}: shard ${i}'s count[${bad}] must be a whole number >= 0, got ${show(count[bad])}`);
  });
  return c!;
}

/** Shards sorted by their contents, feature by feature: the canonical order for merging. */
function canonical<T extends object>(list: T[], sections: readonly (keyof T & string)[]): T[] {
  const compare = (a: T, b: T) => {
    const arrays = (x: T) => sections.map((k) => x[k] as unknown as Floats);
    const [pa, pb] = [arrays(a), arrays(b)];
    for (let f = 0; f < pa[0].length; f++) {
      for (let s = 0; s < pa.length; s++) {
        const d = pa[s][f] - pb[s][f];
        if (d !== 0 && !Number.isNaN(d)) return d;
      }
    }
    return 0;
  };
  return [...list].sort(compare);
}

/**
 * Merges the statistics of any number of shards (Chan's formula in float64, in a
 * canonical order); shards with count 0 add nothing. `numFeatures`, when given, is
 * checked against every shard.
 */
export function mergeStatistics(list: readonly ShardStatistics<Floats>[], numFeatures?: number): ShardStatistics {
  const c = checkList<ShardStatistics<Floats>>('mergeStatistics()', list, STATISTICS_FIELDS, numFeatures);
  const count = new Float64Array(c);
  const mean = new Float64Array(c);
  const m2 = new Float64Array(c);
  for (const shard of canonical([...list], STATISTICS_FIELDS)) {
    for (let f = 0; f < c; f++) {
      const nb = shard.count[f];
      if (nb === 0) continue;
      const n = count[f] + nb;
      const delta = shard.mean[f] - mean[f];
      mean[f] += (delta * nb) / n;
      m2[f] += shard.m2[f] + (delta * delta * count[f] * nb) / n;
      count[f] = n;
    }
  }
  return { count, mean, m2 };
}

/** Adds the gradient sums of any number of shards (in float64, in a canonical order). */
export function mergeGradientSums(list: readonly GradientSums<Floats>[], numFeatures?: number): GradientSums {
  const c = checkList<GradientSums<Floats>>('mergeGradientSums()', list, GRADIENT_SUM_FIELDS, numFeatures);
  const total: GradientSums = { count: new Float64Array(c), sumDy: new Float64Array(c), sumDyXhat: new Float64Array(c) };
  for (const shard of canonical([...list], GRADIENT_SUM_FIELDS)) {
    for (const key of GRADIENT_SUM_FIELDS) shard[key].forEach((v, f) => (total[key][f] += v));
  }
  return total;
}

/** The GPU form of host statistics: count, the mean split into its f32 rounding and what that misses, M2. */
export function statisticsBytes(s: ShardStatistics<Floats>, c: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(STATISTICS_SECTIONS * c);
  for (let f = 0; f < c; f++) {
    const high = Math.fround(s.mean[f]);
    out[f] = s.count[f];
    out[c + f] = high;
    out[2 * c + f] = s.mean[f] - high;
    out[3 * c + f] = s.m2[f];
  }
  return out;
}

/** Host statistics from their GPU form (STATISTICS_SECTIONS·C f32). */
export function statisticsFrom(floats: Float32Array, c: number): ShardStatistics {
  const at = (section: number) => Float64Array.from(floats.subarray(section * c, (section + 1) * c));
  const mean = at(1).map((high, f) => high + floats[2 * c + f]);
  return { count: at(0), mean, m2: at(3) };
}

/** Host gradient sums from their GPU form (SUM_SECTIONS·C f32), and back. */
export function sumsFrom(floats: Float32Array, c: number): GradientSums {
  const at = (section: number) => Float64Array.from(floats.subarray(section * c, (section + 1) * c));
  return { count: at(0), sumDy: at(1), sumDyXhat: at(2) };
}

export function sumsBytes(s: GradientSums<Floats>, c: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(SUM_SECTIONS * c);
  GRADIENT_SUM_FIELDS.forEach((key, section) => out.set(s[key], section * c));
  return out;
}

/** Checks one host record (statistics or sums) of C features. */
export function checkRecord<T extends object>(what: string, record: unknown, c: number, fields: readonly (keyof T & string)[]): T {
  checkList<T>(what, [record], fields, c);
  return record as T;
}

export { STATISTICS_FIELDS, GRADIENT_SUM_FIELDS };
