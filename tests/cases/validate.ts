// Bad input: a BatchNormError naming the bad value, thrown before any GPU work,
// with nothing changed (gamma, beta, running statistics, and the forward that a
// following backward() uses).
import { BatchNorm, type BatchNormState } from '../../src/index.js';
import { check, expectEqual, expectError } from '../../support/compare.js';
import { normal } from '../../support/data.js';
import { TestBuffers } from '../support/gpu.js';
import { using, type Case } from './case.js';

type Options = ConstructorParameters<typeof BatchNorm>[1];

const constructorErrors: [string, Options, RegExp][] = [
  ['numFeatures 0', { numFeatures: 0, layout: 'NC' }, /numFeatures must be a positive integer, got 0/],
  ['numFeatures -3', { numFeatures: -3, layout: 'NC' }, /numFeatures must be a positive integer, got -3/],
  ['numFeatures 2.5', { numFeatures: 2.5, layout: 'NC' }, /numFeatures must be a positive integer, got 2\.5/],
  ['numFeatures "4"', { numFeatures: '4' as unknown as number, layout: 'NC' }, /numFeatures must be a positive integer, got "4"/],
  ['layout "NHW"', { numFeatures: 4, layout: 'NHW' as 'NC' }, /layout must be one of NC, NCL, NCHW, NHWC, NCDHW, NDHWC, got "NHW"/],
  ['eps -1e-5', { numFeatures: 4, layout: 'NC', eps: -1e-5 }, /eps must be a finite number >= 0, got -0\.00001/],
  ['eps NaN', { numFeatures: 4, layout: 'NC', eps: NaN }, /eps must be a finite number >= 0, got NaN/],
  ['eps Infinity', { numFeatures: 4, layout: 'NC', eps: Infinity }, /eps must be a finite number >= 0, got Infinity/],
  ['momentum -0.1', { numFeatures: 4, layout: 'NC', momentum: -0.1 }, /momentum must be a number in \[0, 1\] or null, got -0\.1/],
  ['momentum 1.5', { numFeatures: 4, layout: 'NC', momentum: 1.5 }, /momentum must be a number in \[0, 1\] or null, got 1\.5/],
  ['momentum NaN', { numFeatures: 4, layout: 'NC', momentum: NaN }, /momentum must be a number in \[0, 1\] or null, got NaN/],
  ['affine "yes"', { numFeatures: 4, layout: 'NC', affine: 'yes' as unknown as boolean }, /affine must be a boolean, got "yes"/],
  ['unbiasedRunningVar 1', { numFeatures: 4, layout: 'NC', unbiasedRunningVar: 1 as unknown as boolean }, /unbiasedRunningVar must be a boolean, got 1/],
  ['tuning.workgroupSize 48', { numFeatures: 4, layout: 'NC', tuning: { workgroupSize: 48 } }, /tuning\.workgroupSize must be a power of 2 from 1 to 256, got 48/],
  ['tuning.workgroupSize 512', { numFeatures: 4, layout: 'NC', tuning: { workgroupSize: 512 } }, /tuning\.workgroupSize must be a power of 2 from 1 to 256, got 512/],
  ['tuning.serialMergePartials -1', { numFeatures: 4, layout: 'NC', tuning: { serialMergePartials: -1 } }, /tuning\.serialMergePartials must be an integer in \[0, 2\^32 - 1\], got -1/],
  ['a misspelt option momentun', { numFeatures: 4, layout: 'NC', momentun: 0.2 } as Options, /BatchNorm: unknown option momentun; the options are numFeatures, layout, axis, eps, momentum/],
  ["PyTorch's option name num_features", { num_features: 4, layout: 'NC' } as unknown as Options, /unknown option num_features \(did you mean numFeatures\?\)/],
  ['a misspelt tuning option', { numFeatures: 4, layout: 'NC', tuning: { workgroupSzie: 32 } } as unknown as Options, /BatchNorm tuning: unknown option workgroupSzie/],
  ['both layout and axis', { numFeatures: 4, layout: 'NC', axis: -1 }, /give layout or axis, not both \(got layout "NC" and axis -1\)/],
  ['axis 1.5', { numFeatures: 4, axis: 1.5 }, /axis must be an integer \(negative counts from the end\), got 1\.5/],
  ['neither layout nor axis', { numFeatures: 4 }, /layout must be one of NC, NCL, NCHW, NHWC, NCDHW, NDHWC, got undefined/],
  ['options that are not an object', 'NC' as unknown as Options, /BatchNorm: options must be an object with numFeatures and layout, got "NC"/],
];

