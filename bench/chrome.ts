// `npm start`: the benchmark in headless Chrome, with TF.js in the same page, on
// whatever adapter Chrome's WebGPU has (SwiftShader where there is no GPU).
import { openPage } from '../support/browser/harness.js';
import { TFJS_PACKAGES } from '../support/tfjs.js';
import { parseCli } from './cli.js';
import { TFJS_LAYERS } from './tfjs-network-peer.js';
import { currentLoad, writeReport } from './report.js';
import type { SuiteResult } from './types.js';

const BENCH_TIMEOUT_MS = 30 * 60_000;

async function main() {
  const cli = parseCli(process.argv.slice(2));
  const started = performance.now();
  const loadBefore = currentLoad();
  console.log('starting Chrome and the page (Vite on http://localhost) ...');
  const session = await openPage({
    module: 'bench/page.ts',
    dependencies: [...TFJS_PACKAGES, TFJS_LAYERS],
    headed: cli.headed,
    callTimeoutMs: BENCH_TIMEOUT_MS,
    log: (line) => console.log(line),
  });
  try {
    console.log(`${session.browserVersion}: ${session.adapter}`);
    const result = await session.call<SuiteResult>('run', cli.suite, cli.tuning, !cli.noPeer);
    await writeReport(
      result,
      {
        runtime: `${session.browserVersion}${cli.headed ? '' : ' (headless)'}`,
        command: ['npm start', ...process.argv.slice(2)].join(' '),
        runtimeTag: 'chrome',
        outDir: cli.outDir,
        loadBefore,
      },
      (line) => console.log(line),
    );
    console.log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await session.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
