// The shared cases and TF.js peer parity in one browser (tests/browser/cases-page.ts
// runs each case in the page): one test per case, the browser shared by all.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { chromeGroups } from '../browser/cases-page.js';
import { openPage, type OpenPageOptions, type PageSession } from '../../support/browser/harness.js';
import { TFJS_PACKAGES } from '../../support/tfjs.js';
import { alternatePaths, type Case } from '../cases/case.js';

/**
 * Registers the suite `name`: the cases page opened with `options` (the browser, its
 * Vulkan driver); `describeRun` says what it ran on. `paths` 'alternate': each case
 * that runs on both training paths runs on one of them, alternating (alternatePaths).
 */
export function browserCaseSuite(name: string, options: Omit<OpenPageOptions, 'module'>, describeRun: (session: PageSession) => string, paths: 'both' | 'alternate' = 'both'): void {
  let session: PageSession | undefined;

  beforeAll(async () => {
    session = await openPage({ ...options, module: 'tests/browser/cases-page.ts', dependencies: TFJS_PACKAGES });
    console.log(`${name} suite: ${describeRun(session)}`);
  });

  afterAll(async () => {
    await session?.close();
  });

  describe.each(Object.entries(chromeGroups))(`${name}: %s`, (group, cases) => {
    const run = paths === 'both' ? cases.map((c, index): [Case, number] => [c, index]) : alternatePaths(cases);
    it.for(run.map(([c, index]) => [c.name, index] as const))('%s', async ([, index], { skip }) => {
      if (!session) throw new Error('the browser did not start (see beforeAll)');
      const reason = await session.call<string | undefined>('runCase', group, index);
      if (reason) skip(reason);
    });
  });
}
