// `npm run demo:screenshot`: the demo page in headless Chrome (the test harness's
// browser and flags), both networks training with the page's defaults until the one
// with batch norm has reached the target accuracy and trained as long again, then
// saves demo/screenshot.png: the page's content at 1200 CSS pixels wide.
import { join } from 'node:path';
import { projectRoot, servePage } from '../support/browser/harness.js';

const VIEWPORT = { width: 1200, height: 800 };
/** Train until the network with batch norm has this many times the steps it took to reach the target. */
const PAST_TARGET = 2;
const TIMEOUT_MS = 5 * 60_000;
const POLL_MS = 1000;
const REPORT_EVERY_MS = 10_000;

interface PageState {
  error: string;
  lanes: { label: string; steps: number; reached: number | null }[];
}

/** The page's error line and its stats table, as main.ts renders them. */
function readState(): PageState {
  const rows = Array.from(document.querySelectorAll<HTMLTableRowElement>('#stats tr'));
  return {
    error: document.getElementById('error')?.textContent ?? '',
    lanes: rows.map((tr) => ({
      label: tr.cells[0].textContent ?? '',
      steps: Number(tr.dataset.steps),
      reached: tr.dataset.reached ? Number(tr.dataset.reached) : null,
    })),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function main(): Promise<void> {
  const out = join(projectRoot(), 'demo', 'screenshot.png');
  const served = await servePage('demo/index.html', { viewport: VIEWPORT });
  try {
    console.log(`demo page in ${served.browserVersion}; training ...`);
    const started = performance.now();
    let reported = started;
    for (;;) {
      const state = await served.page.evaluate(readState);
      const errors = [...served.takeErrors(), state.error].filter((e) => e.trim());
      if (errors.length) throw new Error(`the demo page failed: ${errors.join('\n')}`);
      const bn = state.lanes.find((l) => l.label === 'with batch norm');
      if (bn?.reached && bn.steps >= PAST_TARGET * bn.reached) break;
      if (performance.now() - started > TIMEOUT_MS) throw new Error(`the network with batch norm did not get there in ${TIMEOUT_MS / 1000} s: ${JSON.stringify(state.lanes)}`);
      if (performance.now() - reported > REPORT_EVERY_MS) {
        reported = performance.now();
        console.log(state.lanes.map((l) => `${l.label}: ${l.steps} steps${l.reached ? `, target at ${l.reached}` : ''}`).join('; '));
      }
      await sleep(POLL_MS);
    }
    // the page's content, cut below its last line (the viewport is taller)
    const height = await served.page.evaluate(() => Math.ceil(document.body.getBoundingClientRect().bottom) + 16);
    await served.page.screenshot({ path: out, clip: { x: 0, y: 0, width: VIEWPORT.width, height: Math.min(height, VIEWPORT.height) } });
    console.log(`wrote ${out} after ${((performance.now() - started) / 1000).toFixed(0)} s of training`);
  } finally {
    await served.close();
  }
}
