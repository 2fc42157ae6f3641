// `npm run demo`: serves this folder on http://localhost:5173 (WebGPU needs a secure
// context, and localhost is one). The page imports the package by its name, resolved to
// its sources (support/aliases.mjs).
import { defineConfig } from 'vite';
import { packageAliases } from '../support/aliases.mjs';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  resolve: { alias: packageAliases },
  root: fileURLToPath(new URL('.', import.meta.url)),
  server: {
    host: 'localhost',
    port: 5173,
    fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] },
  },
});
