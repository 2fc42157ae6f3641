/** A test that runs the same way in Node (Dawn) and in a browser page (Chrome's WebGPU). */
export interface Case {
  name: string;
  run(device: GPUDevice): Promise<void>;
}

/** Runs body with a fresh object and destroys it afterwards, even on failure. */
export async function using<T extends { destroy(): void }, R>(resource: T, body: (r: T) => Promise<R>): Promise<R> {
  try {
    return await body(resource);
  } finally {
    resource.destroy();
  }
}
