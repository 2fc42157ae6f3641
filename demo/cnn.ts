// The CNN page: a small TF.js CNN with batch norm (demo/cnn-model.ts) learning seeded,
// procedurally drawn digit glyphs (examples/glyphs.ts), on TF.js's webgpu backend, with
// a switch between TF.js's batch norm and webgpu-batchnorm's (useWebGPUBatchNorm /
// restore), live training loss and held-out accuracy, and steps per second for each
// implementation, counted after its warm-up (its first steps compile shaders).
// URL parameters: ?impl=tfjs|ours (the first), ?every=N (switch every N steps; 0: never),
// ?batch=N (default CNN_DEFAULTS.batch).
import { GLYPH_CLASSES, GLYPH_SIZE, makeGlyphs, type GlyphSet } from '../examples/glyphs.js';
import { CNN_DEFAULTS, describeCnn, GlyphTrainer, IMPLEMENTATION_LABELS, loadTfjs, type Implementation, type Tfjs } from './cnn-model.js';
import { drawChart, type Series } from './plot.js';
import { $, everyFrame, pauseButton, startPage } from './page.js';

const TRAIN = 3000;
const TEST = 500;
/** Steps between loss reads (the loss stays on the GPU in between). */
const CHUNK = 5;
const EVALUATE_EVERY = 20;
/** Chunks of each implementation left out of its steps/s (shader compilation on first use). */
const WARM_CHUNKS = 2;
const SAMPLES = { rows: 4, cols: 5 };
const COLORS: Record<Implementation, string> = { tfjs: '#d62728', ours: '#1f77b4' };
const IMPLS: Implementation[] = ['tfjs', 'ours'];
/** For the charts' legends (the table says it in full). */
const SHORT_LABELS: Record<Implementation, string> = { tfjs: "TF.js's batch norm", ours: 'webgpu-batchnorm' };

interface Lane {
  steps: number;
  chunks: number;
  timedSteps: number;
  busyMs: number;
  loss: Series['points'];
  accuracy: Series['points'];
  lastLoss: number;
  lastAccuracy: number;
}

const newLane = (): Lane => ({ steps: 0, chunks: 0, timedSteps: 0, busyMs: 0, loss: [], accuracy: [], lastLoss: NaN, lastAccuracy: NaN });

let tfjs: Tfjs;
let train: GlyphSet;
let test: GlyphSet;
let trainer: GlyphTrainer | null = null;
let lanes: Record<Implementation, Lane> = { tfjs: newLane(), ours: newLane() };
let predicted: Int32Array = new Int32Array(0);
let running = true;
let restartRequested = true;
let sawNaN = false;
/** The most layer calls the adapter has counted on our kernels in one stretch of 'ours' (for tests: > 0 once it ran). */
let oursForward = 0;

const params = new URLSearchParams(location.search);
const config = { ...CNN_DEFAULTS, batch: Number(params.get('batch')) || CNN_DEFAULTS.batch };
const selected = (): Implementation => (document.querySelector<HTMLInputElement>('input[name=impl]:checked')?.value as Implementation) ?? 'ours';
const select = (impl: Implementation) => {
  for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=impl]'))) r.checked = r.value === impl;
};
const every = () => ($<HTMLInputElement>('alternate').checked ? Math.max(CHUNK, Math.round(Number($<HTMLInputElement>('every').value) / CHUNK) * CHUNK) : 0);

function restart() {
  restartRequested = false;
  trainer?.dispose();
  trainer = new GlyphTrainer(tfjs, train, test, config);
  lanes = { tfjs: newLane(), ours: newLane() };
  predicted = new Int32Array(0);
  sawNaN = false;
  oursForward = 0;
  $('error').textContent = '';
  render();
}

/** One chunk of steps on the selected implementation, then the loss; every EVALUATE_EVERY steps, held-out accuracy. */
async function advance(t: GlyphTrainer) {
  const n = every();
  if (n && t.steps > 0 && t.steps % n === 0 && lanes[t.implementation].steps > 0 && t.implementation === selected()) {
    select(t.implementation === 'ours' ? 'tfjs' : 'ours');
  }
  const impl = selected();
  if (impl !== t.implementation) {
    // continue the curves where the other implementation left them
    const from = lanes[t.implementation];
    const to = lanes[impl];
    const last = from.loss.at(-1);
    if (last) {
      to.loss.push({ x: NaN, y: NaN }, last);
      from.loss.push({ x: last.x, y: NaN });
    }
    const lastAcc = from.accuracy.at(-1);
    if (lastAcc) {
      to.accuracy.push({ x: NaN, y: NaN }, lastAcc);
      from.accuracy.push({ x: lastAcc.x, y: NaN });
    }
    t.use(impl);
  }
  const lane = lanes[impl];
  const start = performance.now();
  for (let i = 0; i < CHUNK; i++) t.step();
  const loss = await t.readLoss();
  const ms = performance.now() - start;
  lane.steps += CHUNK;
  if (++lane.chunks > WARM_CHUNKS) {
    lane.busyMs += ms;
    lane.timedSteps += CHUNK;
  }
  if (!Number.isFinite(loss)) sawNaN = true;
  if (impl === 'ours') oursForward = Math.max(oursForward, t.stats?.forward ?? 0);
  lane.loss.push({ x: t.steps, y: loss });
  lane.lastLoss = loss;
  if (t.steps % EVALUATE_EVERY === 0) {
    const held = await t.evaluate(SAMPLES.rows * SAMPLES.cols);
    if (!Number.isFinite(held.accuracy)) sawNaN = true;
    lane.accuracy.push({ x: t.steps, y: held.accuracy });
    lane.lastAccuracy = held.accuracy;
    predicted = held.predicted;
  }
}

