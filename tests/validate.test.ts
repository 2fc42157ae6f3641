import { describe, it } from 'vitest';
import { validationCases } from './cases/validate.js';
import { withoutGpuErrors } from '../support/compare.js';
import { useDevice } from './helpers.js';

const gpu = useDevice();

describe('bad input', () => {
  it.each(validationCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await withoutGpuErrors(gpu.device, () => c.run(gpu.device));
  });
});
