// Page module of `npm start` (served into the harness page): the suite on the
// page's device, with TF.js in the same page as the peer.
import type { PageContext } from '../support/browser/protocol.js';
import { benchEntries } from './entries.js';
import type { Tuning } from 'webgpu-batchnorm';
import { runSuite, selects, type SuiteOptions } from './suite.js';
import { tfjsPeer } from './tfjs-peer.js';
import { adapterName } from 'webgpu-batchnorm';
import { CNN_GROUP, cnnSelected, runCnnRows } from './tfjs-cnn-entries.js';
import type { SuiteResult } from './types.js';

export async function run({ device, log }: PageContext, options: SuiteOptions, tuning: Partial<Tuning>, withPeer: boolean): Promise<SuiteResult> {
  const entries = benchEntries(tuning);
  const cnnOps = withPeer ? cnnSelected(options.only) : [];
  const suiteRows = entries.some((e) => selects(options.only, e));
  const result: SuiteResult =
    suiteRows || !cnnOps.length
      ? await runSuite(device, entries, withPeer ? tfjsPeer : undefined, log, options)
      : { adapter: adapterName(device), peer: tfjsPeer.name, floors: [], rows: [] };
  // The TF.js CNN (tf.layers, stock batch norm vs useWebGPUBatchNorm), last: bench/tfjs-cnn-entries.ts.
  if (cnnOps.length) {
    log(`${CNN_GROUP}: ${cnnOps.join(', ')}`);
    result.rows.push(...(await runCnnRows(cnnOps, log)));
  }
  return result;
}
