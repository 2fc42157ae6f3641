// Seeded, procedurally drawn 28×28 glyph images for a small CNN (demo/cnn.html): the
// digits 0–9 drawn on an OffscreenCanvas in a random font family, size, position and
// rotation, with a random stroke weight and Gaussian pixel noise. Nothing is
// downloaded; the same seed draws the same images (given the same fonts). Browser
// only (OffscreenCanvas).

import { normalSampler, seededRandom } from 'webgpu-batchnorm';

export const GLYPH_SIZE = 28;
export const GLYPH_CLASSES = 10;

export interface GlyphSet {
  /** [count, 28, 28, 1] grey levels, about 0 (background) … 1 (ink), plus noise. */
  x: Float32Array<ArrayBuffer>;
  labels: Int32Array<ArrayBuffer>;
  count: number;
}

export interface GlyphOptions {
  count: number;
  seed: number;
  /** Standard deviation of the pixel noise (default 0.15). */
  noise?: number;
}

const FONTS = ['sans-serif', 'serif', 'monospace'];

/** `count` glyphs, labels cycling 0…9 in a seeded order. */
export function makeGlyphs({ count, seed, noise = 0.15 }: GlyphOptions): GlyphSet {
  const random = seededRandom(seed);
  const gauss = normalSampler(random);
  const n = GLYPH_SIZE;
  const canvas = new OffscreenCanvas(n, n);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const x = new Float32Array(count * n * n);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const digit = Math.floor(random() * GLYPH_CLASSES);
    labels[i] = digit;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, n, n);
    const size = 14 + random() * 10;
    const weight = random() < 0.5 ? 'normal' : 'bold';
    ctx.font = `${weight} ${size.toFixed(1)}px ${FONTS[Math.floor(random() * FONTS.length)]}`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.translate(n / 2 + (random() - 0.5) * 8, n / 2 + (random() - 0.5) * 8);
    ctx.rotate((random() - 0.5) * 0.7);
    ctx.fillStyle = '#fff';
    ctx.fillText(String(digit), 0, 1);
    const pixels = ctx.getImageData(0, 0, n, n).data;
    const offset = i * n * n;
    for (let p = 0; p < n * n; p++) x[offset + p] = pixels[4 * p] / 255 + noise * gauss();
  }
  return { x, labels, count };
}
