// The demo's data set and training loop (examples/dataset.ts, examples/training.ts) in Node:
// fixed seeds give the same data and the same training, step for step.
import { describe, expect, it } from 'vitest';
import { makeDataset } from '../examples/dataset.js';
import { DEFAULT_RUN, TrainingRun, type RunConfig } from '../examples/training.js';
import { useDevice } from './helpers.js';

describe('demo data set', () => {
  const data = makeDataset();

  it('is the same for the same seed and differs for another', () => {
    const again = makeDataset();
    expect(again.train.x).toEqual(data.train.x);
    expect(again.test.labels).toEqual(data.test.labels);
    expect(makeDataset({ seed: 8 }).train.x).not.toEqual(data.train.x);
  });

  it('holds out a third, every class in both splits, 12 finite features on scales from 1e-2 to 1e3', () => {
    const { classes, features, perClass } = data.options;
    expect(data.train.count + data.test.count).toBe(classes * perClass);
    expect(data.test.count).toBe(Math.round((classes * perClass) / 3));
    for (const split of [data.train, data.test]) {
      expect(split.x.length).toBe(split.count * features);
      expect(new Set(split.labels).size).toBe(classes);
      expect(split.x.every(Number.isFinite)).toBe(true);
    }
    const spread = Array.from({ length: features }, (_, j) => {
      const column = Array.from({ length: data.train.count }, (_, r) => data.train.x[r * features + j]);
      const mean = column.reduce((a, b) => a + b, 0) / column.length;
      return Math.sqrt(column.reduce((a, b) => a + (b - mean) ** 2, 0) / column.length);
    });
    expect(Math.max(...spread) / Math.min(...spread)).toBeGreaterThan(1e4);
  });
});

describe('demo training run', () => {
  const gpu = useDevice();
  const data = makeDataset();

  /** Training loss after each of 3 reads of 10 steps (across an epoch boundary: 15 batches of 128), then held-out accuracy. */
  async function trace(config: Partial<RunConfig>) {
    const run = new TrainingRun(gpu.device, data, { ...DEFAULT_RUN, batchNorm: true, ...config });
    try {
      const losses: number[] = [];
      for (let r = 0; r < 3; r++) {
        for (let i = 0; i < 10; i++) run.step();
        losses.push((await run.readLoss()).loss);
      }
      return { losses, heldOut: (await run.evaluate()).accuracy };
    } finally {
      run.destroy();
    }
  }

  it('the same seeds give bit-identical losses and held-out accuracy; another seed does not', async () => {
    const a = await trace({});
    expect(await trace({})).toEqual(a);
    expect(a.losses.every(Number.isFinite)).toBe(true);
    expect((await trace({ seed: 2 })).losses).not.toEqual(a.losses);
  });

  it('trains without batch norm too (Linear layers with bias), with finite losses', async () => {
    const { losses } = await trace({ batchNorm: false });
    expect(losses.every(Number.isFinite)).toBe(true);
  });
});
