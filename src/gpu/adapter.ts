// What an adapter is: a readable name, and whether it runs on the CPU.
/** A readable name for the adapter behind a device, e.g. "SwiftShader driver 5.0.0 (google swiftshader, CPU fallback)". */
export function adapterName(device: GPUDevice): string {
  const info = device.adapterInfo;
  if (!info) return 'unknown adapter';
  const what = [info.vendor, info.architecture].filter(Boolean).join(' ');
  const name = info.description || info.device || what || 'unknown adapter';
  const notes = [what !== name ? what : '', info.isFallbackAdapter ? 'CPU fallback' : ''].filter(Boolean);
  return notes.length ? `${name} (${notes.join(', ')})` : name;
}

/** Software adapters: SwiftShader, llvmpipe/lavapipe, WARP, or any adapter that says it is a fallback. */
export function isCpuAdapter(info: GPUAdapterInfo | undefined): boolean {
  if (!info) return false;
  return info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info.architecture} ${info.description}`);
}

/**
 * Threads per workgroup for the simple elementwise and per-row kernels: a CPU
 * adapter runs each workgroup as one task, so few threads with long loops; a GPU
 * needs many threads in flight.
 */
export const simpleWorkgroupSize = (device: GPUDevice): number => (isCpuAdapter(device.adapterInfo) ? 16 : 256);
