// Node-only test helpers: a Dawn device per test file.
import { afterAll, beforeAll, expect } from 'vitest';
import { requestDevice } from '../src/node.js';

/** A Dawn device for the test file, watched for uncaptured errors and destroyed at the end. */
export function useDevice(): { readonly device: GPUDevice } {
  const holder = {} as { device: GPUDevice };
  const uncaptured: string[] = [];
  beforeAll(async () => {
    holder.device = await requestDevice();
    holder.device.addEventListener('uncapturederror', (e) => uncaptured.push((e as GPUUncapturedErrorEvent).error.message));
  });
  afterAll(() => {
    holder.device?.destroy();
    expect(uncaptured, 'uncaptured GPU errors').toEqual([]);
  });
  return holder;
}
