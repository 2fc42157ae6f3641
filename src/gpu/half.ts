// IEEE 754 binary16 on the host: the bits of float16 storage in and out of
// Uint16Arrays, correctly rounded (to nearest, ties to even), with subnormals,
// ±Infinity and NaN.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits nearest to `value` (ties to even); overflow gives ±Infinity, NaN stays NaN. */
export function toHalfBits(value: number): number {
  // The f32 bits give only the sign and the class (NaN, infinity); the rounding is
  // done from the double itself, so no value is rounded twice.
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0); // NaN keeps a quiet payload
  const magnitude = Math.abs(value);
  if (magnitude >= 65520) return sign | 0x7c00; // at or past the midpoint of 65504 and 2^16
  if (magnitude < 2 ** -14) {
    // subnormal (or zero): units of 2^-24, rounded to nearest even
    return sign | roundHalfEven(magnitude * 2 ** 24);
  }
  const e = Math.floor(Math.log2(magnitude));
  const exp = e + (2 ** e > magnitude ? -1 : 2 ** (e + 1) <= magnitude ? 1 : 0); // log2 may be off by one near powers of 2
  const scaled = roundHalfEven((magnitude / 2 ** exp - 1) * 1024); // 10 mantissa bits
  // a mantissa that rounds up to 1024 carries into the exponent, which the sum does
  return sign | (((exp + 15) << 10) + scaled);
}

function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest > 0.5 || (rest === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/** The number a binary16 bit pattern holds. */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Float16 bits of every value (a Uint16Array, as float16 storage takes). */
export function toHalf(values: ArrayLike<number>): Uint16Array<ArrayBuffer> {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]);
  return out;
}

/** The values of float16 bits, as f32. */
export function fromHalf(bits: ArrayLike<number>): Float32Array<ArrayBuffer> {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromHalfBits(bits[i]);
  return out;
}
