// The CNN page (demo/cnn.html) in headless Chrome: it trains. Switching between TF.js's
// batch norm and webgpu-batchnorm's every 10 steps (?every=10), after 20 steps both have
// run (ours on its kernels), the held-out accuracy (first measured at step 20) is above
// chance: over 0.15 where chance is 0.1 (±0.013 on 500 glyphs), and no loss or
// accuracy is NaN. The page's own code runs as a visitor's would (served by Vite).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servePage, type ServedPage } from '../support/browser/harness.js';
import { CNN_PAGE_PACKAGES } from '../demo/cnn-packages.js';
import { noNaN, readCnnState } from '../demo/screenshot-cnn.js';
import { trainUntil } from '../demo/capture.js';

/** The page's first held-out evaluation is at step 20 (seeded: 0.18 measured on SwiftShader). */
const STEPS = 20;
/** About 35 s on a quiet 2-core machine (SwiftShader); room for a busy one. */
const TIMEOUT_MS = 100_000;

let served: ServedPage | undefined;

beforeAll(async () => {
  served = await servePage('demo/cnn.html?every=10', { dependencies: CNN_PAGE_PACKAGES, viewport: { width: 1200, height: 760 } });
});

afterAll(async () => {
  await served?.close();
});

describe('CNN demo page in headless Chrome', () => {
  it(`trains ${STEPS} steps on both implementations: accuracy above chance, no NaN`, { timeout: TIMEOUT_MS + 10_000 }, async () => {
    if (!served) throw new Error('the browser did not start (see beforeAll)');
    const { state, seconds } = await trainUntil(served, {
      name: 'the CNN page',
      read: readCnnState,
      check: noNaN,
      done: (s) => s.steps >= STEPS && s.lanes.some((l) => l.accuracy !== null),
      timeoutMs: TIMEOUT_MS,
    });
    console.log(`after ${seconds.toFixed(0)} s: ${JSON.stringify(state.lanes)}; our kernels ran ${state.oursForward} layer calls`);
    expect(state.lanes.map((l) => l.impl)).toEqual(['tfjs', 'ours']);
    for (const lane of state.lanes) {
      expect(lane.steps, `${lane.impl} steps`).toBeGreaterThan(0);
      expect(Number.isFinite(lane.loss), `${lane.impl} loss ${lane.loss}`).toBe(true);
    }
    expect(state.oursForward, 'layer calls on our kernels').toBeGreaterThan(0);
    const accuracy = Math.max(...state.lanes.map((l) => l.accuracy ?? 0));
    expect(accuracy, 'held-out accuracy (chance: 0.1)').toBeGreaterThan(0.15);
  });
});
