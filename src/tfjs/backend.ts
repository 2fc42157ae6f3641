// TF.js's webgpu backend as this adapter uses it: its GPUDevice, the GPUBuffer
// behind a tensor, its pending command encoder (so that our passes are recorded in
// order with TF.js's own), and new TF.js tensors filled by a buffer copy in that
// same encoder. Nothing here reads data back or submits.
//
// These are members of tfjs-backend-webgpu 4.x's WebGPUBackend that are public in
// its JavaScript but not in its documentation (tensorMap, commandEncoder,
// ensureCommandEncoderReady, endComputePassEncoder, uploadToGPU, makeTensorInfo,
// commandQueueOwnedIds). The backend is recognized by their presence, not by name,
// and anything else (cpu, wasm, webgl, a future webgpu backend without them) gets
// the stock TF.js path.

/** A TF.js tensor, as far as this adapter looks at one. */
export interface TensorLike {
  readonly dataId: object;
  readonly shape: number[];
  readonly dtype: string;
  readonly size: number;
}

interface TensorData {
  resource: unknown;
  dtype: string;
  shape: number[];
}

/** The members of tfjs-backend-webgpu's WebGPUBackend this adapter relies on. */
export interface WebGPUBackendLike {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  tensorMap: { get(dataId: object): TensorData | undefined; has(dataId: object): boolean };
  commandQueueOwnedIds: WeakSet<object>;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: string): { dataId: object; shape: number[]; dtype: string };
  submitQueue(): void;
}

const METHODS = ['ensureCommandEncoderReady', 'endComputePassEncoder', 'uploadToGPU', 'makeTensorInfo', 'submitQueue'] as const;

/** Submits what TF.js has recorded so far (before buffers it may use are destroyed). */
export function flush(backend: WebGPUBackendLike | null): void {
  if (backend?.commandEncoder) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}

/** The backend as a WebGPU backend this adapter can drive, or null. */
export function asWebGPUBackend(backend: unknown): WebGPUBackendLike | null {
  const b = backend as Partial<WebGPUBackendLike> | null;
  if (!b || typeof b !== 'object') return null;
  if (!b.device || typeof (b.device as GPUDevice).createCommandEncoder !== 'function') return null;
  if (!b.tensorMap || typeof b.tensorMap.get !== 'function' || !(b.commandQueueOwnedIds instanceof WeakSet)) return null;
  if (!METHODS.every((m) => typeof b[m] === 'function')) return null;
  return b as WebGPUBackendLike;
}

function isGpuBuffer(resource: unknown): resource is GPUBuffer {
  const r = resource as GPUBuffer | null;
  return !!r && typeof r === 'object' && typeof r.size === 'number' && typeof r.usage === 'number' && typeof r.mapAsync === 'function';
}

/**
 * The GPUBuffer holding a float32 tensor (uploading it first when its values are
 * still on the CPU, in TF.js's own encoder), or null when it is not a plain
 * storage buffer of at least size·4 bytes (a texture, another dtype).
 */
export function bufferOf(backend: WebGPUBackendLike, t: TensorLike): GPUBuffer | null {
  if (t.dtype !== 'float32' || !backend.tensorMap.has(t.dataId)) return null;
  backend.uploadToGPU(t.dataId);
  const resource = backend.tensorMap.get(t.dataId)?.resource;
  if (!isGpuBuffer(resource)) return null;
  if ((resource.usage & GPUBufferUsage.STORAGE) === 0 || resource.size < t.size * 4) return null;
  return resource;
}

/**
 * TF.js's pending command encoder, with its open compute pass (if any) ended, so
 * that what is recorded next runs after every TF.js command issued so far and
 * before every one issued later. The tensors in `uses` are marked as used by the
 * pending commands: TF.js then defers releasing their buffers to its next submit.
 */
export function recordingEncoder(backend: WebGPUBackendLike, uses: readonly TensorLike[] = []): GPUCommandEncoder {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  for (const t of uses) backend.commandQueueOwnedIds.add(t.dataId);
  return backend.commandEncoder!;
}

/** Copies `size` floats of `src` into `dst`, a tensor's buffer, in `encoder`. */
export function copyFloats(encoder: GPUCommandEncoder, src: GPUBuffer, dst: GPUBuffer, size: number): void {
  encoder.copyBufferToBuffer(src, 0, dst, 0, size * 4);
}

/** The engine's method that wraps a backend's tensor info in a tracked Tensor. */
export interface EngineLike {
  makeTensorFromTensorInfo(info: { dataId: object; shape: number[]; dtype: string }, backend?: unknown): unknown;
}

/**
 * A new float32 tensor info (a kernel's output) of `shape` whose buffer (from
 * TF.js's pool: no new GPUBuffer in a steady loop) receives a copy of `src`,
 * recorded in `encoder`, which must be the backend's pending one.
 */
export function infoFromBuffer(backend: WebGPUBackendLike, encoder: GPUCommandEncoder, src: GPUBuffer, shape: number[]): { dataId: object; shape: number[]; dtype: string } {
  const info = backend.makeTensorInfo(shape, 'float32');
  backend.uploadToGPU(info.dataId);
  const dst = backend.tensorMap.get(info.dataId)!.resource as GPUBuffer;
  const size = shape.reduce((a, b) => a * b, 1);
  copyFloats(encoder, src, dst, size);
  backend.commandQueueOwnedIds.add(info.dataId);
  return info;
}

/** The same as a tracked TF.js Tensor (for code outside a kernel: a layer's call, a gradient). */
export function tensorFromBuffer<T>(engine: EngineLike, backend: WebGPUBackendLike, encoder: GPUCommandEncoder, src: GPUBuffer, shape: number[]): T {
  return engine.makeTensorFromTensorInfo(infoFromBuffer(backend, encoder, src, shape), backend) as T;
}
