// The shared cases on Dawn in Node with SwiftShader (tests/lavapipe.test.ts: with lavapipe;
// tests/dist/cases.js --adapter gpu: on a GPU).
import { describe, it } from 'vitest';
import { parityCases } from './cases/parity.js';
import { numericsCases } from './cases/numerics.js';
import { apiCases } from './cases/api.js';
import { torchCases } from './cases/torch.js';
import { reliabilityCases } from './cases/reliability.js';
import { dataParallelCases } from './cases/data-parallel.js';
import { fusedCases } from './cases/fused.js';
import { halfCases } from './cases/half.js';
import { requestDevice } from '../src/node.js';
import { withoutGpuErrors } from '../support/compare.js';
import { useDevice } from './helpers.js';

const gpu = useDevice('swiftshader');
Object.assign(globalThis, { requestTestDevice: () => requestDevice({ adapter: 'swiftshader' }) }); // reliability's device-loss case destroys a device of its own

describe.each([
  ['parity with the float64 reference', parityCases],
  ['numerics', numericsCases],
  ['GPU-resident API', apiCases],
  ['parity with PyTorch', torchCases],
  ['reliability', reliabilityCases],
  ['data-parallel', dataParallelCases],
  ['fused epilogues', fusedCases],
  ['float16 storage', halfCases],
])('%s', (_, cases) => {
  it.for(cases.map((c) => [c.name, c] as const))('%s', async ([, c], { skip }) => {
    const reason = c.skipOn?.(gpu.device);
    if (reason) skip(reason);
    await withoutGpuErrors(gpu.device, () => c.run(gpu.device));
  });
});
