// GPU plumbing shared by the training modules: labelled buffers owned by one
// object and destroyed together, uniform packing, recording into the caller's
// encoder or submitting at once, 2D-folded dispatches, and pooled readbacks.
import { packStruct, type StructField } from './wgsl.js';

/** Usage of the buffers handed to callers: bindable, copyable. (A function: WebGPU's globals may load after this module.) */
export const outputUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Output buffers are whole vec4s, so the last partial vec4 can be written as one. */
export const paddedBytes = (elements: number) => Math.ceil(elements / 4) * 16;

/** Workgroup counts past the per-dimension limit fold into a 2D grid. */
export function dispatchSize(workgroups: number, maxPerDimension: number): [number, number] {
  const y = Math.ceil(workgroups / maxPerDimension);
  return [Math.ceil(workgroups / y), y];
}

/** Buffers one library object creates, labelled with its name; destroy() destroys exactly these. */
export class OwnedBuffers {
  private readonly made: GPUBuffer[] = [];
  private readonly readbacks = new Map<number, GPUBuffer[]>();
  private readonly uploads = new Map<string, GPUBuffer>();

  constructor(
    readonly device: GPUDevice,
    readonly label: string,
  ) {}

  create(name: string, size: number, usage: GPUBufferUsageFlags, data?: ArrayBufferView<ArrayBuffer> | ArrayBuffer): GPUBuffer {
    const buffer = this.device.createBuffer({ label: `${this.label} ${name}`, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    if (data) this.device.queue.writeBuffer(buffer, 0, data);
    this.made.push(buffer);
    return buffer;
  }

  /** A tensor of `elements` f32, padded to whole vec4s as the library's outputs are. */
  tensor(name: string, elements: number): GPUBuffer {
    return this.create(name, paddedBytes(elements), outputUsage());
  }

  /** A uniform buffer holding a struct parsed from WGSL. */
  uniform(name: string, fields: StructField[], values: Record<string, number>): GPUBuffer {
    const bytes = packStruct(fields, values);
    return this.create(name, bytes.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, bytes);
  }

  /** Writes data into a buffer kept per name and size for the typed-array calls, created on first use. */
  upload(name: string, data: ArrayBufferView<ArrayBuffer>): GPUBuffer {
    const key = `${name} ${data.byteLength}`;
    let buffer = this.uploads.get(key);
    if (!buffer) this.uploads.set(key, (buffer = this.create(`${key}-byte upload`, data.byteLength, outputUsage())));
    this.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  /**
   * Copies the given buffers into one mappable buffer, submits the encoder, and
   * returns their contents as f32. Mappable buffers come from a free list, so a
   * steady loop of reads creates none after the first.
   */
  async read(encoder: GPUCommandEncoder, parts: { buffer: GPUBuffer; floats: number }[]): Promise<Float32Array[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const p of parts) {
      offsets.push(total);
      total += paddedBytes(p.floats);
    }
    let free = this.readbacks.get(total);
    if (!free) this.readbacks.set(total, (free = []));
    const readback = free.pop() ?? this.create(`readback ${total}`, total, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    parts.forEach((p, i) => encoder.copyBufferToBuffer(p.buffer, 0, readback, offsets[i], p.floats * 4));
    this.device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ, 0, total);
    const bytes = readback.getMappedRange(0, total);
    const out = parts.map((p, i) => new Float32Array(bytes.slice(offsets[i], offsets[i] + p.floats * 4)));
    readback.unmap();
    free.push(readback);
    return out;
  }

  destroy(): void {
    for (const b of this.made) b.destroy();
    this.made.length = 0;
    this.readbacks.clear();
    this.uploads.clear();
  }
}

/** Records one compute pass into `encoder`, or into a new encoder submitted at once when none is given. */
export function recordPass(
  device: GPUDevice,
  encoder: GPUCommandEncoder | undefined,
  label: string,
  record: (pass: GPUComputePassEncoder) => void,
): void {
  const enc = encoder ?? device.createCommandEncoder({ label });
  const pass = enc.beginComputePass({ label });
  record(pass);
  pass.end();
  if (!encoder) device.queue.submit([enc.finish()]);
}

/** One dispatch of `workgroups` workgroups, folded into 2D past the device's per-dimension limit. */
export function dispatch(
  device: GPUDevice,
  pass: GPUComputePassEncoder,
  pipeline: GPUComputePipeline,
  group: GPUBindGroup,
  workgroups: number,
): void {
  const [x, y] = dispatchSize(workgroups, device.limits.maxComputeWorkgroupsPerDimension);
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, y);
}

interface CacheNode<V> {
  next: WeakMap<object, CacheNode<V>>;
  value?: V;
}

/**
 * Values (bind groups) keyed by a tuple of objects (the buffers bound), built on
 * first use and held weakly: a steady loop over the same buffers builds nothing.
 */
export class KeyedCache<V> {
  private readonly root: CacheNode<V> = { next: new WeakMap() };

  get(keys: readonly object[], make: () => V): V {
    let node = this.root;
    for (const key of keys) {
      let child = node.next.get(key);
      if (!child) node.next.set(key, (child = { next: new WeakMap() }));
      node = child;
    }
    node.value ??= make();
    return node.value;
  }
}