const constructorCases: Case[] = [
  ...constructorErrors.map(([what, options, pattern]): Case => ({
    name: `new BatchNorm with ${what} throws`,
    run: (device) => expectError(() => new BatchNorm(device, options), pattern),
  })),
  {
    name: 'eps = 0 and momentum 0, 1 and null are accepted (as in PyTorch)',
    run: async (device) => {
      for (const options of [{ eps: 0 }, { momentum: 0 }, { momentum: 1 }, { momentum: null }]) {
        new BatchNorm(device, { numFeatures: 2, layout: 'NC', ...options }).destroy();
      }
    },
  },
];

/** A BatchNorm after one training forward (so running statistics and the last forward exist). */
async function trained(device: GPUDevice, options: Partial<Options> = {}) {
  const bn = new BatchNorm(device, { numFeatures: 3, layout: 'NCHW', ...options });
  const shape = [2, 3, 4, 5];
  const x = normal(120, 61, 2, 3);
  const dy = normal(120, 62);
  if (bn.affine) bn.setState({ gamma: normal(3, 63, 1, 0.3), beta: normal(3, 64) });
  await bn.forwardArray(x, shape);
  return { bn, shape, dy };
}

function expectSameState(got: BatchNormState, expected: BatchNormState) {
  for (const k of ['gamma', 'beta', 'runningMean', 'runningVar'] as const) {
    if (expected[k] === null) check(got[k] === null, `${k} should be null`);
    else expectEqual(k, got[k]!, expected[k]!);
  }
  check(got.numBatchesTracked === expected.numBatchesTracked, `numBatchesTracked ${got.numBatchesTracked}, expected ${expected.numBatchesTracked}`);
}

interface Bad<T> {
  options?: Partial<Options>;
  /** Good calls that make what the bad call needs (their effects are part of the state compared). */
  setup?: (bn: BatchNorm<boolean>, scope: TestBuffers) => T;
  call: (bn: BatchNorm<boolean>, scope: TestBuffers, made: T) => unknown;
}

/** Runs a bad call on a trained BatchNorm and checks the error, and that the state and the last forward are unchanged. */
function rejects<T>(what: string, pattern: RegExp, bad: Bad<T>): Case {
  return {
    name: `${what} throws and changes nothing`,
    run: async (device) => {
      const t = await trained(device, bad.options);
      await using(new TestBuffers(device), (scope) =>
        using(t.bn, async (bn) => {
          const made = bad.setup?.(bn, scope) as T;
          const state = await bn.getState();
          const grads = await bn.backwardArray(t.dy);
          await expectError(() => bad.call(bn, scope, made), pattern);
          expectSameState(await bn.getState(), state);
          const again = await bn.backwardArray(t.dy); // still the gradients of the last good forward
          expectEqual('dx of the last good forward', again.dx, grads.dx);
        }),
      );
    },
  };
}

const SHAPE = [2, 3, 4, 5];

