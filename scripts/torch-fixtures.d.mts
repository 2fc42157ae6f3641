// Types for torch-fixtures.mjs, so TypeScript callers (scripts/torch-parity.ts) can import it.

/** The Python interpreter used: $TORCH_PYTHON, else /usr/bin/python3. */
export const PYTHON: string;
/** The path of scripts/torch-fixtures.py. */
export const GENERATOR: string;
/** PyTorch's version, or undefined when `import torch` fails. */
export function torchVersion(): string | undefined;
/** PyTorch's version; without PyTorch, prints how to install it and exits with status 1. */
export function requireTorch(): string;
/** Runs torch-fixtures.py with these arguments; returns its exit status. */
export function generate(args: string[]): number;
