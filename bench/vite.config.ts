// Builds the benchmark runners for Node into bench/dist: chrome.js (`npm start`)
// and node.js (`npm run bench:node`, which runs with only node and the npm
// `webgpu` package, e.g. on a machine with a GPU and no Chrome).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { packageAliases } from '../support/aliases.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  resolve: { alias: packageAliases },
  root,
  logLevel: 'warn',
  build: {
    ssr: true,
    target: 'node20',
    outDir: 'bench/dist',
    emptyOutDir: true,
    rollupOptions: {
      input: { chrome: 'bench/chrome.ts', node: 'bench/node.ts' },
      output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name].js' },
    },
  },
});
