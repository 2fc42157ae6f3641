#!/usr/bin/env node
// npm run fixtures:torch [-- --seed N|random --out DIR --vary-shapes --only NAME --list]
// Regenerates tests/fixtures/torch/ with scripts/torch-fixtures.py. Needs PyTorch in
// /usr/bin/python3 (or the interpreter $TORCH_PYTHON names); the tests themselves never do.
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const PYTHON = process.env.TORCH_PYTHON || '/usr/bin/python3';
export const GENERATOR = fileURLToPath(new URL('./torch-fixtures.py', import.meta.url));

/** PyTorch's version as the interpreter reports it, or undefined when `import torch` fails. */
export function torchVersion() {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** PyTorch's version; without PyTorch, says how to install it and exits with status 1. */
export function requireTorch() {
  const version = torchVersion();
  if (version) return version;
  console.error(
    `PyTorch is not importable by ${PYTHON} (\`${PYTHON} -c 'import torch'\` failed). Install it:\n` +
      '  apt-get install -y python3-torch     # Debian/Ubuntu: PyTorch 1.13 for the CPU, in /usr/bin/python3\n' +
      '  pip install torch                    # elsewhere; then TORCH_PYTHON=$(command -v python3) npm run ...',
  );
  process.exit(1);
}

/** Runs the generator with these arguments; returns its exit status. */
export function generate(args) {
  const r = spawnSync(PYTHON, [GENERATOR, ...args], { stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  requireTorch();
  process.exit(generate(process.argv.slice(2)));
}
