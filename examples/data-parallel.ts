// Data-parallel training of the demo's network over two GPUDevices in one Node
// process, checked against single-device training on the full batch.
//
// Each step's batch of N rows is split into shards, one per device. The devices
// hold identical copies of the network (same seeds, so the same initial weights)
// and meet at an all-reduce, a plain function here (in a real cluster: NCCL,
// MPI, a WebSocket server...), at three kinds of points:
//   1. forward, at each BatchNorm: every shard sends its statistics
//      (bn.statistics(z, shape, encoder): { count, mean, m2 } per feature), the merge
//      is the whole batch's, and every shard normalizes with it
//      (bn.forward(z, shape, { encoder, statistics }));
//   2. backward, at each BatchNorm: every shard sends its gradient sums
//      (bn.gradientSums(dy, encoder): { count, Σdy, Σdy·x̂ }), and every shard's dx
//      takes the merged ones (bn.backward(dy, { encoder, sums })); dγ and dβ come out
//      already the whole batch's;
//   3. after backward: the Linear layers' dW and db are summed, and every device
//      applies the same optimizer update to the same gradient, so the copies stay
//      identical (checked at the end, bit for bit).
// Activations stay on their device; only these small records (and the loss
// gradient, rescaled on the host) are read back and uploaded: 8 round trips a step.
// Training then follows single-device training on the whole batch: the loss curves
// agree to f32 rounding (different reduction orders), and this script fails if not
// (see TOLERANCE and CHECKED_STEPS).
//
//   npm run example:data-parallel -- [--steps 40] [--every 4] [--split 64,64]
import {
  BatchNorm,
  createOptimizer,
  Linear,
  seededRandom,
  Sequential,
  SoftmaxCrossEntropy,
  type GradientSums,
  type Layer,
  type Optimizer,
  type Parameter,
  type ShardStatistics,
} from 'webgpu-batchnorm';
import { requestDevice } from 'webgpu-batchnorm/node';
import { makeDataset, shuffled, type Dataset } from './dataset.js';
import { buildLayers, DEFAULT_RUN, type RunConfig } from './training.js';

/** The demo's network with batch norm: 12 → [Linear (no bias) → BatchNorm → sigmoid] × 3 → Linear → 5, Momentum 0.05. */
export const CONFIG: RunConfig = { ...DEFAULT_RUN, batchNorm: true };

/**
 * The loss curves may differ by f32 rounding only (reductions in another order: the
 * batch's statistics merged from shards, dW summed from two halves): at every
 * checked step, |data-parallel − one device| ≤ TOLERANCE · |one device|. Measured on
 * SwiftShader: at most 1.6e-7 over the first 30 steps. Mistakes are far outside it:
 * shards normalizing with their own statistics are off by 4e-4 at step 0, and shards'
 * mean-loss gradients not rescaled by n_i/N by 2e-2 at step 1.
 */
export const TOLERANCE = 1e-5;

/**
 * Steps whose losses are checked. This network (sigmoid, Momentum 0.05) amplifies any
 * difference in f32 rounding: one device against itself with every initial parameter
 * moved by ±1 ulp drifts apart by 1e-5 near step 60 and 1e-1 by step 120, and the
 * data-parallel run drifts from one device alike (1e-5 at step 56). The two curves
 * are the same training until then; later steps are printed but not checked.
 */
export const CHECKED_STEPS = 40;

// ---- the all-reduce ------------------------------------------------------------

/**
 * Merges what every device sent at one synchronization point, and returns the one
 * result that every device gets back: batch norm statistics are merged (Chan's
 * formula, float64), batch norm gradient sums added (float64), and lists of
 * parameter gradients summed element by element (in float64, rounded once to f32).
 * Both merges are in a canonical order and the sum in device order, so the result
 * does not depend on which device answered first.
 */
export function allReduce(records: ShardStatistics[]): ShardStatistics;
export function allReduce(records: GradientSums[]): GradientSums;
export function allReduce(records: Float32Array[][]): Float32Array<ArrayBuffer>[];
export function allReduce(records: (ShardStatistics | GradientSums | Float32Array[])[]): ShardStatistics | GradientSums | Float32Array<ArrayBuffer>[] {
  const first = records[0];
  if (Array.isArray(first)) {
    return first.map((_, p) => {
      const total = new Float64Array(first[p].length);
      for (const list of records as Float32Array[][]) list[p].forEach((v, j) => (total[j] += v));
      return Float32Array.from(total);
    });
  }
  if ('m2' in first) return BatchNorm.mergeStatistics(records as ShardStatistics[]);
  return BatchNorm.mergeGradientSums(records as GradientSums[]);
}

