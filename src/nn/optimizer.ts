// Optimizers that update parameter buffers in place on the GPU: SGD, Momentum,
// RMSprop and Adam, with PyTorch's update rules (shaders/nn/optimizer-update.wgsl).
// A step is one small dispatch that advances the step count on the GPU (for Adam's
// bias correction), then one dispatch per parameter, all in one compute pass.
import { simpleWorkgroupSize } from '../gpu/adapter.js';
import { KeyedCache } from '../gpu/cache.js';
import { checkBoolean, checkNumber, checkOptionNames, checkPositiveInteger } from '../gpu/checks.js';
import { dispatch, recordPass } from '../gpu/dispatch.js';
import { fail, show } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { packStruct } from '../gpu/wgsl.js';
import { nnStages, OPTIMIZER_KIND, SCHEDULE_BYTES, uniforms } from './stages.js';

export type OptimizerKind = keyof typeof OPTIMIZER_KIND;
export const OPTIMIZERS = Object.keys(OPTIMIZER_KIND) as OptimizerKind[];

/** A parameter an optimizer updates: its values and the gradient of the loss with respect to them. */
export interface Parameter {
  readonly name: string;
  /** f32 values, updated in place; STORAGE usage */
  readonly value: GPUBuffer;
  /** f32, as many as value; read when step() is recorded, so a getter may supply it after backward() */
  readonly grad: GPUBuffer | null;
  /** elements; default value.size / 4 */
  readonly size?: number;
}

export interface OptimizerOptions {
  learningRate?: number;
  /** Momentum's momentum, Adam's β1 */
  beta1?: number;
  /** RMSprop's decay (PyTorch's alpha, Keras's rho), Adam's β2 */
  beta2?: number;
  /** added to the root mean square in RMSprop and Adam */
  eps?: number;
  /** L2 penalty: the gradient gets weightDecay · p added, as PyTorch's weight_decay */
  weightDecay?: number;
  /** Momentum only: Nesterov's variant */
  nesterov?: boolean;
}

type Hyper = Required<Omit<OptimizerOptions, 'nesterov'>>;

/** Which options each optimizer takes, with their defaults (PyTorch's, and lr 0.01 for SGD as Keras). */
export const OPTIMIZER_DEFAULTS: Record<OptimizerKind, OptimizerOptions> = {
  sgd: { learningRate: 0.01, weightDecay: 0 },
  momentum: { learningRate: 0.01, beta1: 0.9, weightDecay: 0, nesterov: false },
  rmsprop: { learningRate: 0.01, beta2: 0.99, eps: 1e-8, weightDecay: 0 },
  adam: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
};

/** Other libraries' names for the options, for error messages. */
const ALIASES = { lr: 'learningRate', momentum: 'beta1', alpha: 'beta2', rho: 'beta2', epsilon: 'eps', weight_decay: 'weightDecay', weightdecay: 'weightDecay' };

/** The state buffers each kind keeps per parameter. */
const MOMENTS: Record<OptimizerKind, { moment1: boolean; moment2: boolean }> = {
  sgd: { moment1: false, moment2: false },
  momentum: { moment1: true, moment2: false },
  rmsprop: { moment1: false, moment2: true },
  adam: { moment1: true, moment2: true },
};

interface Slot {
  parameter: Parameter;
  size: number;
  moment1: GPUBuffer;
  moment2: GPUBuffer;
  /** bind groups by gradient buffer */
  groups: KeyedCache<GPUBindGroup>;
}

function checkHyper(kind: OptimizerKind, options: OptimizerOptions): { hyper: Hyper; nesterov: boolean } {
  if (!options || typeof options !== 'object') fail(`${kind} options must be an object, got ${show(options)}`);
  const defaults = OPTIMIZER_DEFAULTS[kind];
  checkOptionNames(kind, options, Object.keys(defaults), ALIASES);
  const o = { ...defaults, ...options };
  return {
    hyper: {
      learningRate: checkNumber('learningRate', o.learningRate, 0, Infinity),
      beta1: o.beta1 === undefined ? 0 : checkNumber('beta1', o.beta1, 0, 1, true),
      beta2: o.beta2 === undefined ? 0 : checkNumber('beta2', o.beta2, 0, 1, true),
      eps: o.eps === undefined ? 0 : checkNumber('eps', o.eps, 0, Infinity),
      weightDecay: checkNumber('weightDecay', o.weightDecay, 0, Infinity),
    },
    nesterov: checkBoolean('nesterov', o.nesterov ?? false),
  };
}

