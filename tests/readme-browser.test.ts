// The README's "Use in a browser page" snippet, as written, in a page that Vite
// serves (the package imported by its name) in headless Chrome and in headless
// Firefox on lavapipe: it must run to the end without an error, and what it logs
// must be what it says.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestDrivers } from '../scripts/system.mjs';
import { projectRoot } from '../support/aliases.mjs';
import { openPage, type BrowserName } from '../support/browser/harness.js';
import { readmeSnippet } from '../support/readme.js';

const dir = join(projectRoot(), 'node_modules', '.vite', 'readme-snippet');
beforeAll(() => {
  // The snippet's imports stay at the top of a module; the rest runs in its main, with console.log collected.
  const snippet = readmeSnippet('Use in a browser page');
  const lines = snippet.split('\n');
  const imports = lines.filter((l) => l.startsWith('import '));
  const body = lines.filter((l) => !l.startsWith('import ')).join('\n');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'snippet.ts'),
    `${imports.join('\n')}\nexport async function main(): Promise<unknown[][]> {\n  const logged: unknown[][] = [];\n  const console = { log: (...a: unknown[]) => logged.push(a.map((v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v))) };\n${body}\n  return logged;\n}\n`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each<[BrowserName]>([['chrome'], ['firefox']])('%s', (browser) => {
  it('the README browser snippet runs in a page as written', async () => {
    const vulkanDriver = browser === 'firefox' ? ensureTestDrivers({ firefox: true, lavapipe: true }).lavapipe : undefined;
    const session = await openPage({ browser, vulkanDriver, module: 'node_modules/.vite/readme-snippet/snippet.ts' });
    let logged: unknown[][];
    try {
      console.log(`README snippet: ${session.adapter} in ${session.browserVersion}`);
      logged = await session.call<unknown[][]>('main');
    } finally {
      await session.close();
    }
    expect(logged.length).toBe(3);
    const [[y, dx, dgamma, dbeta], [ySize, dxSize], [, , tracked]] = logged as [number[][], number[], unknown[]];
    expect(y).toHaveLength(4);
    expect(dx).toHaveLength(4);
    expect(dgamma).toHaveLength(3);
    expect(dbeta).toHaveLength(3);
    expect([...y, ...dx, ...dgamma, ...dbeta].every(Number.isFinite)).toBe(true);
    expect([ySize, dxSize]).toEqual([8 * 3 * 4 * 4 * 4, 8 * 3 * 4 * 4 * 4]);
    expect(tracked).toBe(2); // "2 batches tracked", as the snippet's comment says
  });
});
