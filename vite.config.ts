import { defineConfig } from 'vitest/config';
import { packageAliases } from './support/aliases.mjs';

export default defineConfig({
  resolve: { alias: packageAliases },
  build: {
    target: 'es2022',
    // A library build: readable code, class and function names kept (stack traces,
    // err.constructor.name), and sourcemaps with the sources inlined.
    minify: false,
    sourcemap: true,
    lib: {
      entry: { index: 'src/index.ts', node: 'src/node.ts', tfjs: 'src/tfjs.ts' },
      formats: ['es'],
    },
    rollupOptions: { external: ['webgpu', /^node:/, /^@tensorflow\//] },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    // One Dawn device per test file; SwiftShader already uses every core, so files run one at a time.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
