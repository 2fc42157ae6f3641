// `npm run bench:node`: the same suite in Node on Dawn (npm `webgpu`): a real GPU
// where Vulkan has one, else a software adapter; `--adapter NAME` picks one
// (`npm run bench:lavapipe`: the project's lavapipe). No peer: TF.js has no webgpu backend in
// Node. Built into bench/dist/node.js, which needs only node and node_modules/webgpu.
import { requestDevice } from 'webgpu-batchnorm/node';
import { parseCli } from './cli.js';
import { benchEntries } from './entries.js';
import { currentLoad, writeReport } from './report.js';
import { runSuite } from './suite.js';

async function main() {
  const cli = parseCli(process.argv.slice(2));
  const started = performance.now();
  const loadBefore = currentLoad();
  const device = await requestDevice({ adapter: cli.adapter, log: true });
  try {
    const result = await runSuite(device, benchEntries(cli.tuning), undefined, (line) => console.log(line), cli.suite);
    await writeReport(
      result,
      {
        runtime: `Node ${process.version}, Dawn (npm webgpu)`,
        command: ['npm run bench:node', ...process.argv.slice(2)].join(' '),
        runtimeTag: 'node',
        outDir: cli.outDir,
        loadBefore,
      },
      (line) => console.log(line),
    );
    console.log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    device.destroy();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
