// Float16 bits on the host: every binary16 value round-trips, ties go to even,
// and subnormals, overflow, ±Infinity and NaN are right.
import { describe, expect, it } from 'vitest';
import { fromHalf, fromHalfBits, toHalf, toHalfBits } from '../src/gpu/half.js';

const isNaNBits = (b: number) => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;

describe('float16 conversion', () => {
  it('every non-NaN bit pattern round-trips exactly', () => {
    const bad: string[] = [];
    for (let b = 0; b < 0x10000 && bad.length < 5; b++) {
      if (isNaNBits(b)) continue;
      const back = toHalfBits(fromHalfBits(b));
      if (back !== b) bad.push(`0x${b.toString(16)} -> ${fromHalfBits(b)} -> 0x${back.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it('values between two halves round to the nearer, ties to the even one', () => {
    const bad: string[] = [];
    for (let b = 0; b < 0x7bff && bad.length < 5; b++) {
      const lo = fromHalfBits(b);
      const hi = fromHalfBits(b + 1);
      const mid = (lo + hi) / 2;
      const even = b % 2 === 0 ? b : b + 1;
      const cases: [number, number][] = [[mid, even], [lo + (hi - lo) * 0.49, b], [lo + (hi - lo) * 0.51, b + 1]];
      for (const [v, want] of cases) if (toHalfBits(v) !== want) bad.push(`${v}: got 0x${toHalfBits(v).toString(16)}, want 0x${want.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it('negative values mirror positive ones, and -0 keeps its sign', () => {
    for (const v of [1, 0.1, 65504, 2 ** -24, 3.14159]) expect(toHalfBits(-v)).toBe(toHalfBits(v) | 0x8000);
    expect(toHalfBits(-0)).toBe(0x8000);
    expect(Object.is(fromHalfBits(0x8000), -0)).toBe(true);
  });

  it('overflow, infinities, NaN and subnormals', () => {
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(65519.99)).toBe(0x7bff);
    expect(toHalfBits(65520)).toBe(0x7c00);
    expect(toHalfBits(1e9)).toBe(0x7c00);
    expect(toHalfBits(-Infinity)).toBe(0xfc00);
    expect(isNaNBits(toHalfBits(NaN))).toBe(true);
    expect(fromHalfBits(0x7c00)).toBe(Infinity);
    expect(fromHalfBits(0x7e00)).toBeNaN();
    expect(toHalfBits(2 ** -24)).toBe(1); // the least subnormal
    expect(toHalfBits(2 ** -25)).toBe(0); // half of it: a tie, to even (zero)
    expect(toHalfBits(1.5 * 2 ** -25)).toBe(1);
    expect(toHalfBits(2 ** -14)).toBe(0x0400); // the least normal
    expect(toHalfBits(2 ** -14 - 2 ** -25)).toBe(0x0400); // a tie between 0x3ff and 0x400: to even
    expect(fromHalfBits(0x3ff)).toBe(1023 * 2 ** -24);
  });

  it('arrays convert element by element', () => {
    const values = [1, -2.5, 0.333, 70000, -1e-8];
    expect(Array.from(toHalf(values))).toEqual(values.map(toHalfBits));
    expect(Array.from(fromHalf(toHalf(values)))).toEqual(values.map((v) => Math.fround(fromHalfBits(toHalfBits(v)))));
  });
});
