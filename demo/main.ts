// The demo page: the same sigmoid MLP with and without batch normalization, trained
// side by side on the GPU, with live curves of training loss and held-out accuracy.
import { adapterName, OPTIMIZERS, type OptimizerKind } from 'webgpu-batchnorm';
import { makeDataset } from '../examples/dataset.js';
import { drawChart, drawScatter, type Series } from './plot.js';
import { $, everyFrame, pauseButton, startPage } from './page.js';
import { DEFAULT_RUN, DEMO_LEARNING_RATES, DEMO_TARGET, TrainingRun, type RunConfig } from '../examples/training.js';

/** Steps between loss reads (the loss stays on the GPU in between) and between held-out evaluations. */
const READ_EVERY = 10;
const EVALUATE_EVERY = 50;
const CLASS_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const NETWORKS = [
  { batchNorm: true, label: 'with batch norm', color: '#1f77b4' },
  { batchNorm: false, label: 'without batch norm', color: '#d62728' },
];

interface Lane {
  label: string;
  color: string;
  run: TrainingRun;
  loss: Series['points'];
  accuracy: Series['points'];
  /**
   * False until the network's first steps and first evaluation have run: those build
   * its GPU pipelines (seconds of shader compilation), which is not training speed.
   */
  warm: boolean;
  /** Steps and time after the warm-up: steps/s leaves the compilation out, for both networks alike. */
  warmSteps: number;
  busyMs: number;
  reached: number | null;
  lastLoss: number;
  lastAccuracy: number;
}

const dataset = makeDataset();
let device: GPUDevice;
let lanes: Lane[] = [];
let running = true;
/** Set by the controls; the loop rebuilds the networks between steps, never while one awaits the GPU. */
let restartRequested = true;

function config(batchNorm: boolean): RunConfig {
  return {
    ...DEFAULT_RUN,
    batchNorm,
    optimizer: { type: $<HTMLSelectElement>('optimizer').value as OptimizerKind, learningRate: Number($<HTMLInputElement>('lr').value) },
    batchSize: Number($<HTMLSelectElement>('batch').value),
    seed: Number($<HTMLInputElement>('seed').value),
  };
}

function stop() {
  for (const lane of lanes) lane.run.destroy();
  lanes = [];
}

function restart() {
  restartRequested = false;
  stop();
  $('error').textContent = '';
  for (const n of NETWORKS) {
    const run = new TrainingRun(device, dataset, config(n.batchNorm));
    lanes.push({ label: n.label, color: n.color, run, loss: [], accuracy: [], warm: false, warmSteps: 0, busyMs: 0, reached: null, lastLoss: NaN, lastAccuracy: NaN });
  }
  render();
}

function requestRestart() {
  restartRequested = true;
}

/**
 * READ_EVERY steps of one network, then its loss (and every EVALUATE_EVERY steps,
 * held-out accuracy). The first call also runs an evaluation whose result it drops,
 * so that both the training and the eval pipelines are built during the warm-up.
 */
async function advance(lane: Lane) {
  const start = performance.now();
  for (let i = 0; i < READ_EVERY; i++) lane.run.step();
  const { loss } = await lane.run.readLoss();
  const step = lane.run.steps;
  lane.loss.push({ x: step, y: loss });
  lane.lastLoss = loss;
  if (!lane.warm) await lane.run.evaluate();
  if (step % EVALUATE_EVERY === 0) {
    const held = await lane.run.evaluate();
    lane.accuracy.push({ x: step, y: held.accuracy });
    lane.lastAccuracy = held.accuracy;
    if (lane.reached === null && held.accuracy >= target()) lane.reached = step;
  }
  if (lane.warm) {
    lane.busyMs += performance.now() - start;
  } else {
    lane.warm = true;
    lane.warmSteps = step;
  }
}

/** Until both networks have run their first steps: their shaders are compiling. */
const compiling = () => lanes.length > 0 && lanes.some((l) => !l.warm);

const target = () => Number($<HTMLInputElement>('target').value);