// ---- what crosses between devices: small records, read back and uploaded ----------

const INPUT = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;

/** Submits `encoder` with copies of `parts` into a staging buffer, and resolves with them. */
async function read(device: GPUDevice, encoder: GPUCommandEncoder, parts: { buffer: GPUBuffer; floats: number }[]): Promise<Float32Array<ArrayBuffer>[]> {
  const offsets = parts.map((_, i) => parts.slice(0, i).reduce((n, p) => n + p.floats * 4, 0));
  const bytes = offsets[parts.length - 1] + parts[parts.length - 1].floats * 4;
  const staging = device.createBuffer({ label: 'all-reduce readback', size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  parts.forEach((p, i) => encoder.copyBufferToBuffer(p.buffer, 0, staging, offsets[i], p.floats * 4));
  device.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(GPUMapMode.READ);
    const all = staging.getMappedRange();
    return parts.map((p, i) => new Float32Array(all.slice(offsets[i], offsets[i] + p.floats * 4)));
  } finally {
    staging.destroy();
  }
}

// ---- one device's copy of the network -----------------------------------------------

/**
 * A device with its copy of the layers, a loss, an optimizer that reads the
 * all-reduced gradients, and buffers for what the all-reduce sends back. Activations
 * stay on the device; only statistics, sums, dlogits and gradients are read back.
 */
class Replica {
  readonly layers: Layer[];
  readonly loss: SoftmaxCrossEntropy;
  readonly optimizer: Optimizer;
  readonly x: GPUBuffer;
  readonly labels: GPUBuffer;
  readonly dlogits: GPUBuffer;
  /** merged statistics and gradient sums by BatchNorm layer index */
  readonly statistics = new Map<number, GPUBuffer>();
  readonly sums = new Map<number, GPUBuffer>();
  /** The summed dW and db of each Linear (in layer order, weight then bias), uploaded by the all-reduce. */
  private readonly reduced: GPUBuffer[] = [];
  private readonly own: GPUBuffer[] = [];

  constructor(
    readonly device: GPUDevice,
    readonly rows: number,
    readonly features: number,
    readonly classes: number,
  ) {
    this.layers = buildLayers(device, features, classes, CONFIG); // same seeds on every device: same weights
    this.loss = new SoftmaxCrossEntropy(device, { classes });
    const make = (label: string, floats: number) => {
      const b = device.createBuffer({ label, size: Math.ceil(floats / 4) * 16, usage: INPUT() });
      this.own.push(b);
      return b;
    };
    this.x = make('shard x', rows * features);
    this.labels = make('shard labels', rows);
    this.dlogits = make('shard dlogits, rescaled', rows * classes);
    const parameters: Parameter[] = [];
    this.layers.forEach((layer, k) => {
      if (layer instanceof Linear) {
        for (const { name, value, size } of layer.parameterList()) {
          const grad = make(`all-reduced d${name} of layer ${k}`, size);
          this.reduced.push(grad);
          parameters.push({ name: `${k}.${name}`, value, size, grad });
        }
      } else if (layer instanceof BatchNorm) {
        this.statistics.set(k, make(`merged statistics of layer ${k}`, 4 * layer.numFeatures));
        this.sums.set(k, make(`merged gradient sums of layer ${k}`, 3 * layer.numFeatures));
        // backward with the merged sums leaves the whole batch's dγ and dβ in these: no all-reduce needed
        const p = layer.parameters!;
        const g = layer.gradients!;
        parameters.push({ name: `${k}.gamma`, value: p.gamma, grad: g.dgamma }, { name: `${k}.beta`, value: p.beta, grad: g.dbeta });
      }
    });
    this.optimizer = createOptimizer(device, parameters, CONFIG.optimizer);
  }

  encoder(): GPUCommandEncoder {
    return this.device.createCommandEncoder({ label: 'data-parallel segment' });
  }

  /** Uploads the all-reduced Linear gradients and submits the update (the same on every device). */
  update(gradients: Float32Array<ArrayBuffer>[]): void {
    gradients.forEach((g, i) => this.device.queue.writeBuffer(this.reduced[i], 0, g));
    this.optimizer.step();
  }

  /** Every parameter by Sequential's names (`<layer>.weight`, ...), read back. */
  async parameters(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const [k, layer] of this.layers.entries()) {
      if (layer instanceof Linear) {
        const w = await layer.getWeights();
        out[`${k}.weight`] = w.weight;
        if (w.bias) out[`${k}.bias`] = w.bias;
      } else if (layer instanceof BatchNorm) {
        const s = await layer.getState();
        out[`${k}.gamma`] = s.gamma!;
        out[`${k}.beta`] = s.beta!;
      }
    }
    return out;
  }

  destroy(): void {
    for (const layer of this.layers) layer.destroy();
    this.loss.destroy();
    this.optimizer.destroy();
    for (const b of this.own) b.destroy();
  }
}

