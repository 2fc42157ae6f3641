// The shared cases and TF.js peer parity in headless Chrome (WebGPU on the machine's
// adapter; SwiftShader where there is no GPU). One browser for the file, one test per case.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { chromeGroups } from './browser/cases-page.js';
import { openPage, type PageSession } from '../support/browser/harness.js';
import { TFJS_PACKAGES } from '../support/tfjs.js';

let session: PageSession | undefined;

beforeAll(async () => {
  session = await openPage({ module: 'tests/browser/cases-page.ts', dependencies: TFJS_PACKAGES });
  console.log(`Chrome suite: ${session.adapter} in ${session.browserVersion}`);
});

afterAll(async () => {
  await session?.close();
});

describe.each(Object.entries(chromeGroups))('Chrome: %s', (group, cases) => {
  it.for(cases.map((c, index) => [c.name, index] as const))('%s', async ([, index], { skip }) => {
    if (!session) throw new Error('the browser did not start (see beforeAll)');
    const reason = await session.call<string | undefined>('runCase', group, index);
    if (reason) skip(reason);
  });
});
