// The skeleton every GPU module of the package is built on: its device and cached
// pipelines, the buffers it owns, a lifecycle (calls after destroy() or a device
// loss throw), one plan per input shape (the PLANS_KEPT most recently used ones),
// the guard against being handed a buffer it writes, and typed-array upload and
// readback with the GPU's errors turned into rejections.
import { OwnedBuffers } from './buffers.js';
import { BatchNormError, fail } from './errors.js';
import { lostReason, settleLoss, watchDevice } from './lost.js';
import { pipelinesFor, type DevicePipelines } from './pipelines.js';

/** What one input shape needs (uniforms, outputs, bind groups), built on first use and reused. */
export interface ModulePlan {
  /** Whether `buffer` is one of this plan's outputs. */
  writes(buffer: GPUBuffer): boolean;
  /** Destroys the buffers the plan created itself. */
  destroy(): void;
}

/**
 * Plans a module keeps: past it, the least recently used one that `pinned()` does not
 * name is destroyed with its buffers, its outputs too (the documented reason not to
 * record more shapes than this into one encoder before submitting it).
 */
export const PLANS_KEPT = 8;

export abstract class GpuModule<Plan extends ModulePlan = ModulePlan> {
  protected readonly pipelines: DevicePipelines;
  /** Buffers shared by all shapes (parameters, gradients, uploads, readbacks). */
  protected readonly buffers: OwnedBuffers;
  /** Plans by shape, least recently used first. */
  private readonly plans = new Map<string, Plan>();
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    /** Names the module in labels and error messages. */
    readonly name: string,
  ) {
    watchDevice(device);
    const lost = lostReason(device);
    if (lost) fail(`${name}: cannot be created: the GPU device was lost (${lost})`);
    this.pipelines = pipelinesFor(device);
    this.buffers = new OwnedBuffers(device, name);
  }

  protected assertAlive(call: string): void {
    if (this.destroyed) fail(`${this.name}: ${call} called after destroy()`);
    const lost = lostReason(this.device);
    if (lost) fail(`${this.name}: ${call}: the GPU device was lost (${lost})`);
  }

  /** Plans that must not be evicted (the one a later backward needs). */
  protected pinned(): readonly (Plan | undefined)[] {
    return [];
  }

  /** The plan for a shape, made on first use; the least recently used beyond PLANS_KEPT is destroyed. */
  protected planFor(shape: readonly number[], make: (label: string) => Plan): Plan {
    const key = shape.join('x');
    let plan = this.plans.get(key);
    if (plan) {
      this.plans.delete(key); // re-inserted below: most recently used last
    } else {
      plan = make(`${this.name} [${shape.join(',')}]`);
      const keep = this.pinned();
      for (const [k, p] of this.plans) {
        if (this.plans.size < PLANS_KEPT) break;
        if (keep.includes(p)) continue;
        this.plans.delete(k);
        p.destroy();
      }
    }
    this.plans.set(key, plan);
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

  /**
   * Runs a typed-array call whose GPU work `work` records and submits before its
   * first await, inside validation and out-of-memory error scopes: a GPU error
   * rejects with a BatchNormError carrying the GPU's message (and `undo` runs), a
   * destroy() or device loss while it waits rejects with one saying so.
   */
  protected async guarded<T>(call: string, work: () => Promise<T>, undo?: () => void): Promise<T> {
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let pending: Promise<T>;
    try {
      pending = work();
    } catch (e) {
      pending = Promise.reject(e);
    }
    // popped before any await, so concurrent calls' scopes nest properly
    const scopes = [device.popErrorScope(), device.popErrorScope()].map((p) => p.catch(() => null));
    const settled = await Promise.allSettled([pending]);
    const errors = (await Promise.all(scopes)).filter((e): e is GPUError => e !== null);
    if (errors.length) {
      undo?.();
      fail(`${this.name}: ${call} failed on the GPU: ${errors.map((e) => e.message.trim()).join('; ')}`);
    }
    const [result] = settled;
    if (result.status === 'fulfilled') return result.value;
    if (result.reason instanceof BatchNormError) throw result.reason;
    undo?.();
    if (this.destroyed) fail(`${this.name}: ${call} was pending when destroy() was called`);
    const lost = await settleLoss(device);
    if (lost) fail(`${this.name}: ${call}: the GPU device was lost (${lost})`);
    const reason = result.reason as Error | undefined;
    return fail(`${this.name}: ${call} failed: ${reason?.name ?? 'Error'}${reason?.message ? `: ${reason.message}` : ''}`);
  }

  /** A new encoder labelled for one call of this module. */
  protected encoder(call: string): GPUCommandEncoder {
    return this.device.createCommandEncoder({ label: `${this.name} ${call}` });
  }

  /** Destroys the buffers this module created; never the device or the caller's buffers. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const plan of this.plans.values()) plan.destroy();
    this.plans.clear();
    this.buffers.destroy();
    this.released();
  }

  /** Drops what a subclass still references after destroy(). */
  protected released(): void {}
}