/**
 * One data-parallel training step, shard i (its rows of x and labels) on replica i.
 * Each device records its layers into an encoder up to the next synchronization
 * point, submits it with the copy of what it sends, and waits for the all-reduce:
 * 3 + 1 + 3 + 1 round trips for the demo's network (one per BatchNorm each way,
 * the loss, the parameter gradients). Returns the mean loss over the whole batch.
 */
async function dataParallelStep(replicas: Replica[], xs: Float32Array<ArrayBuffer>[], labels: Uint32Array<ArrayBuffer>[]): Promise<number> {
  const rows = replicas.map((r) => r.rows);
  const total = rows.reduce((a, b) => a + b, 0);
  const layers = replicas[0].layers;
  const { features, classes } = replicas[0];
  replicas.forEach((r, i) => {
    r.device.queue.writeBuffer(r.x, 0, xs[i]);
    r.device.queue.writeBuffer(r.labels, 0, labels[i]);
  });
  let encoders = replicas.map((r) => r.encoder());
  /** Every device submits its encoder with the copies `parts(i)` asks for; the all-reduce gets what they read. */
  const exchange = (parts: (r: Replica, i: number) => { buffer: GPUBuffer; floats: number }[]) =>
    Promise.all(replicas.map((r, i) => read(r.device, encoders[i], parts(r, i))));

  // forward
  let a = replicas.map((r) => r.x);
  let width = features;
  for (let k = 0; k < layers.length; k++) {
    const layer = layers[k];
    if (layer instanceof BatchNorm) {
      const c = layer.numFeatures;
      const sent = await exchange((r, i) => [{ buffer: (r.layers[k] as BatchNorm).statistics(a[i], [rows[i], c], encoders[i]), floats: 4 * c }]);
      const merged = layer.statisticsToFloats(allReduce(sent.map(([f]) => layer.statisticsFromFloats(f))));
      encoders = replicas.map((r) => r.encoder());
      a = replicas.map((r, i) => {
        const statistics = r.statistics.get(k)!;
        r.device.queue.writeBuffer(statistics, 0, merged);
        return (r.layers[k] as BatchNorm).forward(a[i], [rows[i], c], { encoder: encoders[i], statistics });
      });
    } else {
      a = replicas.map((r, i) => r.layers[k].forward(a[i], [rows[i], width], encoders[i]));
      width = layer.features?.out ?? width;
    }
  }

  // loss: each shard's dlogits are the gradient of its own mean loss, (1/n_i)·Σ_shard;
  // the whole batch's mean loss is Σ_i (n_i/N)·loss_i, so its gradient on shard i's rows
  // is (n_i/N)·dlogits_i. Rescaled here, before backward, everything downstream (the
  // batch norm sums, dW, db) is the gradient of the whole batch's mean loss, and the
  // all-reduce only has to add.
  const dlogits = replicas.map((r, i) => r.loss.forward(a[i], r.labels, [rows[i], classes], encoders[i])!);
  const [sent, readings] = await Promise.all([
    exchange((_, i) => [{ buffer: dlogits[i], floats: rows[i] * classes }]), // submitted first,
    Promise.all(replicas.map((r) => r.loss.read())), // then the copy of each shard's mean loss
  ]);
  const loss = readings.reduce((sum, reading, i) => sum + (reading.loss * rows[i]) / total, 0);
  replicas.forEach((r, i) => r.device.queue.writeBuffer(r.dlogits, 0, sent[i][0].map((g) => (g * rows[i]) / total)));

  // backward
  encoders = replicas.map((r) => r.encoder());
  let d = replicas.map((r) => r.dlogits);
  const grads: { buffer: GPUBuffer; floats: number }[][] = replicas.map(() => []); // each device's dW, db, in layer order
  for (let k = layers.length - 1; k >= 0; k--) {
    const layer = layers[k];
    if (layer instanceof BatchNorm) {
      const c = layer.numFeatures;
      const sent = await exchange((r, i) => [{ buffer: (r.layers[k] as BatchNorm).gradientSums(d[i], encoders[i]), floats: 3 * c }]);
      const merged = layer.gradientSumsToFloats(allReduce(sent.map(([f]) => layer.gradientSumsFromFloats(f))));
      encoders = replicas.map((r) => r.encoder());
      d = replicas.map((r, i) => {
        const sums = r.sums.get(k)!;
        r.device.queue.writeBuffer(sums, 0, merged);
        return (r.layers[k] as BatchNorm).backward(d[i], { encoder: encoders[i], sums }).dx;
      });
    } else if (layer instanceof Linear) {
      d = replicas.map((r, i) => {
        const g = (r.layers[k] as Linear).backward(d[i], encoders[i], { inputGradient: k > 0 });
        const size = layer.inFeatures * layer.outFeatures;
        grads[i].unshift({ buffer: g.dweight, floats: size }, ...(g.dbias ? [{ buffer: g.dbias, floats: layer.outFeatures }] : []));
        return g.dx!;
      });
    } else {
      d = replicas.map((r, i) => r.layers[k].backward(d[i], encoders[i]).dx!);
    }
  }

  // the same summed gradients, the same update, on every device
  const summed = allReduce(await exchange((_, i) => grads[i]));
  for (const r of replicas) r.update(summed);
  return loss;
}

