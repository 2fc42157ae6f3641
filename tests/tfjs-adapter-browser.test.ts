// webgpu-batchnorm/tfjs in headless Chrome and in headless Firefox on lavapipe (TF.js's
// webgpu backend runs in both): TF.js 4.22's BatchNormalization layers on our kernels
// (useWebGPUBatchNorm) against TF.js's own, training tiny models from identical
// weights. One browser each; each test is one page function.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ensureTestDrivers } from '../scripts/system.mjs';
import { openPage, type BrowserName, type PageSession } from '../support/browser/harness.js';
import { TFJS_ADAPTER_PACKAGES } from './browser/tfjs-adapter-page.js';
import { PATHS } from './cases/case.js';

/** The parity tests, run on each training path (the rest on the default one). */
const PARITY: [string, string][] = [
  ['MLP, BN on [N, C]: 20 SGD steps through model.fit match stock TF.js', 'mlpSgdFit'],
  ['MLP: 20 Adam steps through optimizer.minimize match stock TF.js', 'mlpAdamMinimize'],
  ['CNN: conv2d channels last → BN → relu → dense softmax, 20 steps of model.fit match stock', 'cnnSgdFit'],
  ['BN axis 1 on [N, C, L] matches stock on the permuted network (20 steps: SGD fit, Adam minimize)', 'axis1Ncl'],
  ['tf.keras JSON with "axis": [1] / [3] (Sequential, functional): 3 SGD steps on our kernels match stock TF.js', 'kerasAxisList'],
  ['center: false / scale: false train, matching tfjs-core ops', 'centerScaleFalse'],
  ['trainable: false matches stock', 'trainableFalse'],
  ['one layer twice in one gradient: replayed forward, gradients match stock', 'twiceInOneGradient'],
];

const TESTS: [string, string][] = [
  ['restore() gives the stock path back; a second call returns the same handle', 'restoreAndTwice'],
  ['cpu backend: nothing changes, the model trains', 'cpuBackend'],
  ['50 steps: numTensors steady, no GPUBuffer created per step', 'steadyLoop'],
  ['bad input: a feature count that does not fit names the layer', 'badInput'],
  ['installed before webgpu is the backend; a loaded model; a fallback reported; rank 5 on axis 1', 'loadedModelAndFallbacks'],
  ['tf.batchNorm (FusedBatchNorm) on our eval kernels equals stock within 1e-5, ranks 1–5; other parameter shapes fall back', 'batchNormOp'],
  ['restore() puts the stock FusedBatchNorm kernel back; installed before the webgpu kernels exist, it takes over later', 'batchNormOpRestore'],
];

describe.each<[BrowserName]>([['chrome'], ['firefox']])('TF.js adapter (webgpu-batchnorm/tfjs) in %s', (browser) => {
  let session: PageSession | undefined;

  beforeAll(async () => {
    const vulkanDriver = browser === 'firefox' ? ensureTestDrivers({ firefox: true, lavapipe: true }).lavapipe : undefined;
    session = await openPage({ browser, vulkanDriver, module: 'tests/browser/tfjs-adapter-page.ts', dependencies: TFJS_ADAPTER_PACKAGES });
    console.log(`TF.js adapter suite: ${session.adapter} in ${session.browserVersion}`);
  });

  afterAll(async () => {
    await session?.close();
  });

  it.each(PARITY.flatMap(([name, fn]) => PATHS.map((path) => [`${name} (${path})`, fn, path] as const)))('%s', async (_name, fn, path) => {
    if (!session) throw new Error('the browser did not start (see beforeAll)');
    await session.call('setTrainingPath', path);
    const result = await session.call<string>(fn);
    if (result) console.log(`${fn} (${path}): ${result}`);
  });

  it.each(TESTS)('%s', async (_name, fn) => {
    if (!session) throw new Error('the browser did not start (see beforeAll)');
    await session.call('setTrainingPath', 'by size');
    const result = await session.call<string>(fn);
    if (result) console.log(`${fn}: ${result}`);
  });
});