const callCases: Case[] = [
  rejects('forward with rank 3 for NCHW', /shape \[2, 3, 20\] has rank 3, but layout NCHW needs rank 4/, {
    call: (bn, s) => bn.forward(s.buffer(480), [2, 3, 20]),
  }),
  rejects('forward with rank 2 for axis -3', /shape \[6, 3\] has rank 2, but axis -3 needs rank 3 or more/, {
    options: { layout: undefined, axis: -3 },
    call: (bn, s) => bn.forward(s.buffer(72), [6, 3]),
  }),
  rejects('forward with 5 features on axis -3 for numFeatures 3', /shape \[2, 5, 4, 5\] has 5 features \(dimension 1\), but numFeatures is 3/, {
    options: { layout: undefined, axis: -3 },
    call: (bn, s) => bn.forward(s.buffer(800), [2, 5, 4, 5]),
  }),
  rejects('forward with 4 features for numFeatures 3', /shape \[2, 4, 4, 5\] has 4 features \(dimension 1 of NCHW\), but numFeatures is 3/, {
    call: (bn, s) => bn.forward(s.buffer(640), [2, 4, 4, 5]),
  }),
  rejects('forward with a zero dimension', /dimension 2 must be a positive integer, got 0/, {
    call: (bn, s) => bn.forward(s.buffer(16), [2, 3, 0, 5]),
  }),
  rejects('forward with a negative dimension', /dimension 0 must be a positive integer, got -2/, {
    call: (bn, s) => bn.forward(s.buffer(16), [-2, 3, 4, 5]),
  }),
  rejects('forward with a fractional dimension', /dimension 3 must be a positive integer, got 2\.5/, {
    call: (bn, s) => bn.forward(s.buffer(16), [2, 3, 4, 2.5]),
  }),
  rejects('forward with a shape that is not an array', /shape must be an array of 4 dimensions for layout NCHW, got 120/, {
    call: (bn, s) => bn.forward(s.buffer(480), 120 as unknown as number[]),
  }),
  rejects('forward with a buffer of the wrong size', /x has 400 bytes, but the shape has 120 f32 elements \(480 bytes\)/, {
    call: (bn, s) => bn.forward(s.buffer(400), SHAPE),
  }),
  rejects('forward with a buffer lacking STORAGE usage', /x needs GPUBufferUsage\.STORAGE/, {
    call: (bn, s) => bn.forward(s.buffer(480, GPUBufferUsage.COPY_DST), SHAPE),
  }),
  rejects('forward with something that is not a buffer', /x must be a GPUBuffer, got Float32Array\(120\)/, {
    call: (bn) => bn.forward(new Float32Array(120) as unknown as GPUBuffer, SHAPE),
  }),
  rejects('forward of its own y buffer', /x is a buffer this forward\(\) writes/, {
    setup: (bn, s) => bn.forward(s.buffer(480), SHAPE),
    call: (bn, _s, y) => bn.forward(y, SHAPE),
  }),
  rejects('training with one value per feature', /Expected more than 1 value per channel when training, got input size \[1, 3, 1, 1\]/, {
    call: (bn) => bn.forwardArray(normal(3, 1), [1, 3, 1, 1]),
  }),
  rejects('eval with one value per feature and trackRunningStats: false', /Expected more than 1 value per channel when training/, {
    options: { trackRunningStats: false },
    setup: (bn) => (bn.training = false), // without running statistics, eval uses batch statistics too
    call: (bn) => bn.forwardArray(normal(3, 1), [1, 3, 1, 1]),
  }),
  rejects('a tensor past the storage-binding limit', /needs \d+ bytes, more than this device's (maxStorageBufferBindingSize|maxBufferSize) of \d+ bytes/, {
    call: (bn, s) => bn.forwardArray(new Float32Array(4), [Math.floor(s.device.limits.maxStorageBufferBindingSize / 12) + 1, 3, 1, 1]),
  }),
  rejects('forwardArray with the wrong length', /x has 119 elements, but 120 are expected/, {
    call: (bn) => bn.forwardArray(normal(119, 1), SHAPE),
  }),
  rejects('forwardArray with a Float64Array', /x must be a Float32Array, got Float64Array\(120\)/, {
    call: (bn) => bn.forwardArray(new Float64Array(120) as unknown as Float32Array, SHAPE),
  }),
  rejects('backwardArray with the wrong length', /dy has 60 elements, but 120 are expected/, {
    call: (bn) => bn.backwardArray(normal(60, 1)),
  }),
  rejects('backward with a buffer of the wrong size', /dy has 240 bytes, but the shape has 120 f32 elements/, {
    call: (bn, s) => bn.backward(s.buffer(240)),
  }),
  rejects('backward of its own dx buffer', /dy is a buffer this backward\(\) writes/, {
    setup: (bn, s) => bn.backward(s.buffer(480)).dx,
    call: (bn, _s, dx) => bn.backward(dx),
  }),
  rejects('setState with gamma of the wrong length', /gamma has 4 elements, but 3 are expected/, {
    call: (bn) => bn.setState({ gamma: new Float32Array(4).fill(2) }),
  }),
  rejects('setState with a bad field after a good one (nothing is written)', /runningVar must be a Float32Array/, {
    call: (bn) => bn.setState({ gamma: new Float32Array(3).fill(2), runningVar: [1, 2, 3] as unknown as Float32Array }),
  }),
  rejects('setState with numBatchesTracked -1', /numBatchesTracked must be an integer in \[0, 2\^32 - 1\], got -1/, {
    call: (bn) => bn.setState({ numBatchesTracked: -1 }),
  }),
  rejects('setState with numBatchesTracked 1.5', /numBatchesTracked must be an integer in \[0, 2\^32 - 1\], got 1\.5/, {
    call: (bn) => bn.setState({ numBatchesTracked: 1.5 }),
  }),
  rejects('setState with an unknown field', /setState\(\): unknown field mean; expected gamma, beta, runningMean, runningVar, numBatchesTracked/, {
    call: (bn) => bn.setState({ mean: new Float32Array(3) } as unknown as BatchNormState),
  }),
  rejects('setState of gamma when affine is false', /setState\(\): gamma is not kept when affine is false/, {
    options: { affine: false },
    call: (bn) => bn.setState({ gamma: new Float32Array(3).fill(2) }),
  }),
  rejects('setState of runningMean when trackRunningStats is false', /setState\(\): runningMean is not kept when trackRunningStats is false/, {
    options: { trackRunningStats: false },
    call: (bn) => bn.setState({ runningMean: new Float32Array(3) }),
  }),
];

