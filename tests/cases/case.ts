/** A test that runs the same way in Node (Dawn) and in a browser page (Chrome's WebGPU). */
export interface Case {
  name: string;
  /** Why the case cannot run on this device (a feature it lacks), reported as a skip; undefined where it can. */
  skipOn?(device: GPUDevice): string | undefined;
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
