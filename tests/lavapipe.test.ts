// Every shared case on Dawn in Node with Mesa's lavapipe, the project's copy that
// scripts/system.mjs unpacks (pointed at for this test file's process alone): the
// f16 path included, which lavapipe's shader-f16 lets run, so no case is skipped.
import { describe, expect, it } from 'vitest';
import { ensureTestDrivers } from '../scripts/system.mjs';
import { caseGroups } from './cases/index.js';
import { requestDevice } from '../src/node.js';
import { withoutGpuErrors } from '../support/compare.js';
import { useDevice } from './helpers.js';

process.env.VK_ADD_DRIVER_FILES = ensureTestDrivers({ firefox: false, lavapipe: true }).lavapipe;
const gpu = useDevice('lavapipe');
Object.assign(globalThis, { requestTestDevice: () => requestDevice({ adapter: 'lavapipe' }) }); // reliability's device-loss case

it('runs on lavapipe, with shader-f16', () => {
  expect(gpu.device.adapterInfo.vendor).toBe('mesa');
  expect(gpu.device.adapterInfo.description).toMatch(/llvmpipe/);
  expect(gpu.device.features.has('shader-f16')).toBe(true);
});

describe.each(Object.entries(caseGroups))('lavapipe: %s', (_, cases) => {
  it.for(cases.map((c) => [c.name, c] as const))('%s', async ([, c]) => {
    expect(c.skipOn?.(gpu.device), 'a case skipped on lavapipe').toBeUndefined();
    await withoutGpuErrors(gpu.device, () => c.run(gpu.device));
  });
});
