// What the screenshot scripts and the CNN page's test share: watching a served demo
// page train until it has got somewhere, and a picture of its content.
import type { ServedPage } from '../support/browser/harness.js';

const POLL_MS = 1000;
const REPORT_EVERY_MS = 10_000;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Watch<S> {
  /** What the page is, for messages: "the demo page". */
  name: string;
  /** Reads the page's state; runs in the page. */
  read: () => S;
  /** Whether the page has trained far enough. */
  done: (state: S) => boolean;
  /** Throws where a state is wrong beyond the page's error line (NaN, say). */
  check?: (state: S) => void;
  /** A line of progress, logged every 10 s. */
  progress?: (state: S) => string;
  timeoutMs: number;
}

/**
 * Reads the page's state once a second until `done`; errors in the page or on its
 * error line, a failed check and the time limit throw. The last state and the
 * seconds it took.
 */
export async function trainUntil<S extends { error: string }>(served: ServedPage, watch: Watch<S>): Promise<{ state: S; seconds: number }> {
  const started = performance.now();
  let reported = started;
  for (;;) {
    const state = await served.page.evaluate(watch.read);
    const errors = [...served.takeErrors(), state.error].filter((e) => e.trim());
    if (errors.length) throw new Error(`${watch.name} failed: ${errors.join('\n')}`);
    watch.check?.(state);
    const seconds = (performance.now() - started) / 1000;
    if (watch.done(state)) return { state, seconds };
    if (seconds * 1000 > watch.timeoutMs) throw new Error(`${watch.name} did not get there in ${watch.timeoutMs / 1000} s: ${JSON.stringify(state)}`);
    if (watch.progress && performance.now() - reported > REPORT_EVERY_MS) {
      reported = performance.now();
      console.log(watch.progress(state));
    }
    await sleep(POLL_MS);
  }
}

/** Saves the page's content at the viewport's width, cut below its last line (the viewport is taller). */
export async function saveContent(served: ServedPage, out: string, viewport: { width: number; height: number }): Promise<void> {
  const height = await served.page.evaluate(() => Math.ceil(document.body.getBoundingClientRect().bottom) + 16);
  await served.page.screenshot({ path: out, clip: { x: 0, y: 0, width: viewport.width, height: Math.min(height, viewport.height) } });
}
