// The package's own names resolve to its sources, so that bench/, demo/ and
// examples/ import it exactly as a user's code does. Plain JavaScript, so that the
// Vite configs, the browser harness and scripts/run-ts.mjs share it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project root: the nearest folder above this file with a package.json. Not a
 * fixed '../' from here: this module is also bundled into bench/dist/chrome.js.
 */
export function projectRoot() {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

const source = (file) => join(projectRoot(), 'src', file);

export const packageAliases = [
  { find: /^webgpu-batchnorm$/, replacement: source('index.ts') },
  { find: /^webgpu-batchnorm\/node$/, replacement: source('node.ts') },
  { find: /^webgpu-batchnorm\/tfjs$/, replacement: source('tfjs.ts') },
];
