// Device loss, known to every module: device.lost is watched once per device, and
// lostReason() says whether (and why) it has resolved. It resolves asynchronously,
// so a call made in the same task as device.destroy() cannot know yet.

const lost = new WeakMap<GPUDevice, GPUDeviceLostInfo | null>();

/** Starts watching `device.lost` (once per device). */
export function watchDevice(device: GPUDevice): void {
  if (lost.has(device)) return;
  lost.set(device, null);
  device.lost.then((info) => lost.set(device, info)).catch(() => {});
}

/** "reason: message" once the device is known to be lost, else undefined. */
export function lostReason(device: GPUDevice): string | undefined {
  const info = lost.get(device);
  if (!info) return undefined;
  return `${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''}`;
}

/** Waits for the device's loss to be known, or for the current tasks to end, whichever comes first. */
export async function settleLoss(device: GPUDevice): Promise<string | undefined> {
  watchDevice(device);
  await Promise.race([device.lost, new Promise((resolve) => setTimeout(resolve, 0))]);
  return lostReason(device);
}
