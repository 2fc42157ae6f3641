// The GPU-resident API: dispatch budget, recording into the caller's encoder,
// no allocation in a steady loop, 2D dispatch folding, tuning independence,
// and destroying only what the library created.
import { BatchNorm, CPU_TUNING, GPU_TUNING, ReferenceBatchNorm, type Layout, type Tuning } from '../../src/index.js';
import { check, expectClose, expectEqual } from '../../support/compare.js';
import { activations, elements, featuresOf, normal } from '../../support/data.js';
import { counting, download, TestBuffers } from '../support/gpu.js';
import { onPath, PATHS, using, type Case } from './case.js';
import { GRAD_TOL, STATS_TOL, Y_TOL } from '../../support/tolerances.js';

/** A command encoder that records the compute passes and dispatches made on it. */
function recordingEncoder(device: GPUDevice) {
  const log = { passes: 0, dispatches: [] as number[][] };
  const encoder = device.createCommandEncoder({ label: 'test encoder' });
  const begin = encoder.beginComputePass.bind(encoder);
  encoder.beginComputePass = (descriptor) => {
    const pass = begin(descriptor);
    log.passes++;
    const dispatch = pass.dispatchWorkgroups.bind(pass);
    pass.dispatchWorkgroups = (x, y = 1, z = 1) => (log.dispatches.push([x, y, z]), dispatch(x, y, z));
    return pass;
  };
  return { encoder, log };
}

/** Shapes of the budget cases, and whether the one-pass stages take them (partition.ts's onePassTraversal). */
const BUDGET_SHAPES: [Layout, number[], boolean][] = [['NC', [64, 12], true], ['NCHW', [2, 8, 6, 6], true], ['NCL', [3, 5, 9], false], ['NHWC', [2, 3, 3, 7], false]];

/** Records each op into its own encoder: one compute pass, `expected` dispatches, nothing submitted. */
async function checkBudget(device: GPUDevice, bn: BatchNorm, x: GPUBuffer, dy: GPUBuffer, shape: number[], expected: Record<string, number>) {
  for (const [op, dispatches] of Object.entries(expected)) {
    bn.training = op.startsWith('training');
    const { encoder, log } = recordingEncoder(device);
    await counting(device, async (counts) => {
      if (op.endsWith('forward')) bn.forward(x, shape, encoder);
      else bn.backward(dy, encoder);
      check(counts.submits === 0, `${op}: submitted ${counts.submits} times into the queue while recording into the caller's encoder`);
    });
    check(log.passes === 1, `${op}: ${log.passes} compute passes, expected 1`);
    check(log.dispatches.length === dispatches, `${op}: ${log.dispatches.length} dispatches, expected ${dispatches}`);
    device.queue.submit([encoder.finish()]);
  }
  await device.queue.onSubmittedWorkDone();
}

const budgetCases: Case[] = BUDGET_SHAPES.flatMap(([layout, shape, onePassShape]) =>
  PATHS.map((path): Case => {
    const training = path === 'one pass' && onePassShape ? 1 : 3;
    return {
      name: `dispatch budget in the caller's encoder, one compute pass per op, nothing submitted: ${layout} [${shape}], ${path}: training ${training} + ${training}, eval 1 + ${training}`,
      ownPath: true,
      run: (device) =>
        onPath(device, path, () =>
          using(new TestBuffers(device), (buffers) =>
            using(new BatchNorm(device, { numFeatures: featuresOf(layout, shape), layout }), (bn) =>
              checkBudget(device, bn, buffers.upload(activations(layout, shape, 1)), buffers.upload(normal(elements(shape), 2)), shape,
                { 'training forward': training, 'training backward': training, 'eval forward': 1, 'eval backward': training }),
            ),
          ),
        ),
    };
  }),
);

/** The path by size: tensors up to tuning.onePassElements take one dispatch each way, larger ones three. */
const budgetBySize: Case[] = [
  [100, 3],
  [768, 1],
].map(([onePassElements, training]): Case => ({
  name: `training takes ${training} + ${training} dispatches on NC [64, 12] (768 elements) with tuning.onePassElements ${onePassElements}`,
  ownPath: true,
  run: (device) =>
    onPath(device, 'by size', () =>
      using(new TestBuffers(device), (buffers) =>
        using(new BatchNorm(device, { numFeatures: 12, layout: 'NC', tuning: { onePassElements } }), (bn) =>
          checkBudget(device, bn, buffers.upload(activations('NC', [64, 12], 3)), buffers.upload(normal(768, 4)), [64, 12],
            { 'training forward': training, 'training backward': training }),
        ),
      ),
    ),
}));

