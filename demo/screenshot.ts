// `npm run demo:screenshot`: the demo page in headless Chrome (the test harness's
// browser and flags), both networks training with the page's defaults until the one
// with batch norm has reached the target accuracy and trained as long again, then
// saves demo/screenshot.png: the page's content at 1200 CSS pixels wide.
import { join } from 'node:path';
import { projectRoot, servePage } from '../support/browser/harness.js';
import { saveContent, trainUntil } from './capture.js';

const VIEWPORT = { width: 1200, height: 800 };
/** Train until the network with batch norm has this many times the steps it took to reach the target. */
const PAST_TARGET = 2;
const TIMEOUT_MS = 5 * 60_000;

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

export async function main(): Promise<void> {
  const out = join(projectRoot(), 'demo', 'screenshot.png');
  const served = await servePage('demo/index.html', { viewport: VIEWPORT });
  try {
    console.log(`demo page in ${served.browserVersion}; training ...`);
    const { seconds } = await trainUntil(served, {
      name: 'the demo page',
      read: readState,
      done: (state) => {
        const bn = state.lanes.find((l) => l.label === 'with batch norm');
        return !!bn?.reached && bn.steps >= PAST_TARGET * bn.reached;
      },
      progress: (state) => state.lanes.map((l) => `${l.label}: ${l.steps} steps${l.reached ? `, target at ${l.reached}` : ''}`).join('; '),
      timeoutMs: TIMEOUT_MS,
    });
    await saveContent(served, out, VIEWPORT);
    console.log(`wrote ${out} after ${seconds.toFixed(0)} s of training`);
  } finally {
    await served.close();
  }
}
