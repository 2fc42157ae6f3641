// Builds tests/node-cases.ts into tests/dist/cases.js (`npm run cases:build`): the
// shared cases as one file that needs only node and node_modules/webgpu.
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
    outDir: 'tests/dist',
    emptyOutDir: true,
    rollupOptions: {
      input: { cases: 'tests/node-cases.ts' },
      output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name].js' },
    },
  },
});
