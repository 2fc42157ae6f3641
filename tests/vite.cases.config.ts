// Builds tests/node-cases.ts into tests/dist/cases.js (`npm run cases:build`): the
// shared cases as one file that needs only node and node_modules/webgpu.
import { defineConfig } from 'vite';
import { nodeBundle } from '../support/node-bundle.mjs';

export default defineConfig(nodeBundle('tests/dist', { cases: 'tests/node-cases.ts' }));
