// Assertions that work in Node and in the browser: they throw plain Errors.

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

export function relativeL2(got: ArrayLike<number>, expected: ArrayLike<number>, scale?: number): number {
  let err = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(expected[i]) || !Number.isFinite(got[i])) continue;
    err += (got[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  const denominator = scale ?? Math.sqrt(norm);
  return denominator === 0 ? Math.sqrt(err) : Math.sqrt(err) / denominator;
}

const sameNonFinite = (a: number, b: number) =>
  Number.isFinite(a) === Number.isFinite(b) && (Number.isFinite(a) || Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)));

/**
 * got ≈ expected: NaN and ±Infinity exactly where expected has them, and a relative
 * L2 error over the finite values within tol.
 * `scale` replaces ||expected|| as the denominator where the result is a cancellation
 * (a value near zero whose terms are not). On failure lists the worst elements.
 */
export function expectClose(name: string, got: ArrayLike<number>, expected: ArrayLike<number>, tol: number, scale?: number) {
  check(got.length === expected.length, `${name}: ${got.length} values, expected ${expected.length}`);
  const nanMismatch: number[] = [];
  for (let i = 0; i < expected.length && nanMismatch.length < 10; i++) {
    if (!sameNonFinite(got[i], expected[i])) nanMismatch.push(i);
  }
  const err = relativeL2(got, expected, scale);
  if (nanMismatch.length === 0 && err <= tol) return;
  const worst = Array.from({ length: expected.length }, (_, i) => i)
    .filter((i) => Number.isFinite(expected[i]) && Number.isFinite(got[i]))
    .sort((a, b) => Math.abs(got[b] - expected[b]) - Math.abs(got[a] - expected[a]))
    .slice(0, 8);
  const rows = [...nanMismatch, ...worst].map((i) => `  [${i}] got ${got[i]}  expected ${expected[i]}`);
  throw new Error(
    `${name}: relative L2 error ${err.toExponential(3)} (tolerance ${tol})` +
      (nanMismatch.length ? `, NaN or Infinity not matching the reference at ${nanMismatch.join(', ')}` : '') +
      `\n  index  got  expected\n${rows.join('\n')}`,
  );
}

/** Exact equality, element by element, with the first differences listed. */
export function expectEqual(name: string, got: ArrayLike<number>, expected: ArrayLike<number>) {
  check(got.length === expected.length, `${name}: ${got.length} values, expected ${expected.length}`);
  const diffs: string[] = [];
  for (let i = 0; i < expected.length && diffs.length < 8; i++) {
    if (!Object.is(got[i], expected[i])) diffs.push(`  [${i}] got ${got[i]}  expected ${expected[i]}`);
  }
  check(diffs.length === 0, `${name}: values differ\n${diffs.join('\n')}`);
}

/** fn must throw (or reject) with a message matching pattern. */
export async function expectError(fn: () => unknown, pattern: RegExp, name = 'BatchNormError'): Promise<void> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  check(error instanceof Error, `expected an error matching ${pattern}, but nothing was thrown`);
  check(error.name === name, `expected a ${name}, got ${error.name}: ${error.message}`);
  check(pattern.test(error.message), `error message ${JSON.stringify(error.message)} does not match ${pattern}`);
}

/** Runs fn inside validation, out-of-memory and internal error scopes; throws if any caught an error. */
export async function withoutGpuErrors<T>(device: GPUDevice, fn: () => Promise<T> | T): Promise<T> {
  const filters: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
  for (const f of filters) device.pushErrorScope(f);
  let result: T | undefined;
  let failure: unknown;
  try {
    result = await fn();
  } catch (e) {
    failure = e;
  }
  const errors: string[] = [];
  for (let i = 0; i < filters.length; i++) {
    const e = await device.popErrorScope();
    if (e) errors.push(e.message);
  }
  if (failure) throw failure;
  check(errors.length === 0, `GPU errors:\n${errors.join('\n')}`);
  return result as T;
}
