// The shared cases and the README's browser snippet in headless Firefox (WebGPU
// through wgpu) on Mesa's lavapipe, the project's copy that scripts/system.mjs
// unpacks: one browser for the cases, the same checks as the Chrome suite.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ensureTestDrivers } from '../scripts/system.mjs';
import { chromeGroups } from './browser/cases-page.js';
import { openPage, type PageSession } from '../support/browser/harness.js';
import { TFJS_PACKAGES } from '../support/tfjs.js';

let session: PageSession | undefined;

beforeAll(async () => {
  const { lavapipe } = ensureTestDrivers({ firefox: true, lavapipe: true });
  session = await openPage({ browser: 'firefox', vulkanDriver: lavapipe, module: 'tests/browser/cases-page.ts', dependencies: TFJS_PACKAGES });
  console.log(`Firefox suite: ${session.adapter} (Vulkan driver ${lavapipe}) in ${session.browserVersion}`);
});

afterAll(async () => {
  await session?.close();
});

describe.each(Object.entries(chromeGroups))('Firefox: %s', (group, cases) => {
  it.for(cases.map((c, index) => [c.name, index] as const))('%s', async ([, index], { skip }) => {
    if (!session) throw new Error('the browser did not start (see beforeAll)');
    const reason = await session.call<string | undefined>('runCase', group, index);
    if (reason) skip(reason);
  });
});
