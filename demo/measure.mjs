// Steps to the held-out accuracy target, with and without batch norm, with the
// demo's fixed seeds, in Node through Dawn (SwiftShader without a GPU):
//   node demo/measure.mjs [maxSteps]
// Vite loads the TypeScript sources (and their ?raw shaders) as the demo page does:
// the demo's network and data set from examples/, the package's names from src/.
import { createServer } from 'vite';
import { fileURLToPath } from 'node:url';
import { packageAliases } from '../support/aliases.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const server = await createServer({ root, configFile: false, logLevel: 'error', server: { middlewareMode: true, hmr: false }, appType: 'custom', resolve: { alias: packageAliases } });
try {
  const { requestDevice, adapterName } = await server.ssrLoadModule('webgpu-batchnorm/node');
  const { compareBatchNorm, DEFAULT_RUN, DEMO_TARGET } = await server.ssrLoadModule('/examples/training.ts');
  const { DEFAULT_DATASET } = await server.ssrLoadModule('/examples/dataset.ts');
  const device = await requestDevice();
  try {
    const maxSteps = Number(process.argv[2] ?? 3000);
    const start = performance.now();
    const result = await compareBatchNorm(device, { maxSteps });
    const seconds = (performance.now() - start) / 1000;
    console.log(JSON.stringify({ adapter: adapterName(device), dataset: DEFAULT_DATASET, run: DEFAULT_RUN, target: DEMO_TARGET, maxSteps, seconds }, null, 1));
    for (const [name, r] of Object.entries(result)) {
      const curve = r.curve.map((c) => `${c.step}:${c.accuracy.toFixed(3)}`).join(' ');
      console.log(`${name}: ${r.steps === null ? `not reached in ${maxSteps} steps` : `${r.steps} steps`} (final held-out accuracy ${r.finalAccuracy.toFixed(3)}, NaN seen: ${r.sawNaN})\n  ${curve}`);
    }
  } finally {
    device.destroy();
  }
} finally {
  await server.close();
}
