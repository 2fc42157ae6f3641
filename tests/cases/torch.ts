// Parity with real PyTorch: every case recorded by scripts/torch-fixtures.py
// (`npm run fixtures:torch`, PyTorch 1.13 on the CPU; the files are committed, so no
// PyTorch is needed here) replayed through the public API and judged element by element
// with torch.testing.assert_close's float32 tolerance (rtol 1.3e-6, atol 1e-5) against
// PyTorch's float32 results. An element outside it passes only where PyTorch's float32
// is further from the float64 computation than ours; those are counted and logged.
//
// The fixture files load the same way in Node (vitest) and in the page Vite serves:
// the index through `?raw`, the binaries through `new URL(file, import.meta.url)`, which
// is a file: URL in Node (read with node:fs) and an http: URL in the browser (fetched).
import indexText from '../fixtures/torch/index.json?raw';
import {
  describeFailure,
  describeTorchFurther,
  passed,
  QUANTITIES,
  replayTorchCase,
  torchFixtures,
  totalStats,
  type ReplayResult,
  type TorchFixtures,
  type TorchIndex,
} from './torch-replay.js';
import { BatchNorm } from '../../src/index.js';
import { check, expectEqual, expectError } from '../../support/compare.js';
import type { Case } from './case.js';

const index = JSON.parse(indexText) as TorchIndex;

async function readBinary(url: URL): Promise<ArrayBuffer> {
  if (url.protocol === 'file:') {
    const fsModule = 'node:fs/promises'; // a variable, so the browser bundle never resolves it
    const { readFile } = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs/promises');
    const bytes = await readFile(url);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

let loaded: Promise<TorchFixtures> | undefined;
function fixtures(): Promise<TorchFixtures> {
  loaded ??= (async () => {
    const dir = new URL('../fixtures/torch/', import.meta.url);
    const [f32, f64] = await Promise.all([readBinary(new URL(index.files.f32, dir)), readBinary(new URL(index.files.f64, dir))]);
    return torchFixtures(index, f32, f64);
  })();
  return loaded;
}

/** A line in the test output: through the harness's log binding in Chrome, the console in Node. */
function report(line: string) {
  const send = (globalThis as unknown as Record<string, ((line: string) => unknown) | undefined>).harnessLog;
  if (typeof send === 'function') void send(line);
  else console.log(line);
}

const results = new Map<string, ReplayResult>();

const replayCases: Case[] = index.cases.map((c) => ({
  name: c.name,
  run: async (device) => {
    const fx = await fixtures();
    const result = await replayTorchCase(device, fx, c);
    results.set(c.name, result);
    const further = describeTorchFurther(result);
    if (further) report(`PyTorch parity: ${further}`);
    if (!passed(result)) throw new Error(describeFailure(result, fx.index.tolerance));
  },
}));

/** A recorded case's initial state, as PyTorch's state_dict names it, into setState and back out of getState. */
const stateDict: Case = {
  name: "state in PyTorch's names: a fixture's state_dict loads with setState and comes back from getState({ names: 'torch' })",
  run: async (device) => {
    const fx = await fixtures();
    const c = fx.index.cases.find((k) => k.options.affine && k.options.trackRunningStats && k.initial.numBatchesTracked !== null);
    if (!c) throw new Error('no fixture with affine parameters and running statistics');
    const at = (ref: [number, number] | null) => fx.f32.slice(ref![0], ref![0] + ref![1]);
    const dict = {
      weight: at(c.initial.gamma),
      bias: at(c.initial.beta),
      running_mean: at(c.initial.runningMean),
      running_var: at(c.initial.runningVar),
      num_batches_tracked: c.initial.numBatchesTracked!,
    };
    const { eps, momentum } = c.options;
    const bn = new BatchNorm(device, { numFeatures: c.numFeatures, layout: c.layout, eps, momentum });
    try {
      bn.setState(dict);
      const back = await bn.getState({ names: 'torch' });
      for (const key of ['weight', 'bias', 'running_mean', 'running_var'] as const) expectEqual(key, back[key]!, dict[key]);
      check(back.num_batches_tracked === dict.num_batches_tracked, `num_batches_tracked: got ${back.num_batches_tracked}, expected ${dict.num_batches_tracked}`);
      const ours = await bn.getState();
      expectEqual('gamma (our name for weight)', ours.gamma, dict.weight);
      await expectError(() => bn.setState({ gamma: dict.weight, weight: dict.weight } as never), /gamma and weight name the same field/);
      await expectError(() => bn.setState({ runing_mean: dict.running_mean } as never), /unknown field runing_mean; expected gamma, .* \(or PyTorch's weight, bias, running_mean, running_var, num_batches_tracked\)/);
    } finally {
      bn.destroy();
    }
  },
};

const summary: Case = {
  name: 'summary of the cases above: worst errors against float64, ours and PyTorch float32',
  run: async () => {
    if (results.size === 0) throw new Error('no PyTorch case ran before the summary');
    const total = totalStats(results.values());
    const rows = QUANTITIES.map((q) => {
      const s = total[q];
      return `  ${q.padEnd(11)} ${String(s.elements).padStart(6)} elements, ${s.withinTolerance} within tolerance of PyTorch, ` +
        `${s.torchFurther} outside it where PyTorch is further from float64; max |ours-torch| ${s.oursVsTorch.toExponential(2)}, ` +
        `|ours-f64| ${s.oursVsTruth.toExponential(2)} (${s.oursVsTruthTol.toFixed(2)}× tol), |torch-f64| ${s.torchVsTruth.toExponential(2)} (${s.torchVsTruthTol.toFixed(2)}× tol)`;
    });
    const ok = [...results.values()].filter(passed).length;
    report(`PyTorch parity (torch ${index.torch}, seed ${index.seed}): ${ok}/${results.size} cases pass\n${rows.join('\n')}`);
  },
};

export const torchCases: Case[] = [...replayCases, stateDict, summary];
