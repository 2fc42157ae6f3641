// What both demo pages share: element lookup, the error line, the Pause button and
// the training loop's frame pacing.

/** The page's element with this id. */
export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Puts what was thrown on the page's error line. */
export function showError(e: unknown): void {
  $('error').textContent = e instanceof Error ? e.message : String(e);
}

/** The Pause/Resume button: `toggle` flips the page's state and says whether it now runs. */
export function pauseButton(toggle: () => boolean): void {
  $('run').addEventListener('click', () => {
    $('run').textContent = toggle() ? 'Pause' : 'Resume';
  });
}

/**
 * Runs `frame` once per animation frame for the life of the page; what it throws
 * goes on the error line, and then `onError` runs.
 */
export async function everyFrame(frame: () => Promise<void>, onError: () => void): Promise<never> {
  for (;;) {
    try {
      await frame();
    } catch (e) {
      showError(e);
      onError();
    }
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}

/** Runs the page's main; what it throws goes on the error line. */
export function startPage(main: () => Promise<void>): void {
  main().catch(showError);
}
