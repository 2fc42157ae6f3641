// `npm run demo`: serves this folder on http://localhost:5173 (WebGPU needs a secure
// context, and localhost is one). The page imports the library's sources from ../src.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  server: {
    host: 'localhost',
    port: 5173,
    fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] },
  },
});
