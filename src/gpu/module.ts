// The skeleton every GPU module of the package is built on: its device and cached
// pipelines, the buffers it owns, a lifecycle (calls after destroy() throw), one
// plan per input shape, the guard against being handed a buffer it writes, and
// typed-array upload and readback.
import { OwnedBuffers } from './buffers.js';
import { fail } from './errors.js';
import { pipelinesFor, type DevicePipelines } from './pipelines.js';

/** What one input shape needs (uniforms, outputs, bind groups), built on first use and reused. */
export interface ModulePlan {
  /** Whether `buffer` is one of this plan's outputs. */
  writes(buffer: GPUBuffer): boolean;
  /** Destroys the buffers the plan created itself, if any. */
  destroy?(): void;
}

export abstract class GpuModule<Plan extends ModulePlan = ModulePlan> {
  protected readonly pipelines: DevicePipelines;
  /** Buffers shared by all shapes (parameters, gradients, uploads, readbacks). */
  protected readonly buffers: OwnedBuffers;
  private readonly plans = new Map<string, Plan>();
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    /** Names the module in labels and error messages. */
    readonly name: string,
  ) {
    this.pipelines = pipelinesFor(device);
    this.buffers = new OwnedBuffers(device, name);
  }

  protected assertAlive(call: string): void {
    if (this.destroyed) fail(`${this.name}: ${call} called after destroy()`);
  }

  /** The plan for a shape, made on first use. */
  protected planFor(shape: readonly number[], make: (label: string) => Plan): Plan {
    const key = shape.join('x');
    let plan = this.plans.get(key);
    if (!plan) this.plans.set(key, (plan = make(`${this.name} [${shape.join(',')}]`)));
    return plan;
  }

  /** Buffers every call may write, beside the plans' outputs (parameter gradients, for one). */
  protected sharedOutputs(): readonly (GPUBuffer | null | undefined)[] {
    return [];
  }

  /** Fails when `buffer`, an input of `call`, is one of the outputs this module writes. */
  protected checkNotOutput(name: string, buffer: GPUBuffer, call: string): void {
    const written = this.sharedOutputs().includes(buffer) || [...this.plans.values()].some((p) => p.writes(buffer));
    if (written) fail(`${this.name}: ${name} is a buffer this ${call} writes; copy it first`);
  }

  /** Writes data into buffers; callers check every value first, so a bad one leaves everything as it was. */
  protected writeAll(writes: readonly (readonly [GPUBuffer, ArrayBufferView<ArrayBuffer>])[]): void {
    for (const [buffer, data] of writes) this.device.queue.writeBuffer(buffer, 0, data);
  }

  /** Copies the buffers out, submits `encoder`, and resolves with their contents as f32. */
  protected readBack(encoder: GPUCommandEncoder, parts: { buffer: GPUBuffer; floats: number }[]): Promise<Float32Array[]> {
    return this.buffers.read(encoder, parts);
  }

  /** A new encoder labelled for one call of this module. */
  protected encoder(call: string): GPUCommandEncoder {
    return this.device.createCommandEncoder({ label: `${this.name} ${call}` });
  }

  /** Destroys the buffers this module created; never the device or the caller's buffers. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const plan of this.plans.values()) plan.destroy?.();
    this.plans.clear();
    this.buffers.destroy();
    this.released();
  }

  /** Drops what a subclass still references after destroy(). */
  protected released(): void {}
}
