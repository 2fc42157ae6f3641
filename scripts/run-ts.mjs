#!/usr/bin/env node
// Runs the main(args) of a TypeScript script in Node 20, which cannot strip types:
// Vite's SSR loader compiles it and what it imports, as demo/measure.mjs loads the
// sources. Usage: node scripts/run-ts.mjs FILE.ts [ARGS...]   (FILE from the project root)
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { packageAliases } from '../support/aliases.mjs';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run-ts.mjs FILE.ts [ARGS...]');
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
// the package's own names resolve to its sources, as in the Vite configs (not to dist/, only as new as the last build)
const server = await createServer({
  root, configFile: false, logLevel: 'error', server: { middlewareMode: true, hmr: false }, appType: 'custom', resolve: { alias: packageAliases },
});
try {
  const { main } = await server.ssrLoadModule(`/${file}`);
  if (typeof main !== 'function') throw new Error(`${file} exports no main(args)`);
  await main(args);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  await server.close();
}