const rate = (l: Lane) => (l.busyMs > 0 ? (l.timedSteps / l.busyMs) * 1000 : NaN);
const shown = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '–');

function drawSamples(canvas: HTMLCanvasElement) {
  const ratio = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#222';
  ctx.fillText('held-out glyphs → predicted', 4, 16);
  const n = GLYPH_SIZE;
  const image = new ImageData(n, n);
  const tile = new OffscreenCanvas(n, n);
  const tctx = tile.getContext('2d')!;
  const cell = Math.min((width - 8) / SAMPLES.cols, (height - 28) / SAMPLES.rows);
  const size = cell - 16;
  for (let k = 0; k < SAMPLES.rows * SAMPLES.cols; k++) {
    for (let p = 0; p < n * n; p++) {
      const v = Math.max(0, Math.min(255, Math.round(255 * test.x[k * n * n + p])));
      image.data.set([v, v, v, 255], 4 * p);
    }
    tctx.putImageData(image, 0, 0);
    const x = 4 + (k % SAMPLES.cols) * cell;
    const y = 26 + Math.floor(k / SAMPLES.cols) * cell;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tile, x, y, size, size);
    if (k < predicted.length) {
      ctx.fillStyle = predicted[k] === test.labels[k] ? '#1a7f37' : '#d62728';
      ctx.fillText(String(predicted[k]), x + size + 3, y + size / 2 + 4);
    }
  }
}

function render() {
  const t = trainer;
  const series = (key: 'loss' | 'accuracy') => IMPLS.map((impl) => ({ label: SHORT_LABELS[impl], color: COLORS[impl], points: lanes[impl][key] }));
  const compiling = !!t && IMPLS.some((i) => lanes[i].steps > 0 && lanes[i].chunks <= WARM_CHUNKS);
  drawChart($('loss'), { title: 'training loss (softmax cross-entropy)', series: series('loss'), xLabel: 'step', placeholder: 'compiling shaders…' });
  drawChart($('accuracy'), {
    title: `held-out accuracy (${TEST} glyphs, inference mode)`,
    series: series('accuracy'),
    yRange: [0, 1],
    guide: { y: 1 / GLYPH_CLASSES, label: 'chance' },
    xLabel: 'step',
    placeholder: `first held-out accuracy at step ${EVALUATE_EVERY}`,
  });
  drawSamples($('samples'));
  $('status').textContent = compiling ? 'compiling shaders… (the first steps of each implementation build its GPU pipelines; steps/s is counted after them)' : '';
  $('stats').innerHTML = IMPLS.map((impl) => {
    const l = lanes[impl];
    const r = rate(l);
    const current = t?.implementation === impl ? ' class="current"' : '';
    const cells = [l.steps, l.steps === 0 ? '–' : l.timedSteps === 0 ? 'warming up…' : shown(r, 2), shown(l.lastLoss, 4), shown(l.lastAccuracy, 3)];
    // data-*: for scripts that watch the page (demo/screenshot-cnn.ts, tests/cnn-demo-chrome.test.ts)
    return `<tr${current} data-impl="${impl}" data-steps="${l.steps}" data-rate="${Number.isFinite(r) ? r : ''}" data-accuracy="${Number.isFinite(l.lastAccuracy) ? l.lastAccuracy : ''}" data-loss="${l.lastLoss}"><td><span class="swatch" style="background:${COLORS[impl]}"></span>${IMPLEMENTATION_LABELS[impl]}</td>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  }).join('');
  const [a, b] = [rate(lanes.ours), rate(lanes.tfjs)];
  $('speedup').textContent = Number.isFinite(a) && Number.isFinite(b) ? `webgpu-batchnorm: ${(a / b).toFixed(2)}× the training steps per second of TF.js's batch norm (same model, same TF.js)` : '';
  document.body.dataset.steps = String(t?.steps ?? 0);
  document.body.dataset.nan = String(sawNaN);
  document.body.dataset.oursForward = String(oursForward);
}

async function loop() {
  await everyFrame(
    async () => {
      if (restartRequested) restart();
      if (running && trainer) {
        await advance(trainer);
        render();
      }
    },
    () => (running = false),
  );
}

async function main() {
  $('network').textContent = `${GLYPH_SIZE}×${GLYPH_SIZE}×1 → ${describeCnn(config)}`;
  if (params.get('impl') === 'tfjs' || params.get('impl') === 'ours') select(params.get('impl') as Implementation);
  if (params.has('every')) {
    const n = Number(params.get('every'));
    $<HTMLInputElement>('alternate').checked = n > 0;
    if (n > 0) $<HTMLInputElement>('every').value = String(n);
  }
  train = makeGlyphs({ count: TRAIN, seed: 1 });
  test = makeGlyphs({ count: TEST, seed: 2 });
  $('data').textContent = `digits 0–9 drawn on an OffscreenCanvas (seeded font, size, position, rotation, noise): ${TRAIN} to train, ${TEST} held out`;
  if (!navigator.gpu) throw new Error('This browser has no WebGPU (navigator.gpu is missing). Chrome 113 or later; pages must be served from https or http://localhost.');
  tfjs = await loadTfjs();
  $('adapter').textContent = tfjs.adapter;
  $('reset').addEventListener('click', () => (restartRequested = true));
  pauseButton(() => (running = !running));
  window.addEventListener('resize', render);
  await loop();
}

startPage(main);