const steadyLoop: Case = {
  name: 'a steady training loop of 100 steps creates no GPU buffers and no bind groups',
  run: async (device) => {
    const layout = 'NCHW';
    const shape = [4, 6, 5, 5];
    await using(new TestBuffers(device), (buffers) =>
      using(new BatchNorm(device, { numFeatures: 6, layout }), async (bn) => {
        const xs = [buffers.upload(activations(layout, shape, 3)), buffers.upload(activations(layout, shape, 4))];
        const dy = buffers.upload(normal(elements(shape), 5));
        const step = (i: number) => {
          const encoder = device.createCommandEncoder({ label: 'training step' });
          bn.forward(xs[i % 2], shape, encoder);
          bn.backward(dy, encoder);
          device.queue.submit([encoder.finish()]);
        };
        step(0);
        step(1); // the first use of each input builds its bind groups
        await bn.forwardArray(activations(layout, shape, 6), shape);
        await bn.backwardArray(normal(elements(shape), 7));
        await counting(device, async (counts) => {
          for (let i = 0; i < 100; i++) step(i);
          await device.queue.onSubmittedWorkDone();
          for (let i = 0; i < 5; i++) {
            await bn.forwardArray(activations(layout, shape, 10 + i), shape);
            await bn.backwardArray(normal(elements(shape), 20 + i));
          }
          check(counts.buffers === 0, `the loop created ${counts.buffers} buffers`);
          check(counts.bindGroups === 0, `the loop created ${counts.bindGroups} bind groups`);
        });
        check((await bn.getState()).numBatchesTracked === 108, 'numBatchesTracked should count every training forward: 2 + 1 + 100 + 5');
      }),
    );
  },
};

const recordedSteps: Case = {
  name: 'three training steps recorded into one encoder match three steps of the reference (momentum null)',
  run: async (device) => {
    const layout = 'NC';
    const shape = [50, 6];
    await using(new TestBuffers(device), (buffers) =>
      using(new BatchNorm(device, { numFeatures: 6, layout, momentum: null }), async (bn) => {
        const ref = new ReferenceBatchNorm({ numFeatures: 6, layout, momentum: null });
        const encoder = device.createCommandEncoder({ label: 'three steps' });
        for (let s = 0; s < 3; s++) {
          const x = activations(layout, shape, 30 + s);
          bn.forward(buffers.upload(x), shape, encoder);
          ref.forward(x, shape);
        }
        device.queue.submit([encoder.finish()]);
        const state = await bn.getState();
        check(state.numBatchesTracked === 3, `numBatchesTracked ${state.numBatchesTracked}, expected 3`);
        expectClose('runningMean', state.runningMean!, ref.state.runningMean, STATS_TOL);
        expectClose('runningVar', state.runningVar!, ref.state.runningVar, STATS_TOL);
      }),
    );
  },
};

const forwardBackwardTogether: Case = {
  name: 'forward and backward recorded into one encoder give the reference y and dx',
  run: async (device) => {
    const layout = 'NHWC';
    const shape = [3, 4, 5, 8];
    await using(new TestBuffers(device), (buffers) =>
      using(new BatchNorm(device, { numFeatures: 8, layout }), async (bn) => {
        const ref = new ReferenceBatchNorm({ numFeatures: 8, layout });
        const x = activations(layout, shape, 40);
        const dy = normal(x.length, 41);
        const encoder = device.createCommandEncoder({ label: 'forward + backward' });
        const y = bn.forward(buffers.upload(x), shape, encoder);
        const { dx } = bn.backward(buffers.upload(dy), encoder);
        device.queue.submit([encoder.finish()]);
        check(y.size === Math.ceil((x.length * 4) / 16) * 16, `y has ${y.size} bytes`);
        expectClose('y', await download(device, y, x.length), ref.forward(x, shape), Y_TOL);
        expectClose('dx', await download(device, dx, x.length), ref.backward(dy).dx, GRAD_TOL);
        check(bn.forward(buffers.upload(x), shape) === y, 'forward should reuse its y buffer for the same shape');
      }),
    );
  },
};

