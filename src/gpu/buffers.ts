// Buffers a module owns: labelled, destroyed together, uniforms packed from
// structs parsed out of WGSL, typed-array uploads and pooled readbacks.
import { packStruct, type StructField } from './wgsl.js';

/** Usage of the buffers handed to callers: bindable, copyable. (A function: WebGPU's globals may load after this module.) */
export const outputUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Output buffers are whole vec4s, so the last partial vec4 can be written as one. */
export const paddedBytes = (elements: number) => Math.ceil(elements / 4) * 16;

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
