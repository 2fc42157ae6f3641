// The training cases (tests/cases/training.ts) on Dawn in Node: SwiftShader where there is no GPU.
import { describe, it } from 'vitest';
import { trainingCaseGroups } from './cases/training.js';
import { withoutGpuErrors } from '../support/compare.js';
import { useDevice } from './helpers.js';

const gpu = useDevice();

describe.each(Object.entries(trainingCaseGroups))('%s', (_, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await withoutGpuErrors(gpu.device, () => c.run(gpu.device));
  });
});
