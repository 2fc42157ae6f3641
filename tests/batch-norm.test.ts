// The shared cases on Dawn in Node with SwiftShader (tests/lavapipe.test.ts: with lavapipe;
// tests/dist/cases.js --adapter gpu: on a GPU).
import { describe, it } from 'vitest';
import { batchNormCaseGroups } from './cases/index.js';
import { requestDevice } from '../src/node.js';
import { withoutGpuErrors } from '../support/compare.js';
import { useDevice } from './helpers.js';

const gpu = useDevice('swiftshader');
Object.assign(globalThis, { requestTestDevice: () => requestDevice({ adapter: 'swiftshader' }) }); // reliability's device-loss case destroys a device of its own

describe.each(Object.entries(batchNormCaseGroups))('%s', (_, cases) => {
  it.for(cases.map((c) => [c.name, c] as const))('%s', async ([, c], { skip }) => {
    const reason = c.skipOn?.(gpu.device);
    if (reason) skip(reason);
    await withoutGpuErrors(gpu.device, () => c.run(gpu.device));
  });
});
