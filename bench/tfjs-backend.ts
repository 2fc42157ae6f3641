// Waiting for TF.js's webgpu backend: the peers time each op from its call until the GPU is done.
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/** Submits what TF.js has recorded (it batches dispatches into one encoder) and waits until the GPU is done. */
export async function flush(backend: WebGPUBackend): Promise<void> {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder(); // finishing an encoder with an open pass would invalidate the whole submit
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}
