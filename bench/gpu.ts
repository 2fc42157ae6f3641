// Small GPU helpers for the benchmark: uploads, read-backs, dispatch counting, waiting.

export async function submitAndWait(device: GPUDevice, encoder: GPUCommandEncoder): Promise<void> {
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
}

/** A storage buffer holding `data` (f32 values or u32 class ids), padded to 16 bytes as the library accepts. */
export function upload(device: GPUDevice, label: string, data: Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer>): GPUBuffer {
  const buffer = device.createBuffer({ label, size: Math.ceil(data.byteLength / 16) * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

/** Copies the first `floats` values of each buffer out and reads them back. */
export async function readFloats(device: GPUDevice, parts: { buffer: GPUBuffer; floats: number }[]): Promise<Float32Array[]> {
  const encoder = device.createCommandEncoder({ label: 'bench read-back' });
  const staging = parts.map((p) => {
    const s = device.createBuffer({ label: `bench read-back of ${p.buffer.label}`, size: p.floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(p.buffer, 0, s, 0, p.floats * 4);
    return s;
  });
  device.queue.submit([encoder.finish()]);
  try {
    return await Promise.all(
      staging.map(async (s) => {
        await s.mapAsync(GPUMapMode.READ);
        return new Float32Array(s.getMappedRange().slice(0));
      }),
    );
  } finally {
    for (const s of staging) s.destroy();
  }
}

/** Native GPU objects check `this`: a proxy forwards method calls bound to the real object. */
function bound<T extends object>(target: T, override: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(t, key) {
      if (key in override) return override[key as keyof T];
      const value = Reflect.get(t, key);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

/** An encoder that counts the dispatches recorded through it. */
export function countingEncoder(encoder: GPUCommandEncoder): { encoder: GPUCommandEncoder; dispatches: () => number } {
  let count = 0;
  const countPass = (pass: GPUComputePassEncoder) =>
    bound(pass, {
      dispatchWorkgroups: (...args: Parameters<GPUComputePassEncoder['dispatchWorkgroups']>) => {
        count++;
        pass.dispatchWorkgroups(...args);
      },
      dispatchWorkgroupsIndirect: (...args: Parameters<GPUComputePassEncoder['dispatchWorkgroupsIndirect']>) => {
        count++;
        pass.dispatchWorkgroupsIndirect(...args);
      },
    });
  const counted = bound(encoder, {
    beginComputePass: (descriptor?: GPUComputePassDescriptor) => countPass(encoder.beginComputePass(descriptor)),
  });
  return { encoder: counted, dispatches: () => count };
}
