// Page module of the demo's headless-Chrome test: the demo's training (examples/training.ts)
// on the harness page's device, with the demo's seeds, inside GPU error scopes.
import { makeDataset } from '../../examples/dataset.js';
import { DEFAULT_RUN, DEMO_TARGET, stepsToAccuracy, type StepsToTarget } from '../../examples/training.js';
import { withoutGpuErrors } from '../../support/compare.js';
import type { PageContext } from '../../support/browser/protocol.js';

/**
 * Trains the demo's network (with or without batch norm) until its held-out accuracy,
 * in eval mode with running statistics, reaches the demo's target or `maxSteps` pass.
 */
export function stepsToTarget({ device, log }: PageContext, batchNorm: boolean, maxSteps: number, every: number): Promise<StepsToTarget> {
  log(`demo network ${batchNorm ? 'with' : 'without'} batch norm: up to ${maxSteps} steps, held-out accuracy every ${every}`);
  return withoutGpuErrors(device, () =>
    stepsToAccuracy(device, makeDataset(), { ...DEFAULT_RUN, batchNorm }, { target: DEMO_TARGET, maxSteps, every }),
  );
}
