// The partition of shapes into workgroups: invariants over many shapes and tunings.
import { describe, expect, it } from 'vitest';
import { canonicalView, LAYOUTS, type Layout } from '../src/batchnorm/layout.js';
import { CPU_TUNING, GPU_TUNING, MAX_PARTIALS_PER_FEATURE, onePassTraversal, partition, type Tuning } from '../src/batchnorm/partition.js';
import { PARAMS_FIELDS, PARTIAL_SECTIONS } from '../src/batchnorm/stages.js';
import { dispatchSize } from '../src/gpu/dispatch.js';
import { rng } from '../support/data.js';

const TUNINGS: Tuning[] = [
  CPU_TUNING,
  GPU_TUNING,
  { workgroupSize: 16, targetWorkgroups: 1 << 20, minItemsPerThread: 1, contiguousItems: false, serialMergePartials: 16, onePassElements: 1 << 18 },
  { workgroupSize: 128, targetWorkgroups: 64, minItemsPerThread: 3, contiguousItems: true, serialMergePartials: 64, onePassElements: 1 << 18 },
  { workgroupSize: 2, targetWorkgroups: 64, minItemsPerThread: 8, contiguousItems: true, serialMergePartials: 4, onePassElements: 1 << 18 },
];

function randomShape(layout: Layout, next: () => number): number[] {
  const dim = (max: number) => 1 + Math.floor(next() ** 3 * max);
  switch (layout) {
    case 'NC':
      return [dim(5000), dim(3000)];
    case 'NCL':
      return [dim(64), dim(300), dim(5000)];
    case 'NCDHW':
    case 'NDHWC':
      return [dim(8), dim(100), dim(16), dim(16), dim(16)];
    default:
      return [dim(16), dim(200), dim(64), dim(64)];
  }
}

