// Recording compute work: into the caller's encoder or one submitted at once, with
// workgroup counts past the per-dimension limit folded into a 2D grid.

/** Workgroup counts past the per-dimension limit fold into a 2D grid. */
export function dispatchSize(workgroups: number, maxPerDimension: number): [number, number] {
  const y = Math.ceil(workgroups / maxPerDimension);
  return [Math.ceil(workgroups / y), y];
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
