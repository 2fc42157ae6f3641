// Page module of the Chrome suite: runs one shared case (tests/cases) by group and
// index, inside GPU error scopes, on the harness page's device (or says why not).
import { caseGroups } from '../cases/index.js';
import { tfjsCases } from '../cases/tfjs.js';
import { onEachPass, type Case } from '../cases/case.js';
import { withoutGpuErrors } from '../../support/compare.js';
import type { PageContext } from '../../support/browser/protocol.js';

/** Every group the Chrome suite runs: the shared cases and, in the page only, peer parity with TF.js. */
export const chromeGroups: Record<string, Case[]> = { ...caseGroups, 'TF.js peer parity': onEachPass(tfjsCases) };

/** Runs a case; resolves with the reason it was skipped on this device, if it was. */
export async function runCase({ device }: PageContext, group: string, index: number): Promise<string | undefined> {
  const c = chromeGroups[group]?.[index];
  if (!c) throw new Error(`no case ${index} in group ${group}`);
  const reason = c.skipOn?.(device);
  if (!reason) await withoutGpuErrors(device, () => c.run(device));
  return reason;
}
