// The README's code, as tests run it: the first fenced ts or js block after a heading.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './aliases.mjs';

export function readmeSnippet(heading: string): string {
  const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
  const at = readme.indexOf(`\n## ${heading}\n`);
  if (at < 0) throw new Error(`README.md has no section "## ${heading}"`);
  const block = /```(?:ts|js)\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`README.md section "## ${heading}" has no ts or js code block`);
  return block[1];
}
