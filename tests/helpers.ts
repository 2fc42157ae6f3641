// Node-only test helpers: Dawn devices for a test file.
import { afterAll, beforeAll, expect } from 'vitest';
import { adapterName, requestDevice, type AdapterChoice } from '../src/node.js';

/**
 * `count` Dawn devices for the test file (several devices from one adapter stand for
 * several GPUs), watched for uncaptured errors and destroyed at the end. The array
 * fills in beforeAll; the first device's adapter is printed.
 */
export function useDevices(count: number, adapter: AdapterChoice = 'auto'): GPUDevice[] {
  const devices: GPUDevice[] = [];
  const uncaptured: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < count; i++) {
      const device = await requestDevice({ adapter });
      device.addEventListener('uncapturederror', (e) => uncaptured.push((e as GPUUncapturedErrorEvent).error.message));
      devices.push(device);
    }
    console.log(`Dawn in Node: ${adapterName(devices[0])}`);
  });
  afterAll(() => {
    for (const d of devices) d.destroy();
    expect(uncaptured, 'uncaptured GPU errors').toEqual([]);
  });
  return devices;
}

/** One Dawn device for the test file, as useDevices(1). */
export function useDevice(adapter: AdapterChoice = 'auto'): { readonly device: GPUDevice } {
  const devices = useDevices(1, adapter);
  return {
    get device() {
      return devices[0];
    },
  };
}
