// npm run parity:torch [-- --seed N] [--fixed-shapes] [--adapter auto|gpu|software|swiftshader|lavapipe] [--fixtures DIR]
// Live parity with the installed PyTorch: generates fresh cases with scripts/torch-fixtures.py
// (a random seed unless given; shapes drawn from the seed unless --fixed-shapes) into a
// temporary folder, replays them through this package in Node on the machine's adapter
// (Dawn), and prints and saves a report to parity-report/ (ignored by git) with pass counts
// under PyTorch's float32 tolerance and the worst errors of ours and of PyTorch's float32
// against float64. Exit status 1 when a case fails. --fixtures DIR replays a folder
// recorded earlier instead (tests/fixtures/torch, or one made with npm run fixtures:torch --
// --out DIR on another machine), and needs no PyTorch: for a GPU machine without it.
// Run through scripts/run-ts.mjs, which compiles it with Vite.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapterName, requestDevice, type AdapterChoice } from '../src/node.js';
import {
  describeFailure,
  passed,
  QUANTITIES,
  replayTorchCase,
  torchFixtures,
  totalStats,
  type ReplayResult,
  type TorchIndex,
} from '../tests/cases/torch-replay.js';
import { generate, requireTorch } from './torch-fixtures.mjs';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const e = (v: number) => v.toExponential(2);

export async function main(args: string[]): Promise<void> {
  const recorded = option(args, '--fixtures');
  const adapter = (option(args, '--adapter') ?? 'auto') as AdapterChoice;
  const dir = recorded ?? (await mkdtemp(join(tmpdir(), 'webgpu-batchnorm-torch-')));
  let device: GPUDevice | undefined;
  try {
    if (!recorded) {
      requireTorch();
      const seed = option(args, '--seed') ?? String(Math.floor(Math.random() * 2 ** 31));
      const status = generate(['--seed', seed, '--out', dir, ...(args.includes('--fixed-shapes') ? [] : ['--vary-shapes'])]);
      if (status !== 0) throw new Error(`scripts/torch-fixtures.py exited with status ${status}`);
    }
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as TorchIndex & { varyShapes?: boolean };
    const torchVersion = index.torch;
    const bytes = async (name: string) => {
      const b = await readFile(join(dir, name));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    };
    const fx = torchFixtures(index, await bytes(index.files.f32), await bytes(index.files.f64));

    device = await requestDevice({ adapter });
    const adapterLabel = adapterName(device);
    const results: ReplayResult[] = [];
    const started = performance.now();
    for (const c of index.cases) {
      device.pushErrorScope('validation');
      const r = await replayTorchCase(device, fx, c);
      const gpuError = await device.popErrorScope();
      if (gpuError) r.problems.push(`GPU validation error: ${gpuError.message}`);
      results.push(r);
    }
    const seconds = (performance.now() - started) / 1000;

    const total = totalStats(results);
    const passing = results.filter(passed).length;
    const steps = index.cases.reduce((n, c) => n + c.steps.length, 0);
    const { rtol, atol } = index.tolerance;
    const date = new Date().toISOString();
    const lines = [
      `# Parity with PyTorch ${torchVersion}`,
      '',
      `${date}: ${index.cases.length} cases (${steps} steps), seed ${index.seed}${index.varyShapes ? ', shapes drawn from the seed' : ''}` +
        `${recorded ? `, recorded in ${recorded}` : ', recorded just now'}; ` +
        `adapter: ${adapterLabel}; replayed in ${seconds.toFixed(1)} s.`,
      '',
      `**${passing}/${results.length} cases pass.** An element passes within PyTorch's float32 tolerance of PyTorch's ` +
        `float32 result (|ours − torch| ≤ ${atol} + ${rtol}·|torch|), or, outside it, where PyTorch's float32 is further ` +
        'from the float64 computation than ours.',
      '',
      '| quantity | elements | within tolerance | outside, PyTorch further from f64 | failed | max \\|ours − torch\\| | max \\|ours − f64\\| | max \\|torch f32 − f64\\| | ours / torch, in tolerances of f64 |',
      '| :-- | --: | --: | --: | --: | --: | --: | --: | --: |',
      ...QUANTITIES.map((q) => {
        const s = total[q];
        return `| ${q} | ${s.elements} | ${s.withinTolerance} | ${s.torchFurther} | ${s.failed} | ${e(s.oursVsTorch)} | ${e(s.oursVsTruth)} | ` +
          `${e(s.torchVsTruth)} | ${s.oursVsTruthTol.toFixed(2)} / ${s.torchVsTruthTol.toFixed(2)} |`;
      }),
    ];
    const failures = results.filter((r) => !passed(r));
    if (failures.length) lines.push('', '## Failures', '', '```', ...failures.map((r) => describeFailure(r, index.tolerance)), '```');
    const text = lines.join('\n') + '\n';
    console.log(text);

    const out = fileURLToPath(new URL('../parity-report/', import.meta.url));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, '.gitignore'), '# written by scripts/torch-parity.ts\n*\n');
    const stem = join(out, `torch-${date.replace(/[:.]/g, '-')}`);
    await writeFile(`${stem}.md`, text);
    await writeFile(`${stem}.json`, JSON.stringify({ date, torch: torchVersion, seed: index.seed, adapter: adapterLabel, seconds, passing, cases: results.length, total, results }, null, 1));
    console.log(`saved ${stem}.md and .json`);
    if (failures.length) process.exitCode = 1;
  } finally {
    device?.destroy();
    if (!recorded) await rm(dir, { recursive: true, force: true });
  }
}
