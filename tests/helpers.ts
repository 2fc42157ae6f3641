// Node-only test helpers: Dawn devices for a test file.
import { afterAll, beforeAll, expect } from 'vitest';
import { requestDevice } from '../src/node.js';

/**
 * `count` Dawn devices for the test file (several devices from one adapter stand for
 * several GPUs), watched for uncaptured errors and destroyed at the end. The array
 * fills in beforeAll.
 */
export function useDevices(count: number): GPUDevice[] {
  const devices: GPUDevice[] = [];
  const uncaptured: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < count; i++) {
      const device = await requestDevice();
      device.addEventListener('uncapturederror', (e) => uncaptured.push((e as GPUUncapturedErrorEvent).error.message));
      devices.push(device);
    }
  });
  afterAll(() => {
    for (const d of devices) d.destroy();
    expect(uncaptured, 'uncaptured GPU errors').toEqual([]);
  });
  return devices;
}

/** One Dawn device for the test file, as useDevices(1). */
export function useDevice(): { readonly device: GPUDevice } {
  const devices = useDevices(1);
  return {
    get device() {
      return devices[0];
    },
  };
}
