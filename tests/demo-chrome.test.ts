// The demo's training in headless Chrome (examples/training.ts in the harness page, WebGPU on
// the machine's adapter): with the demo's fixed seeds, the sigmoid MLP with batch norm
// learns, and reaches the held-out accuracy target in fewer steps than the same
// network without batch norm. Held-out accuracy is measured in eval mode (running
// statistics) every EVAL_EVERY steps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATASET } from '../examples/dataset.js';
import { DEFAULT_RUN, DEMO_TARGET, type StepsToTarget } from '../examples/training.js';
import { openPage, type PageSession } from '../support/browser/harness.js';

/**
 * Steps to held-out accuracy DEMO_TARGET (0.9), measured (headless Chromium 156 on
 * SwiftShader, and the same in Node through Dawn with demo/measure.mjs): 12 → 64 → 64
 * → 64 → 5 sigmoid MLP, Momentum lr 0.05, batch 128, data seed 7, weight and batch-order
 * seed 1, evaluated every 25 steps. The test does not assert these exact numbers
 * (another adapter rounds differently): it sizes its step budget from the first and
 * compares the two networks as they train; its failure messages name both.
 */
const MEASURED_STEPS_WITH_BN = 275;
const MEASURED_STEPS_WITHOUT_BN = 2325;
const EVAL_EVERY = 25;
/** The network with batch norm gets twice its measured steps to reach the target. */
const BN_BUDGET = 2 * MEASURED_STEPS_WITH_BN;
/**
 * The network without batch norm trains for this many times the steps the one with
 * batch norm took, and must not have reached the target by then. Measured, it needs
 * MEASURED_STEPS_WITHOUT_BN / MEASURED_STEPS_WITH_BN = 8.5 times as many; training it to
 * the end would take most of a minute here.
 */
const SLOWER_BY_AT_LEAST = 2;

const finite = (r: StepsToTarget) => r.curve.every((c) => Number.isFinite(c.loss) && Number.isFinite(c.accuracy));

let session: PageSession | undefined;

beforeAll(async () => {
  session = await openPage({ module: 'tests/browser/demo-page.ts' });
  console.log(`demo training in Chrome: ${session.adapter} in ${session.browserVersion}`);
});

afterAll(async () => {
  await session?.close();
});

describe('demo training in headless Chrome (fixed seeds)', () => {
  it(`batch norm reaches ${DEMO_TARGET} held-out accuracy in fewer steps than no batch norm, its loss falls, no NaN`, async () => {
    if (!session) throw new Error('the browser did not start (see beforeAll)');
    expect([DEFAULT_DATASET.seed, DEFAULT_RUN.seed, DEFAULT_RUN.batchSize], 'the settings the steps were measured with').toEqual([7, 1, 128]);

    const withBn = await session.call<StepsToTarget>('stepsToTarget', true, BN_BUDGET, EVAL_EVERY);
    const losses = withBn.curve.map((c) => c.loss);
    console.log(`with batch norm: target reached at step ${withBn.steps}; training loss ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    expect(withBn.sawNaN).toBe(false);
    expect(finite(withBn)).toBe(true);
    expect(withBn.steps, `held-out accuracy ${withBn.finalAccuracy} after ${BN_BUDGET} steps (measured: target at ${MEASURED_STEPS_WITH_BN})`).not.toBeNull();
    expect(losses.at(-1)!).toBeLessThan(losses[0] / 2);

    const budget = SLOWER_BY_AT_LEAST * withBn.steps!;
    const withoutBn = await session.call<StepsToTarget>('stepsToTarget', false, budget, EVAL_EVERY);
    console.log(`without batch norm: ${withoutBn.steps === null ? `not reached in ${budget} steps` : `reached at step ${withoutBn.steps}`}, held-out accuracy ${withoutBn.finalAccuracy}`);
    expect(withoutBn.sawNaN).toBe(false);
    expect(finite(withoutBn)).toBe(true);
    expect(withoutBn.steps ?? Infinity, `measured: target at ${MEASURED_STEPS_WITHOUT_BN}`).toBeGreaterThan(budget);
    const atSameStep = withoutBn.curve.find((c) => c.step === withBn.steps)!;
    expect(atSameStep.accuracy).toBeLessThan(withBn.finalAccuracy);
  });
});
