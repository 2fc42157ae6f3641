/** A readable name for the adapter behind a device, e.g. "SwiftShader driver 5.0.0 (google swiftshader, CPU fallback)". */
export function adapterName(device: GPUDevice): string {
  const info = device.adapterInfo;
  if (!info) return 'unknown adapter';
  const what = [info.vendor, info.architecture].filter(Boolean).join(' ');
  const name = info.description || info.device || what || 'unknown adapter';
  const notes = [what !== name ? what : '', info.isFallbackAdapter ? 'CPU fallback' : ''].filter(Boolean);
  return notes.length ? `${name} (${notes.join(', ')})` : name;
}