// ---- the comparison -------------------------------------------------------------------

export interface Options {
  /** training steps */
  steps: number;
  /** print every this many steps (and the last) */
  every: number;
  /** rows of each device's shard; their sum is the batch (the demo's 128 by default) */
  split: number[];
  /** devices to use, one per shard (the caller keeps and destroys them); by default requestDevice() for each */
  devices?: GPUDevice[];
  dataset?: Dataset;
  log: (line: string) => void;
}

export interface StepRow {
  step: number;
  single: number;
  parallel: number;
  /** |parallel − single| / |single| */
  relative: number;
}

export interface Result {
  rows: StepRow[];
  /** the largest relative loss difference over the checked steps (the first CHECKED_STEPS) */
  maxRelative: number;
  /** the largest |difference| between any two devices' parameters at the end (0: in lockstep) */
  replicaSpread: number;
  /** the largest |difference| between the data-parallel and single-device parameters at the end */
  parameterDifference: number;
  ok: boolean;
}

const maxDifference = (a: Record<string, Float32Array>, b: Record<string, Float32Array>) =>
  Math.max(...Object.keys(b).map((name) => a[name].reduce((m, v, j) => Math.max(m, Math.abs(v - b[name][j])), 0)));

/**
 * Trains the demo's network both ways from the same initial weights on the same
 * batches: on one device with the whole batch (Sequential.trainStep), and on one
 * device per shard with the all-reduce; returns both loss curves.
 */
