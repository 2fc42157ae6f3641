// Elementwise activations ReLU, sigmoid and tanh on GPU buffers of any shape, with
// their backward passes (shaders/nn/activation.wgsl). The backward pass uses the
// forward's output y, which this layer owns, so the caller's x may change after forward().
import { simpleWorkgroupSize } from '../gpu/adapter.js';
import { OwnedBuffers } from '../gpu/buffers.js';
import { KeyedCache } from '../gpu/cache.js';
import { checkArray, checkFloats } from '../gpu/checks.js';
import { dispatch, recordPass } from '../gpu/dispatch.js';
import { fail, show } from '../gpu/errors.js';
import { GpuModule } from '../gpu/module.js';
import { ACTIVATION_KIND, nnStages, uniforms } from './stages.js';
import { checkAnyShape } from './validate.js';

export type ActivationKind = keyof typeof ACTIVATION_KIND;
export const ACTIVATIONS = Object.keys(ACTIVATION_KIND) as ActivationKind[];

/** Uniform, outputs and bind groups for one element count; its buffers are its own. */
interface ActivationPlan {
  size: number;
  owned: OwnedBuffers;
  params: GPUBuffer;
  y: GPUBuffer;
  /** created with the first backward() */
  dx?: GPUBuffer;
  forward: KeyedCache<GPUBindGroup>;
  backward: KeyedCache<GPUBindGroup>;
  writes(buffer: GPUBuffer): boolean;
  destroy(): void;
}

export class Activation extends GpuModule<ActivationPlan> {
  /** No effect on an activation; kept so that every layer can be switched by a model's train() and eval(). */
  training = true;
  readonly parameters = null;
  /** Any number of features in: it keeps what it gets. */
  readonly features = { in: null, out: null };

  private readonly workgroupSize: number;
  private last?: ActivationPlan;

  constructor(
    device: GPUDevice,
    readonly kind: ActivationKind,
  ) {
    if (!ACTIVATIONS.includes(kind)) fail(`activation must be one of ${ACTIVATIONS.join(', ')}, got ${show(kind)}`);
    super(device, kind);
    this.workgroupSize = simpleWorkgroupSize(device);
  }

  parameterList(): { name: string; value: GPUBuffer; size: number }[] {
    return [];
  }

  async copyForInference(): Promise<Activation> {
    this.assertAlive('copyForInference()');
    return new Activation(this.device, this.kind);
  }

  private plan(size: number): ActivationPlan {
    return this.planFor([size], (label) => {
      const owned = new OwnedBuffers(this.device, label);
      const plan: ActivationPlan = {
        size,
        owned,
        params: owned.uniform('params', uniforms.activation, { size }),
        y: owned.tensor('y', size),
        forward: new KeyedCache(),
        backward: new KeyedCache(),
        writes: (buffer) => buffer === plan.y || buffer === plan.dx,
        destroy: () => owned.destroy(),
      };
      return plan;
    });
  }

  private record(encoder: GPUCommandEncoder | undefined, label: string, grad: boolean, plan: ActivationPlan, group: GPUBindGroup) {
    const pipeline = this.pipelines.pipeline(nnStages.activation, 'main', { WG_SIZE: this.workgroupSize, KIND: ACTIVATION_KIND[this.kind], GRAD: grad });
    recordPass(this.device, encoder, `${this.name} ${label}`, (pass) =>
      dispatch(this.device, pass, pipeline, group, Math.ceil(plan.size / this.workgroupSize)),
    );
  }

  /** y = f(x), elementwise over a GPU buffer of f32 of any shape. */
  forward(x: GPUBuffer, shape: readonly number[], encoder?: GPUCommandEncoder): GPUBuffer {
    this.assertAlive('forward()');
    const size = checkAnyShape(shape, this.device.limits);
    checkFloats('x', x, size);
    this.checkNotOutput('x', x, 'layer');
    const plan = this.plan(size);
    const group = plan.forward.get([x], () =>
      this.pipelines.bindGroup(nnStages.activation, `${this.name} [${size}] forward`, {
        params: { buffer: plan.params }, input: { buffer: x }, dy: { buffer: x }, output: { buffer: plan.y }, // dy is read only when GRAD
      }),
    );
    this.record(encoder, 'forward', false, plan, group);
    this.last = plan;
    return plan.y;
  }

  /** dx = dy · f'(x) for the last forward(). */
  backward(dy: GPUBuffer, encoder?: GPUCommandEncoder): { dx: GPUBuffer } {
    this.assertAlive('backward()');
    const plan = this.last ?? fail(`${this.name}: backward() called before any forward()`);
    checkFloats('dy', dy, plan.size);
    this.checkNotOutput('dy', dy, 'layer');
    const dx = (plan.dx ??= plan.owned.tensor('dx', plan.size));
    const group = plan.backward.get([dy], () =>
      this.pipelines.bindGroup(nnStages.activation, `${this.name} [${plan.size}] backward`, {
        params: { buffer: plan.params }, input: { buffer: plan.y }, dy: { buffer: dy }, output: { buffer: dx },
      }),
    );
    this.record(encoder, 'backward', true, plan, group);
    return { dx };
  }

  /** forward() on a typed array: uploads x, runs, and reads y back. */
  async forwardArray(x: Float32Array, shape: readonly number[]): Promise<Float32Array> {
    this.assertAlive('forwardArray()');
    const size = checkAnyShape(shape, this.device.limits);
    const encoder = this.encoder('forwardArray');
    const y = this.forward(this.buffers.upload('x', checkArray('x', x, size)), shape, encoder);
    const [out] = await this.readBack(encoder, [{ buffer: y, floats: size }]);
    return out;
  }

  /** backward() on a typed array, for the last forward() or forwardArray(). */
  async backwardArray(dy: Float32Array): Promise<{ dx: Float32Array }> {
    this.assertAlive('backwardArray()');
    const { size } = this.last ?? fail(`${this.name}: backwardArray() called before any forward()`);
    const encoder = this.encoder('backwardArray');
    const { dx } = this.backward(this.buffers.upload('dy', checkArray('dy', dy, size)), encoder);
    const [out] = await this.readBack(encoder, [{ buffer: dx, floats: size }]);
    return { dx: out };
  }

  protected override released(): void {
    this.last = undefined;
  }
}

/** max(x, 0) */
export class ReLU extends Activation {
  constructor(device: GPUDevice) {
    super(device, 'relu');
  }
}

/** 1 / (1 + e^-x) */
export class Sigmoid extends Activation {
  constructor(device: GPUDevice) {
    super(device, 'sigmoid');
  }
}

/** tanh(x) */
export class Tanh extends Activation {
  constructor(device: GPUDevice) {
    super(device, 'tanh');
  }
}
