// The package's own names resolve to its sources, so that bench/, demo/ and
// examples/ import it exactly as a user's code does.
import { fileURLToPath } from 'node:url';

const source = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url));

export const packageAliases = [
  { find: /^webgpu-batchnorm$/, replacement: source('index.ts') },
  { find: /^webgpu-batchnorm\/node$/, replacement: source('node.ts') },
  { find: /^webgpu-batchnorm\/tfjs$/, replacement: source('tfjs.ts') },
];