describe.each(TUNINGS)('partition with tuning %j', (tuning) => {
  const next = rng(7);
  const shapes = LAYOUTS.flatMap((layout) => Array.from({ length: 60 }, () => [layout, randomShape(layout, next)] as const));

  // the one-pass split on every third shape (the invariants are the same; the count keeps the file quick)
  const cases = shapes.flatMap(([layout, shape], i) => [false, ...(i % 3 === 0 ? [true] : [])].map((onePass) => [layout, shape, onePass] as const));
  it.each(cases)('%s %j (one pass: %s) covers every element exactly once', (layout, shape, onePass) => {
    const view = canonicalView(layout, shape);
    const p = partition(view, tuning, onePass);
    const f = p.fields;
    if (onePass) {
      // a workgroup owns its lanes' (periodic) or its feature's (planes) every value
      expect([f.periodicChunks, f.planeChunks]).toEqual([1, 1]);
      expect(f.lanesPerGroup).toBeGreaterThanOrEqual(Math.min(4, 2 ** Math.ceil(Math.log2(f.lanes)), tuning.workgroupSize));
    }
    // periodic: whole vec4 lanes per block, blocks plus tail cover the tensor
    expect((f.repeat * f.period) % 4).toBe(0);
    expect(f.lanes * 4).toBe(f.repeat * f.period);
    expect(f.blocks * f.repeat * f.period + f.tailLen).toBe(view.size);
    expect(f.tailLen).toBeLessThan(f.repeat * f.period);
    expect(f.lanesPerGroup * f.rowLanes).toBe(tuning.workgroupSize);
    expect(Math.log2(f.lanesPerGroup) % 1).toBe(0);
    expect(f.laneGroups * f.lanesPerGroup).toBeGreaterThanOrEqual(f.lanes);
    expect(f.periodicChunks * f.blocksPerChunk).toBeGreaterThanOrEqual(f.blocks);
    if (f.blocks > 0) expect((f.periodicChunks - 1) * f.blocksPerChunk).toBeLessThan(f.blocks); // no empty chunk
    expect(p.periodicWorkgroups).toBe(f.laneGroups * f.periodicChunks);
    // pair threads (traversal.wgsl's pairThread): a workgroup's threads cover each of its lanes'
    // blocks of a chunk exactly once, the paired reduce stages' slots (chunk, row lane) distinct
    const pairs = Math.max(f.lanesPerGroup / 2, 1);
    expect(f.pairRowLanes * pairs).toBe(tuning.workgroupSize);
    const lanesOf = (lid: number) => {
      const first = 2 * (lid % pairs);
      return f.lanesPerGroup > 1 && first + 1 < f.lanesPerGroup ? [first, first + 1] : [first];
    };
    const blocksOfLane = new Map<number, number>();
    for (let lid = 0; lid < tuning.workgroupSize; lid++) {
      const rowLane = Math.floor(lid / pairs);
      const first = Math.min(rowLane * f.blocksPerPairRowLane, f.blocksPerChunk);
      const count = Math.min(first + f.blocksPerPairRowLane, f.blocksPerChunk) - first;
      for (const lane of lanesOf(lid)) blocksOfLane.set(lane, (blocksOfLane.get(lane) ?? 0) + count);
    }
    expect([...blocksOfLane.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: f.lanesPerGroup }, (_, i) => i));
    for (const count of blocksOfLane.values()) expect(count).toBe(f.blocksPerChunk);
    if (p.pairedLanes && p.reduce === 'periodic') {
      expect(f.partialChunks).toBe(f.periodicChunks * f.pairRowLanes);
      expect(p.sharedLanes).toBe(false);
    }
    // planes: chunks cover each feature's items
    const items = view.outer * f.groups;
    expect(f.groups).toBe(p.aligned ? view.inner / 4 : view.inner);
    expect(f.planeChunks * f.itemsPerChunk).toBeGreaterThanOrEqual(items);
    expect((f.planeChunks - 1) * f.itemsPerChunk).toBeLessThan(items);
    expect(p.planeWorkgroups).toBe(view.features * f.planeChunks);
    // each thread's items, [lid * start, + span) every planeStep, cover a chunk exactly once
    const wg = tuning.workgroupSize;
    const covered = new Set<number>();
    for (let lid = 0; lid < wg; lid++) {
      const first = lid * f.planeThreadStart;
      for (let item = first; item < Math.min(first + f.planeThreadSpan, f.itemsPerChunk); item += f.planeStep) {
        expect(covered.has(item)).toBe(false);
        covered.add(item);
      }
    }
    expect(covered.size).toBe(f.itemsPerChunk);
    expect(f.planeStepIndex).toBe(Math.floor(f.planeStep / f.groups) * view.features * f.groups + f.planeStepGroups);
    // partials: a bounded number per feature, and a slot for each
    const perFeature = f.partialChunks * f.slotRepeat * f.slotInner;
    expect(perFeature).toBeLessThanOrEqual(Math.max(MAX_PARTIALS_PER_FEATURE, f.slotRepeat * f.slotInner));
    expect(f.slotsPerChunk).toBe(p.reduce === 'periodic' ? f.repeat * f.period : view.features);
    expect(p.partialFloats).toBe(PARTIAL_SECTIONS * f.partialChunks * f.slotsPerChunk);
    // merging: a feature's threads side by side with other features', each with a run of its partials
    expect(f.mergeLanes * f.mergeRowLanes).toBe(tuning.workgroupSize);
    expect(Math.log2(f.mergeRowLanes) % 1).toBe(0);
    expect(p.workgroupMerge).toBe(perFeature > tuning.serialMergePartials);
    if (p.workgroupMerge) expect(Math.floor(perFeature / f.mergeRowLanes)).toBeGreaterThanOrEqual(4);
    else expect(f.mergeRowLanes).toBe(1);
    expect(p.featureWorkgroups * tuning.workgroupSize).toBeGreaterThanOrEqual(view.features); // one feature a thread
    expect((p.featureWorkgroups - 1) * tuning.workgroupSize).toBeLessThan(view.features);
    expect(p.featureWorkgroups * 4 * p.featureColumnThreads).toBeGreaterThanOrEqual(view.features); // bn-finalize: four a thread
    expect(p.mergeWorkgroups * f.mergeLanes).toBeGreaterThanOrEqual(view.features);
    expect((p.mergeWorkgroups - 1) * f.mergeLanes).toBeLessThan(view.features);
    if (view.inner === 1) expect([p.reduce, p.apply]).toEqual(['periodic', 'periodic']);
    if (!p.aligned) expect(p.apply).toBe('periodic');
    if (p.apply !== 'periodic') expect(p.apply).toBe(tuning.contiguousItems ? 'flat' : 'planes');
    // flat: the threads' runs cover the tensor's vec4s, the last workgroup's first thread has some
    const vec4s = view.outer * view.features * f.groups;
    expect(p.flatWorkgroups * wg * f.flatPerThread).toBeGreaterThanOrEqual(vec4s);
    expect((p.flatWorkgroups - 1) * wg * f.flatPerThread).toBeLessThan(vec4s);
    expect(f.flatWorkgroups).toBe(p.flatWorkgroups);
  });
});

describe('onePassTraversal', () => {
  it.each([
    ['NC', [256, 64], 'periodic'],
    ['NHWC', [64, 8, 8, 64], 'periodic'],
    ['NHWC', [2, 4, 4, 3], undefined], // C = 3: a vec4 holds values of several features
    ['NC', [10, 10], undefined],
    ['NCHW', [2, 8, 4, 4], 'planes'],
    ['NCHW', [2, 8, 7, 7], undefined], // 49: a feature ends in a partial vec4
    ['NCL', [3, 5, 12], 'planes'],
  ] as const)('%s %j: %s', (layout, shape, traversal) => {
    expect(onePassTraversal(canonicalView(layout, [...shape]))).toBe(traversal);
  });
});

describe('partition fields', () => {
  it('are every field of Params but the options the plan gives, and nothing else', () => {
    const options = ['eps', 'momentum', 'cumulative', 'unbiased', 'zeroBits'];
    const { fields } = partition(canonicalView('NCHW', [2, 3, 4, 5]), GPU_TUNING);
    expect(Object.keys(fields).sort()).toEqual(PARAMS_FIELDS.filter((name) => !options.includes(name)).sort());
  });
});

describe('dispatchSize', () => {
  it.each([1, 65535, 65536, 131071, 1_000_000, 70_000 * 3])('%i workgroups fit the per-dimension limit', (w) => {
    const [x, y] = dispatchSize(w, 65535);
    expect(x).toBeLessThanOrEqual(65535);
    expect(y).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(w);
    expect((y - 1) * x).toBeLessThan(w); // no whole row of idle workgroups
  });
});
