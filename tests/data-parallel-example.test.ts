// examples/data-parallel.ts: the demo's network trained data-parallel on two Dawn
// devices (statistics, gradient sums and Linear gradients all-reduced) follows
// single-device training on the whole batch, step for step.
import { describe, expect, it } from 'vitest';
import { main, TOLERANCE } from '../examples/data-parallel.js';
import { useDevices } from './helpers.js';

const devices = useDevices(2);

describe('data-parallel training example', () => {
  it('two devices, 64 + 64 rows: the same loss curve as one device on 128, for 20 steps; the devices stay in lockstep', async () => {
    const lines: string[] = [];
    const result = await main(['--steps', '20', '--every', '5'], { devices, log: (line) => lines.push(line) });
    expect(result.rows).toHaveLength(20);
    for (const row of result.rows) {
      expect(Number.isFinite(row.single) && Number.isFinite(row.parallel)).toBe(true);
      expect(row.relative, `step ${row.step}: ${row.parallel} vs ${row.single}`).toBeLessThanOrEqual(TOLERANCE);
    }
    expect(result.replicaSpread).toBe(0); // the same update from the same gradients: identical parameters
    expect(result.parameterDifference).toBeLessThan(1e-4);
    // it trains: the loss falls well below its start (ln 5 ≈ 1.61 for 5 classes)
    const first = result.rows[0].parallel;
    const last = result.rows[result.rows.length - 1].parallel;
    expect(last).toBeLessThan(0.8 * first);
    expect(lines.some((l) => l.includes('largest relative loss difference'))).toBe(true);
  });

  it('uneven shards (80 + 48: each shard\'s mean-loss gradient rescaled by n_i/N) follow one device too', async () => {
    const result = await main(['--steps', '4', '--split', '80,48'], { devices, log: () => {} });
    expect(result.maxRelative).toBeLessThanOrEqual(TOLERANCE);
    expect(result.replicaSpread).toBe(0);
  });
});