function render() {
  const first = lanes[0]?.run.model;
  $('network').textContent = first
    ? `MLP ${dataset.options.features} → ${DEFAULT_RUN.hidden.join(' → ')} → ${dataset.options.classes}, ${DEFAULT_RUN.activation}`
    : '';
  drawChart($('loss'), {
    title: 'training loss (softmax cross-entropy)',
    series: lanes.map((l) => ({ label: l.label, color: l.color, points: l.loss })),
    xLabel: 'step',
    placeholder: compiling() ? 'compiling shaders…' : 'waiting for the first steps…',
  });
  drawChart($('accuracy'), {
    title: 'held-out accuracy (eval mode: running statistics)',
    series: lanes.map((l) => ({ label: l.label, color: l.color, points: l.accuracy })),
    yRange: [0, 1],
    guide: { y: target(), label: `target ${target()}` },
    xLabel: 'step',
    placeholder: compiling() ? 'compiling shaders…' : `first held-out accuracy at step ${EVALUATE_EVERY}`,
  });
  $('status').textContent = compiling()
    ? 'compiling shaders… (the first steps of each network build its GPU pipelines; steps/s is counted after this)'
    : '';
  $('stats').innerHTML = lanes
    .map((l) => {
      const rate = l.busyMs > 0 ? ((l.run.steps - l.warmSteps) / l.busyMs) * 1000 : NaN;
      const shown = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
      const cells = [l.run.steps, l.warm ? shown(rate, 1) : 'compiling shaders…', shown(l.lastLoss, 4), shown(l.lastAccuracy, 3), l.reached ?? '–'];
      // data-steps and data-reached: for scripts that watch the page (demo/screenshot.ts)
      return `<tr data-steps="${l.run.steps}" data-reached="${l.reached ?? ''}"><td><span class="swatch" style="background:${l.color}"></span>${l.label}</td>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    })
    .join('');
}

async function loop() {
  await everyFrame(
    async () => {
      if (restartRequested) restart();
      if (running) {
        for (const lane of lanes) await advance(lane);
        render();
      }
    },
    // a bad setting (a negative learning rate, say): say so and wait for the next change
    stop,
  );
}

async function main() {
  const optimizer = $<HTMLSelectElement>('optimizer');
  optimizer.innerHTML = OPTIMIZERS.map((o) => `<option ${o === DEFAULT_RUN.optimizer.type ? 'selected' : ''}>${o}</option>`).join('');
  $<HTMLInputElement>('lr').value = String(DEMO_LEARNING_RATES[DEFAULT_RUN.optimizer.type]);
  $<HTMLInputElement>('target').value = String(DEMO_TARGET);
  const { classes, features, perClass } = dataset.options;
  $('data').textContent = `${classes} interleaved spirals, ${perClass * classes} points lifted to ${features} features on scales 1e-2 … 1e3 (${dataset.test.count} held out)`;
  drawScatter($('scatter'), dataset.test.points, dataset.test.labels, CLASS_COLORS);

  if (!navigator.gpu) throw new Error('This browser has no WebGPU (navigator.gpu is missing). Chrome 113 or later; pages must be served from https or http://localhost.');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('No WebGPU adapter found.');
  device = await adapter.requestDevice({ label: 'demo device' });
  device.addEventListener('uncapturederror', (e) => ($('error').textContent += `${(e as GPUUncapturedErrorEvent).error.message}\n`));
  $('adapter').textContent = adapterName(device);

  optimizer.addEventListener('change', () => {
    $<HTMLInputElement>('lr').value = String(DEMO_LEARNING_RATES[optimizer.value as OptimizerKind]);
    requestRestart();
  });
  for (const id of ['lr', 'batch', 'seed']) $(id).addEventListener('change', requestRestart);
  $('target').addEventListener('change', () => {
    for (const lane of lanes) lane.reached = lane.accuracy.find((p) => p.y >= target())?.x ?? null;
    render();
  });
  $('reset').addEventListener('click', requestRestart);
  pauseButton(() => (running = !running));
  window.addEventListener('resize', render);
  await loop();
}

startPage(main);