const lifecycleCases: Case[] = [
  {
    name: 'backward before any forward throws',
    run: async (device) => {
      await using(new BatchNorm(device, { numFeatures: 2, layout: 'NC' }), async (bn) => {
        await expectError(() => bn.backwardArray(normal(8, 1)), /backwardArray\(\) called before any forward\(\)/);
        await using(new TestBuffers(device), (s) => expectError(() => bn.backward(s.buffer(32)), /backward\(\) called before any forward\(\)/));
      });
    },
  },
  {
    name: 'every call after destroy() throws',
    run: async (device) => {
      const bn = new BatchNorm(device, { numFeatures: 2, layout: 'NC' });
      await bn.forwardArray(normal(8, 1), [4, 2]);
      bn.destroy();
      bn.destroy(); // a second destroy is harmless
      const x = normal(8, 2);
      await expectError(() => bn.forwardArray(x, [4, 2]), /forwardArray\(\) called after destroy\(\)/);
      await using(new TestBuffers(device), (s) => expectError(() => bn.forward(s.buffer(32), [4, 2]), /forward\(\) called after destroy\(\)/));
      await expectError(() => bn.backwardArray(x), /backwardArray\(\) called after destroy\(\)/);
      await expectError(() => bn.getState(), /getState\(\) called after destroy\(\)/);
      await expectError(() => bn.setState({ numBatchesTracked: 1 }), /setState\(\) called after destroy\(\)/);
      await expectError(() => bn.parameters, /parameters called after destroy\(\)/);
    },
  },
];

export const validationCases: Case[] = [...constructorCases, ...callCases, ...lifecycleCases];
