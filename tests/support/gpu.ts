// GPU helpers for the shared cases: buffers a case owns, readback, and counting
// what the library creates and submits. They work in Node and in the browser.

/** GPU buffers a case makes, destroyed when it ends. */
export class TestBuffers {
  private readonly made: GPUBuffer[] = [];
  constructor(readonly device: GPUDevice) {}

  /** An empty buffer of `bytes`. */
  buffer(bytes: number, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST): GPUBuffer {
    const b = this.device.createBuffer({ label: 'test tensor', size: bytes, usage });
    this.made.push(b);
    return b;
  }

  /** A buffer holding data, padded to whole vec4s as the library's outputs are. */
  upload(data: Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer>, label = 'test input'): GPUBuffer {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const b = this.device.createBuffer({ label, size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage });
    this.device.queue.writeBuffer(b, 0, data);
    this.made.push(b);
    return b;
  }

  destroy() {
    for (const b of this.made) b.destroy();
  }
}

/** The first `floats` f32 of a buffer (which needs COPY_SRC usage). */
export async function download(device: GPUDevice, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  const read = device.createBuffer({ label: 'test readback', size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder({ label: 'test readback' });
  encoder.copyBufferToBuffer(buffer, 0, read, 0, floats * 4);
  device.queue.submit([encoder.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.destroy();
  return out;
}

export interface Counts {
  buffers: number;
  bindGroups: number;
  submits: number;
}

/** Counts the buffers, bind groups and submits made on a device while `body` runs; the device is left as it was. */
export async function counting<T>(device: GPUDevice, body: (counts: Counts) => Promise<T>): Promise<T> {
  const counts: Counts = { buffers: 0, bindGroups: 0, submits: 0 };
  const { createBuffer, createBindGroup } = device;
  const { submit } = device.queue;
  device.createBuffer = (d) => (counts.buffers++, createBuffer.call(device, d));
  device.createBindGroup = (d) => (counts.bindGroups++, createBindGroup.call(device, d));
  device.queue.submit = (b) => (counts.submits++, submit.call(device.queue, b));
  try {
    return await body(counts);
  } finally {
    delete (device as Partial<GPUDevice>).createBuffer;
    delete (device as Partial<GPUDevice>).createBindGroup;
    delete (device.queue as Partial<GPUQueue>).submit;
  }
}

/**
 * Live buffers whose label `counted` accepts (a module's name first, say), counted by
 * wrapping the device's createBuffer and each buffer's destroy.
 */
export async function liveBuffers<T>(device: GPUDevice, counted: (label: string) => boolean, body: (live: () => number) => Promise<T>): Promise<T> {
  const alive = new Set<GPUBuffer>();
  const { createBuffer } = device;
  device.createBuffer = (d) => {
    const b = createBuffer.call(device, d);
    if (d.label !== undefined && counted(d.label)) {
      alive.add(b);
      const destroy = b.destroy.bind(b);
      b.destroy = () => (alive.delete(b), destroy());
    }
    return b;
  };
  try {
    return await body(() => alive.size);
  } finally {
    delete (device as Partial<GPUDevice>).createBuffer;
  }
}