export async function trainDataParallel(options: Partial<Options> = {}): Promise<Result> {
  const { steps = CHECKED_STEPS, every = 4, split = [CONFIG.batchSize / 2, CONFIG.batchSize / 2], log = console.log } = options;
  const dataset = options.dataset ?? makeDataset();
  const { features, classes } = dataset.options;
  const batch = split.reduce((a, b) => a + b, 0);
  if (split.some((n) => !(n >= 2) || !Number.isInteger(n))) throw new Error(`every shard needs 2 or more rows, got ${split}`);
  const batches = Math.floor(dataset.train.count / batch);
  if (batches < 1) throw new Error(`a batch of ${batch} rows is more than the ${dataset.train.count} training rows`);
  const own = !options.devices;
  const devices = options.devices ?? (await Promise.all(split.map(() => requestDevice())));
  if (devices.length < split.length) throw new Error(`${split.length} shards need ${split.length} devices, got ${devices.length}`);
  const replicas = split.map((n, i) => new Replica(devices[i], n, features, classes));
  // the reference: the same network, the same seeds, one device, the whole batch, through Sequential
  const single = new Sequential(devices[0], buildLayers(devices[0], features, classes, CONFIG)).compile({ optimizer: CONFIG.optimizer });
  try {
    const random = seededRandom(CONFIG.seed);
    let order: Uint32Array = new Uint32Array(0);
    const rows: StepRow[] = [];
    log(`data-parallel: batch ${batch} in shards of ${split.join(' + ')} rows on ${split.length} devices, vs one device; tolerance ${TOLERANCE} relative over the first ${CHECKED_STEPS} steps`);
    log('  step   one device    data-parallel   |difference|   relative');
    for (let step = 0; step < steps; step++) {
      const b = step % batches;
      if (b === 0) order = shuffled(dataset.train.count, random);
      const picked = order.subarray(b * batch, (b + 1) * batch);
      const x = new Float32Array(batch * features);
      const labels = new Uint32Array(batch);
      picked.forEach((from, to) => {
        x.set(dataset.train.x.subarray(from * features, (from + 1) * features), to * features);
        labels[to] = dataset.train.labels[from];
      });

      single.trainStep(x, labels, [batch, features]);
      const one = (await single.readLoss()).loss;

      let at = 0;
      const shards = split.map((n) => ({ x: x.subarray(at * features, (at + n) * features), labels: labels.subarray(at, (at += n)) }));
      const parallel = await dataParallelStep(replicas, shards.map((s) => s.x), shards.map((s) => s.labels));

      const row = { step, single: one, parallel, relative: Math.abs(parallel - one) / Math.abs(one) };
      rows.push(row);
      const beyond = step < CHECKED_STEPS && !(row.relative <= TOLERANCE);
      if (step % every === 0 || step === steps - 1 || beyond) {
        const flag = beyond ? '   <-- beyond tolerance' : step < CHECKED_STEPS ? '' : '   (not checked)';
        log(`${String(step).padStart(6)}   ${one.toFixed(7).padStart(10)}   ${parallel.toFixed(7).padStart(13)}   ${Math.abs(parallel - one).toExponential(2).padStart(12)}   ${row.relative.toExponential(2).padStart(8)}${flag}`);
      }
    }
    const params = await Promise.all(replicas.map((r) => r.parameters()));
    const replicaSpread = Math.max(...params.slice(1).map((p) => maxDifference(p, params[0])));
    const parameterDifference = maxDifference(params[0], await single.getParameters());
    const maxRelative = Math.max(...rows.slice(0, CHECKED_STEPS).map((r) => r.relative));
    const ok = maxRelative <= TOLERANCE && replicaSpread === 0;
    log(`largest relative loss difference ${maxRelative.toExponential(2)} over ${Math.min(steps, CHECKED_STEPS)} checked steps (tolerance ${TOLERANCE}); ` +
      `parameters after ${steps} steps: devices differ by ${replicaSpread} (in lockstep: 0), from one device by ${parameterDifference.toExponential(2)}`);
    return { rows, maxRelative, replicaSpread, parameterDifference, ok };
  } finally {
    single.destroy();
    for (const r of replicas) r.destroy();
    if (own) for (const d of devices) d.destroy();
  }
}

function usage(problem: string): never {
  throw new Error(`${problem}; usage: [--steps 40] [--every 4] [--split 64,64] (rows of each device's shard)`);
}

function parseArgs(args: string[]): Partial<Options> {
  const options: Partial<Options> = {};
  for (let i = 0; i < args.length; i++) {
    const value = args[i + 1];
    const count = (n: number) => (Number.isInteger(n) && n > 0 ? n : usage(`${args[i]} takes a positive whole number, got ${value}`));
    if (args[i] === '--steps') options.steps = count(Number(value));
    else if (args[i] === '--every') options.every = count(Number(value));
    else if (args[i] === '--split') options.split = (value ?? '').split(',').map(Number);
    else usage(`unknown argument ${args[i]}`);
    i++;
  }
  return options;
}

/**
 * Trains both ways and prints the loss curves; throws (so `node scripts/run-ts.mjs`
 * exits with 1) when they differ beyond TOLERANCE or the devices fell out of lockstep.
 */
export async function main(args: string[] = [], options: Partial<Options> = {}): Promise<Result> {
  const result = await trainDataParallel({ ...parseArgs(args), ...options });
  if (!result.ok) {
    throw new Error(`data-parallel training diverged from one device: relative loss difference up to ${result.maxRelative.toExponential(2)} ` +
      `(tolerance ${TOLERANCE}), devices' parameters differ by ${result.replicaSpread}`);
  }
  return result;
}
