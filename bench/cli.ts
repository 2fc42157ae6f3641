// Command-line options shared by the Chrome and Node runners.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Tuning } from 'webgpu-batchnorm';
import { ADAPTER_CHOICES, type AdapterChoice } from 'webgpu-batchnorm/node';
import type { SuiteOptions } from './suite.js';

export interface CliOptions {
  suite: SuiteOptions;
  /** Overrides of the adapter's default tuning for our rows, as BatchNorm's `tuning` option takes them. */
  tuning: Partial<Tuning>;
  outDir: string;
  headed: boolean;
  /** Leave the peer (TF.js) out, e.g. to sweep our tuning quickly. */
  noPeer: boolean;
  /** Node only: which adapter requestDevice takes. */
  adapter: AdapterChoice;
}

export const USAGE = `options:
  --only TEXT          run only rows whose "shape op" contains TEXT (repeatable), e.g. --only "NC [4096" --only "eval"
  --out DIR            where the report files go (default: bench/results)
  --peer-budget SEC    time for the peer's timed ops per row (default 20)
  --tuning JSON        BatchNorm tuning for our rows, e.g. '{"workgroupSize":32}' (default: the adapter's)
  --adapter NAME       Node only: ${ADAPTER_CHOICES.join(', ')} (default auto: a GPU, else a software adapter)
  --no-peer            Chrome only: leave TF.js out
  --headed             Chrome only: show the browser window (needs a display)`;

export function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string', multiple: true },
      out: { type: 'string' },
      'peer-budget': { type: 'string' },
      tuning: { type: 'string' },
      'no-peer': { type: 'boolean' },
      adapter: { type: 'string' },
      headed: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const budget = values['peer-budget'] === undefined ? undefined : Number(values['peer-budget']);
  if (budget !== undefined && !(budget > 0)) throw new Error(`--peer-budget must be a number of seconds > 0, got ${values['peer-budget']}`);
  let tuning: Partial<Tuning> = {};
  if (values.tuning !== undefined) {
    try {
      tuning = JSON.parse(values.tuning);
    } catch {
      throw new Error(`--tuning must be JSON, e.g. '{"workgroupSize":32}', got ${values.tuning}`);
    }
  }
  const adapter = (values.adapter ?? 'auto') as AdapterChoice;
  if (!ADAPTER_CHOICES.includes(adapter)) throw new Error(`--adapter must be one of ${ADAPTER_CHOICES.join(', ')}, got ${values.adapter}`);
  return {
    adapter,
    suite: { only: values.only, peerBudgetMs: budget === undefined ? undefined : budget * 1000 },
    tuning,
    outDir: resolve(values.out ?? 'bench/results'),
    headed: values.headed ?? false,
    noPeer: values['no-peer'] ?? false,
  };
}