function foldCase(layout: Layout, shape: number[]): Case {
  const tuning: Tuning = { workgroupSize: 16, targetWorkgroups: 1 << 20, minItemsPerThread: 1, contiguousItems: false, serialMergePartials: 16, onePassElements: 1 << 18 };
  return {
    name: `more than 65535 workgroups fold into a 2D dispatch and stay correct: ${layout} [${shape}] with tiny workgroups`,
    run: async (device) => {
      const numFeatures = featuresOf(layout, shape);
      await using(new TestBuffers(device), (buffers) =>
        using(new BatchNorm(device, { numFeatures, layout, tuning }), async (bn) => {
          const ref = new ReferenceBatchNorm({ numFeatures, layout });
          const x = activations(layout, shape, 50);
          const dy = normal(x.length, 51);
          const { encoder, log } = recordingEncoder(device);
          const y = bn.forward(buffers.upload(x), shape, encoder);
          const { dx } = bn.backward(buffers.upload(dy), encoder);
          device.queue.submit([encoder.finish()]);
          const max = device.limits.maxComputeWorkgroupsPerDimension;
          check(log.dispatches.some(([, yDim]) => yDim > 1), `no dispatch was folded: ${JSON.stringify(log.dispatches)}`);
          check(log.dispatches.every((d) => d.every((v) => v <= max)), `a dimension exceeds ${max}: ${JSON.stringify(log.dispatches)}`);
          expectClose('y', await download(device, y, x.length), ref.forward(x, shape), Y_TOL);
          expectClose('dx', await download(device, dx, x.length), ref.backward(dy).dx, GRAD_TOL);
        }),
      );
    },
  };
}

const TUNINGS: [string, Tuning][] = [
  ['CPU_TUNING', CPU_TUNING],
  ['GPU_TUNING', GPU_TUNING],
  ['workgroups of 32, one item per thread', { workgroupSize: 32, targetWorkgroups: 4096, minItemsPerThread: 1, contiguousItems: false, serialMergePartials: 16, onePassElements: 1 << 18 }],
  ['workgroups of 128, contiguous runs of 3 items', { workgroupSize: 128, targetWorkgroups: 64, minItemsPerThread: 3, contiguousItems: true, serialMergePartials: 64, onePassElements: 1 << 18 }],
  ['workgroups of 2, more than 4 partials merged by a workgroup', { workgroupSize: 2, targetWorkgroups: 64, minItemsPerThread: 8, contiguousItems: true, serialMergePartials: 4, onePassElements: 1 << 18 }],
];

const tuningCases: Case[] = TUNINGS.flatMap(([label, tuning]) =>
  ([['NC', [300, 20]], ['NCHW', [4, 5, 16, 16]], ['NCL', [8, 3, 77]], ['NHWC', [2, 8, 8, 13]]] as [Layout, number[]][]).map(
    ([layout, shape]): Case => ({
      name: `results match the reference whatever the tuning (${label}): ${layout} [${shape}]`,
      run: async (device) => {
        const numFeatures = featuresOf(layout, shape);
        await using(new BatchNorm(device, { numFeatures, layout, tuning }), async (bn) => {
          const ref = new ReferenceBatchNorm({ numFeatures, layout });
          const x = activations(layout, shape, 60);
          const dy = normal(x.length, 61);
          expectClose('y', await bn.forwardArray(x, shape), ref.forward(x, shape), Y_TOL);
          const g = await bn.backwardArray(dy);
          const r = ref.backward(dy);
          expectClose('dx', g.dx, r.dx, GRAD_TOL);
          expectClose('dgamma', g.dgamma!, r.dgamma, GRAD_TOL);
        });
      },
    }),
  ),
);

const destroysOnlyItsOwn: Case = {
  name: "destroy() leaves the caller's device and buffers usable",
  run: async (device) => {
    await using(new TestBuffers(device), async (buffers) => {
      const x = normal(40, 70);
      const xb = buffers.upload(x);
      const bn = new BatchNorm(device, { numFeatures: 4, layout: 'NC' });
      bn.forward(xb, [10, 4]);
      bn.destroy();
      expectEqual('x after destroy()', await download(device, xb, 40), x);
      await using(new BatchNorm(device, { numFeatures: 4, layout: 'NC' }), (again) => again.forwardArray(x, [10, 4]));
    });
  },
};

export const apiCases: Case[] = [
  ...budgetCases,
  ...budgetBySize,
  steadyLoop,
  recordedSteps,
  forwardBackwardTogether,
  foldCase('NC', [4, 1 << 20]),
  foldCase('NCL', [4, 70_000, 16]),
  ...tuningCases,
  destroysOnlyItsOwn,
];
