// `npm run demo:screenshot:cnn`: the CNN page (demo/cnn.html) in headless Chrome (the
// test harness's browser and flags), training with its defaults (switching between
// TF.js's batch norm and webgpu-batchnorm's every 50 steps) until both have a
// steps/s and the held-out accuracy has reached TARGET (or MAX_STEPS passed), then
// saves demo/cnn-screenshot.png: the page's content at 1200 CSS pixels wide.
import { join } from 'node:path';
import { projectRoot, servePage } from '../support/browser/harness.js';
import { CNN_PAGE_PACKAGES } from './cnn-packages.js';
import { saveContent, sleep, trainUntil } from './capture.js';

const VIEWPORT = { width: 1200, height: 760 };
const TARGET = 0.8;
const MIN_STEPS = 200;
const MAX_STEPS = 400;
const TIMEOUT_MS = 12 * 60_000;

export interface CnnPageState {
  error: string;
  steps: number;
  nan: boolean;
  /** Layer calls the adapter ran on our kernels (most in one stretch). */
  oursForward: number;
  lanes: { impl: string; steps: number; rate: number | null; accuracy: number | null; loss: number }[];
}

/** A state with a NaN loss or accuracy is a failure. */
export function noNaN(state: CnnPageState): void {
  if (state.nan) throw new Error('the CNN page saw NaN');
}

/** The page's error line, step count and stats table, as demo/cnn.ts renders them. */
export function readCnnState(): CnnPageState {
  const rows = Array.from(document.querySelectorAll<HTMLTableRowElement>('#stats tr'));
  const num = (v: string | undefined) => (v ? Number(v) : null);
  return {
    error: document.getElementById('error')?.textContent ?? '',
    steps: Number(document.body.dataset.steps ?? 0),
    nan: document.body.dataset.nan === 'true',
    oursForward: Number(document.body.dataset.oursForward ?? 0),
    lanes: rows.map((tr) => ({
      impl: tr.dataset.impl ?? '',
      steps: Number(tr.dataset.steps),
      rate: num(tr.dataset.rate),
      accuracy: num(tr.dataset.accuracy),
      loss: Number(tr.dataset.loss),
    })),
  };
}

/** args: [--steps N] to stop after N steps (default: MIN_STEPS … MAX_STEPS, until TARGET), [--out FILE]. */
export async function main(args: string[] = []): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const stopAt = arg('--steps') ? Number(arg('--steps')) : undefined;
  const out = arg('--out') ?? join(projectRoot(), 'demo', 'cnn-screenshot.png');
  const served = await servePage('demo/cnn.html', { viewport: VIEWPORT, dependencies: CNN_PAGE_PACKAGES });
  try {
    console.log(`CNN page in ${served.browserVersion}; training ...`);
    const { seconds } = await trainUntil(served, {
      name: 'the CNN page',
      read: readCnnState,
      check: noNaN,
      done: (state) => {
        const best = Math.max(...state.lanes.map((l) => l.accuracy ?? 0));
        const rated = state.lanes.length === 2 && state.lanes.every((l) => l.rate !== null);
        return stopAt !== undefined ? state.steps >= stopAt : rated && state.steps >= MIN_STEPS && (best >= TARGET || state.steps >= MAX_STEPS);
      },
      progress: (state) => `step ${state.steps}: ${state.lanes.map((l) => `${l.impl} ${l.steps} steps, ${l.rate?.toFixed(2) ?? '–'} steps/s, accuracy ${l.accuracy ?? '–'}`).join('; ')}`,
      timeoutMs: TIMEOUT_MS,
    });
    await sleep(300); // the last render
    await saveContent(served, out, VIEWPORT);
    const state = await served.page.evaluate(readCnnState);
    console.log(`wrote ${out} after ${seconds.toFixed(0)} s: ${JSON.stringify(state.lanes)}`);
  } finally {
    await served.close();
  }
}