function checkParameters(parameters: unknown): { parameter: Parameter; size: number }[] {
  if (!parameters || typeof (parameters as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    fail(`parameters must be an array of { name, value, grad }, got ${show(parameters)}`);
  }
  const list = [...(parameters as Iterable<Parameter>)];
  if (list.length === 0) fail('parameters is empty: there is nothing to optimize');
  const names = new Set<string>();
  const values = new Set<GPUBuffer>();
  return list.map((p, i) => {
    if (!p || typeof p !== 'object' || typeof p.name !== 'string') fail(`parameters[${i}] must be an object { name, value, grad }, got ${show(p)}`);
    const v = p.value;
    if (!v || typeof v !== 'object' || typeof v.size !== 'number' || typeof v.usage !== 'number') fail(`parameter ${p.name}: value must be a GPUBuffer, got ${show(v)}`);
    if (!(v.usage & GPUBufferUsage.STORAGE)) fail(`parameter ${p.name}: value needs GPUBufferUsage.STORAGE (its usage is ${v.usage})`);
    const size = p.size ?? Math.floor(v.size / 4);
    checkPositiveInteger(`parameter ${p.name}: size`, size);
    if (size * 4 > v.size) fail(`parameter ${p.name}: size ${size} needs ${size * 4} bytes, but value has ${v.size}`);
    if (names.has(p.name)) fail(`parameter name ${p.name} appears twice`);
    if (values.has(v)) fail(`parameter ${p.name}: its value buffer is already in the list under another name`);
    names.add(p.name);
    values.add(v);
    return { parameter: p, size };
  });
}

/** optimizer-common's Hyper struct: the options, and 1 − β in double precision. */
const uniformValues = (hyper: Hyper) => ({ ...hyper, oneMinusBeta1: 1 - hyper.beta1, oneMinusBeta2: 1 - hyper.beta2 });

/** Updates its parameters in place on the GPU; see OPTIMIZER_DEFAULTS for each kind's options. */
export class Optimizer extends GpuModule {
  private hyper: Hyper;
  readonly nesterov: boolean;

  private readonly hyperBuffer: GPUBuffer;
  private readonly schedule: GPUBuffer;
  private readonly slots: Slot[];
  private readonly tickGroup: GPUBindGroup;
  private readonly workgroupSize: number;

  constructor(
    device: GPUDevice,
    readonly kind: OptimizerKind,
    parameters: Iterable<Parameter>,
    options: OptimizerOptions = {},
  ) {
    if (!OPTIMIZERS.includes(kind)) fail(`optimizer must be one of ${OPTIMIZERS.join(', ')}, got ${show(kind)}`);
    const { hyper, nesterov } = checkHyper(kind, options);
    const checked = checkParameters(parameters);
    super(device, `${kind} optimizer`);
    this.hyper = hyper;
    this.nesterov = nesterov;
    this.workgroupSize = simpleWorkgroupSize(device);
    this.hyperBuffer = this.buffers.uniform('hyper-parameters', uniforms.optimizer, uniformValues(hyper));
    this.schedule = this.buffers.create('schedule', SCHEDULE_BYTES, GPUBufferUsage.STORAGE); // zero: t = 0, no correction yet
    const kept = MOMENTS[kind];
    // a moment this kind does not keep is still bound: to a stand-in (one per binding, as both are writable)
    const standIn = {
      moment1: kept.moment1 ? null : this.buffers.create('unused moment1', 16, GPUBufferUsage.STORAGE),
      moment2: kept.moment2 ? null : this.buffers.create('unused moment2', 16, GPUBufferUsage.STORAGE),
    };
    this.slots = checked.map(({ parameter, size }) => ({
      parameter,
      size,
      // new buffers are zero: every moment starts at 0, as in PyTorch
      moment1: standIn.moment1 ?? this.buffers.create(`${parameter.name} moment1`, size * 4, GPUBufferUsage.STORAGE),
      moment2: standIn.moment2 ?? this.buffers.create(`${parameter.name} moment2`, size * 4, GPUBufferUsage.STORAGE),
      groups: new KeyedCache(),
    }));
    this.tickGroup = this.pipelines.bindGroup(nnStages.optimizerTick, `${kind} optimizer tick`, {
      hyper: { buffer: this.hyperBuffer }, schedule: { buffer: this.schedule },
    });
  }

  /** The current hyper-parameters. */
  get options(): OptimizerOptions {
    const keys = Object.keys(OPTIMIZER_DEFAULTS[this.kind]) as (keyof OptimizerOptions)[];
    const all = { ...this.hyper, nesterov: this.nesterov };
    return Object.fromEntries(keys.map((k) => [k, all[k]]));
  }

  get parameters(): Parameter[] {
    return this.slots.map((s) => s.parameter);
  }

  /**
   * Changes hyper-parameters (a learning-rate schedule, say). The new values apply
   * to every step submitted after this call, including steps already recorded into
   * an encoder that is not yet submitted.
   */
  setOptions(options: Omit<OptimizerOptions, 'nesterov'>): void {
    this.assertAlive('setOptions()');
    if (options && 'nesterov' in options) fail('setOptions(): nesterov is fixed when the optimizer is made');
    const { hyper } = checkHyper(this.kind, { ...this.options, ...options });
    this.hyper = hyper;
    this.device.queue.writeBuffer(this.hyperBuffer, 0, packStruct(uniforms.optimizer, uniformValues(hyper)));
  }

  /**
   * One update of every parameter from its current gradient. Recorded into
   * `encoder` when given (after the backward pass that makes the gradients), else
   * submitted at once. Every gradient is checked before anything is recorded.
   */
  step(encoder?: GPUCommandEncoder): void {
    this.assertAlive('step()');
    const grads = this.slots.map(({ parameter: p, size }) => {
      const g = p.grad ?? fail(`parameter ${p.name} has no gradient yet: run backward() before step()`);
      if (typeof g.size !== 'number' || typeof g.usage !== 'number') fail(`parameter ${p.name}: grad must be a GPUBuffer, got ${show(g)}`);
      if (g.size < size * 4) fail(`parameter ${p.name}: grad has ${g.size} bytes, but the parameter has ${size} f32 (${size * 4} bytes)`);
      if (!(g.usage & GPUBufferUsage.STORAGE)) fail(`parameter ${p.name}: grad needs GPUBufferUsage.STORAGE (its usage is ${g.usage})`);
      if (g === p.value) fail(`parameter ${p.name}: grad is its value buffer`);
      return g;
    });
    const update = this.pipelines.pipeline(nnStages.optimizerUpdate, 'main', {
      WG_SIZE: this.workgroupSize, KIND: OPTIMIZER_KIND[this.kind], NESTEROV: this.nesterov,
    });
    const groups = this.slots.map((slot, i) => this.bindGroup(slot, grads[i]));
    recordPass(this.device, encoder, `${this.kind} step`, (pass) => {
      dispatch(this.device, pass, this.pipelines.pipeline(nnStages.optimizerTick, 'main', {}), this.tickGroup, 1);
      this.slots.forEach((slot, i) => dispatch(this.device, pass, update, groups[i], Math.ceil(slot.size / this.workgroupSize)));
    });
  }

  private bindGroup(slot: Slot, grad: GPUBuffer): GPUBindGroup {
    const bytes = slot.size * 4;
    return slot.groups.get([grad], () =>
      this.pipelines.bindGroup(nnStages.optimizerUpdate, `${this.kind} update ${slot.parameter.name}`, {
        hyper: { buffer: this.hyperBuffer },
        schedule: { buffer: this.schedule },
        // the parameter's length is its binding's length (arrayLength in the kernel)
        param: { buffer: slot.parameter.value, size: bytes },
        grad: { buffer: grad, size: bytes },
        moment1: { buffer: slot.moment1 },
        moment2: { buffer: slot.moment2 },
      }),
    );
  }
}

/** p -= lr · g */
export class SGD extends Optimizer {
  constructor(device: GPUDevice, parameters: Iterable<Parameter>, options?: Pick<OptimizerOptions, 'learningRate' | 'weightDecay'>) {
    super(device, 'sgd', parameters, options);
  }
}

/** v = β1 · v + g; p -= lr · v (PyTorch's SGD with momentum; Nesterov optional) */
export class Momentum extends Optimizer {
  constructor(device: GPUDevice, parameters: Iterable<Parameter>, options?: Pick<OptimizerOptions, 'learningRate' | 'beta1' | 'weightDecay' | 'nesterov'>) {
    super(device, 'momentum', parameters, options);
  }
}

/** s = β2 · s + (1 − β2) · g²; p -= lr · g / (√s + ε) */
export class RMSprop extends Optimizer {
  constructor(device: GPUDevice, parameters: Iterable<Parameter>, options?: Pick<OptimizerOptions, 'learningRate' | 'beta2' | 'eps' | 'weightDecay'>) {
    super(device, 'rmsprop', parameters, options);
  }
}

/** Adam with bias correction */
export class Adam extends Optimizer {
  constructor(device: GPUDevice, parameters: Iterable<Parameter>, options?: Pick<OptimizerOptions, 'learningRate' | 'beta1' | 'beta2' | 'eps' | 'weightDecay'>) {
    super(device, 'adam', parameters, options);
  }
}

/** An optimizer by name: `{ type: 'adam', learningRate: 0.01 }`. */
export function createOptimizer(device: GPUDevice, parameters: Iterable<Parameter>, spec: { type: OptimizerKind } & OptimizerOptions): Optimizer {
  if (!spec || typeof spec !== 'object') fail(`optimizer must be an object { type, ...options }, got ${show(spec)}`);
  const { type, ...options } = spec;
  return new Optimizer(device, type, parameters, options);
}
