// The shared cases as one file for plain Node (tests/node-cases.ts, `npm run
// cases:build`): it builds, runs a group on this machine's adapter, counts what it
// ran, and exits non-zero when a case fails.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { beforeAll, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

function run(file: string, args: string[], timeout: number) {
  const r = spawnSync(file, args, { cwd: root, encoding: 'utf8', timeout });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, why: r.stderr || `no stderr; signal ${r.signal}, error ${r.error?.message ?? 'none'}` };
}

beforeAll(() => {
  const vite = join(root, 'node_modules', '.bin', 'vite');
  const built = run(vite, ['build', '-c', 'tests/vite.cases.config.ts'], 120_000);
  expect(built.status, built.why).toBe(0);
}, 130_000);

it('runs a group of cases and ends with the counts', () => {
  const r = run(process.execPath, ['tests/dist/cases.js', '--only', 'bad input'], 120_000);
  expect(r.status, r.why).toBe(0);
  expect(r.out).toMatch(/^adapter: .+; features: /m);
  const counts = r.out.match(/^(\d+) passed, (\d+) failed, (\d+) skipped in \d+ s$/m);
  expect(counts, r.out.slice(-2000)).not.toBeNull();
  expect(Number(counts![1])).toBeGreaterThan(20);
  expect(Number(counts![2])).toBe(0);
  expect(r.out).not.toMatch(/^FAIL/m);
}, 130_000);

it('refuses an adapter it does not know, naming it, and exits 1', () => {
  const r = run(process.execPath, ['tests/dist/cases.js', '--only', 'bad input', '--adapter', 'no-such-adapter'], 60_000);
  expect(r.status).toBe(1);
  expect(r.out).toMatch(/--adapter must be auto, gpu, software, lavapipe, swiftshader; got no-such-adapter/);
}, 70_000);
