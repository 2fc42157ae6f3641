// Builds the benchmark runners for Node into bench/dist: chrome.js (`npm start`)
// and node.js (`npm run bench:node`, which runs with only node and the npm
// `webgpu` package, e.g. on a machine with a GPU and no Chrome).
import { defineConfig } from 'vite';
import { nodeBundle } from '../support/node-bundle.mjs';

export default defineConfig(nodeBundle('bench/dist', { chrome: 'bench/chrome.ts', node: 'bench/node.ts' }));
