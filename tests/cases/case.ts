import { forceOnePass } from '../../src/batchnorm/partition.js';

/** A test that runs the same way in Node (Dawn) and in a browser page (Chrome's WebGPU). */
export interface Case {
  name: string;
  /** Why the case cannot run on this device (a feature it lacks), reported as a skip; undefined where it can. */
  skipOn?(device: GPUDevice): string | undefined;
  run(device: GPUDevice): Promise<void>;
  /** The case chooses the one-pass or three-pass path itself (onEachPass leaves it as it is). */
  ownPath?: true;
  /** The path onEachPass runs this copy of a case on. */
  path?: TrainingPath;
}

/** The training paths a plan can take: one dispatch each way (small tensors) or three. */
export const PATHS = ['one pass', 'three passes'] as const;
export type TrainingPath = (typeof PATHS)[number];

/**
 * Runs body with BatchNorms made on `device` taking `path` where their shape allows
 * it ('by size': as the tuning's onePassElements says), then restores the setting before.
 */
export async function onPath<R>(device: GPUDevice, path: TrainingPath | 'by size', body: () => Promise<R>): Promise<R> {
  const before = forceOnePass(device, path === 'by size' ? undefined : path === 'one pass');
  try {
    return await body();
  } finally {
    forceOnePass(device, before);
  }
}

/**
 * Each case on both paths, named by it: BatchNorms take the one-pass stages
 * wherever their shape allows them, then the three passes, whatever their size.
 */
export const onEachPass = (cases: Case[]): Case[] =>
  cases.flatMap((c) => (c.ownPath ? [c] : PATHS.map((path): Case => ({ ...c, name: `${c.name} (${path})`, path, run: (device) => onPath(device, path, () => c.run(device)) }))));

/** Runs body with a fresh object and destroys it afterwards, even on failure. */
export async function using<T extends { destroy(): void }, R>(resource: T, body: (r: T) => Promise<R>): Promise<R> {
  try {
    return await body(resource);
  } finally {
    resource.destroy();
  }
}

/**
 * Of each case's two copies (onEachPass), one: the one-pass copy of every other
 * case and the three-pass copy of the rest, so that a slow runner covers both paths
 * in the time of one. The rest pass through. Keeps each case's index in `cases`.
 */
export function alternatePaths(cases: Case[]): [Case, number][] {
  let copies = 0;
  return cases.flatMap((c, index): [Case, number][] => {
    if (!c.path) return [[c, index]];
    const pair = Math.floor(copies++ / 2);
    return (pair % 2 === 0) === (c.path === 'one pass') ? [[c, index]] : [];
  });
}
