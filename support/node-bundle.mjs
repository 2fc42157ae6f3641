// The Vite config of a bundle for plain Node (the benchmark runners, the shared
// cases): the package's own names resolve to its sources and are bundled, the
// dependencies stay imports (an SSR build), each entry is named by its input key.
import { packageAliases, projectRoot } from './aliases.mjs';

/** outDir: relative to the project root; input: { name: entry file }, each built to outDir/name.js. */
export function nodeBundle(outDir, input) {
  return {
    resolve: { alias: packageAliases },
    root: projectRoot(),
    logLevel: 'warn',
    build: {
      ssr: true,
      target: 'node20',
      outDir,
      emptyOutDir: true,
      rollupOptions: {
        input,
        output: { entryFileNames: '[name].js', chunkFileNames: 'chunks/[name].js' },
      },
    },
  };
}
