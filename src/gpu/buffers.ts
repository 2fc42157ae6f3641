// Buffers a module owns: labelled, destroyed together, uniforms packed from
// structs parsed out of WGSL, typed-array uploads and pooled readbacks (both
// bounded, so shapes that keep changing do not pile buffers up).
import { packStruct, type StructField } from './wgsl.js';

/** Usage of the buffers handed to callers: bindable, copyable. (A function: WebGPU's globals may load after this module.) */
export const outputUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Output buffers are whole vec4s, so the last partial vec4 can be written as one. */
export const paddedBytes = (elements: number) => Math.ceil(elements / 4) * 16;

/** Mappable buffers kept for reuse, across sizes: the most recently used. */
export const KEPT_READBACKS = 4;

/** Buffers one library object creates, labelled with its name; destroy() destroys exactly these. */
/** The largest minUniformBufferOffsetAlignment WebGPU allows: a uniform binding's offset that suits every device. */
const UNIFORM_ALIGNMENT = 256;

export class OwnedBuffers {
  private readonly made = new Set<GPUBuffer>();
  /** Free mappable buffers, least recently used first. */
  private readonly readbacks: GPUBuffer[] = [];
  private readonly uploads = new Map<string, { buffer: GPUBuffer; bytes: number }>();
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly label: string,
  ) {}

  create(name: string, size: number, usage: GPUBufferUsageFlags, data?: ArrayBufferView<ArrayBuffer> | ArrayBuffer): GPUBuffer {
    const buffer = this.device.createBuffer({ label: `${this.label} ${name}`, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    if (data) this.device.queue.writeBuffer(buffer, 0, data);
    this.made.add(buffer);
    return buffer;
  }

  /** Destroys one of these buffers now. */
  release(buffer: GPUBuffer): void {
    if (this.made.delete(buffer)) buffer.destroy();
  }

  /** A tensor of `elements` f32, padded to whole vec4s as the library's outputs are. */
  tensor(name: string, elements: number): GPUBuffer {
    return this.create(name, paddedBytes(elements), outputUsage());
  }

  /** A uniform buffer holding a struct parsed from WGSL. */
  uniform(name: string, fields: StructField[], values: Record<string, number>): GPUBuffer {
    return this.uniforms(name, fields, [values])[0].buffer;
  }

  /**
   * Values of one struct in one uniform buffer, the k-th at k * UNIFORM_ALIGNMENT
   * bytes: a binding of each (one buffer however many a caller needs).
   */
  uniforms(name: string, fields: StructField[], values: Record<string, number>[]): GPUBufferBinding[] {
    const packed = values.map((v) => packStruct(fields, v));
    const size = packed[0].byteLength;
    const bytes = new Uint8Array((packed.length - 1) * UNIFORM_ALIGNMENT + size);
    packed.forEach((p, k) => bytes.set(new Uint8Array(p), k * UNIFORM_ALIGNMENT));
    const buffer = this.create(name, bytes.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, bytes);
    return packed.map((_, k) => ({ buffer, offset: k * UNIFORM_ALIGNMENT, size }));
  }

  /**
   * Writes data into a buffer kept per name for the typed-array calls: one per
   * name, replaced (the old one destroyed) when the size changes.
   */
  upload(name: string, data: ArrayBufferView<ArrayBuffer>): GPUBuffer {
    let kept = this.uploads.get(name);
    if (kept?.bytes !== data.byteLength) {
      if (kept) this.release(kept.buffer);
      kept = { buffer: this.create(`${name} ${data.byteLength}-byte upload`, data.byteLength, outputUsage()), bytes: data.byteLength };
      this.uploads.set(name, kept);
    }
    this.device.queue.writeBuffer(kept.buffer, 0, data);
    return kept.buffer;
  }

  /**
   * Copies the given buffers into one mappable buffer, submits the encoder, and
   * returns their contents as f32. Mappable buffers come from a free list of the
   * KEPT_READBACKS most recently used, so a steady loop of reads creates none
   * after the first. Rejects (with the map's error) when the buffers are
   * destroyed or the device is lost while it waits.
   */
  async read(encoder: GPUCommandEncoder, parts: { buffer: GPUBuffer; floats: number }[]): Promise<Float32Array[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const p of parts) {
      offsets.push(total);
      total += paddedBytes(p.floats);
    }
    const at = this.readbacks.findIndex((b) => b.size === total);
    const readback = at >= 0 ? this.readbacks.splice(at, 1)[0] : this.create(`readback ${total}`, total, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    parts.forEach((p, i) => encoder.copyBufferToBuffer(p.buffer, 0, readback, offsets[i], p.floats * 4));
    this.device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ, 0, total);
    const bytes = readback.getMappedRange(0, total);
    const out = parts.map((p, i) => new Float32Array(bytes.slice(offsets[i], offsets[i] + p.floats * 4)));
    readback.unmap();
    if (this.destroyed) return out;
    this.readbacks.push(readback);
    if (this.readbacks.length > KEPT_READBACKS) this.release(this.readbacks.shift()!);
    return out;
  }

  destroy(): void {
    for (const b of this.made) b.destroy();
    this.made.clear();
    this.readbacks.length = 0;
    this.uploads.clear();
    this.destroyed = true;
  }
}
