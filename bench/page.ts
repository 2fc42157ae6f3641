// Page module of `npm start` (served into the harness page): the suite on the
// page's device, with TF.js in the same page as the peer.
import type { PageContext } from '../support/browser/protocol.js';
import { benchEntries } from './entries.js';
import type { Tuning } from 'webgpu-batchnorm';
import { runSuite, type SuiteOptions } from './suite.js';
import { tfjsPeer } from './tfjs-peer.js';
import type { SuiteResult } from './types.js';

export function run({ device, log }: PageContext, options: SuiteOptions, tuning: Partial<Tuning>, withPeer: boolean): Promise<SuiteResult> {
  return runSuite(device, benchEntries(tuning), withPeer ? tfjsPeer : undefined, log, options);
}
