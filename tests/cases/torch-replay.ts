// Replays cases recorded from PyTorch (scripts/torch-fixtures.py) through the public
// BatchNorm API and judges every element by PyTorch's own float32 tolerance
// (torch.testing.assert_close: |got - torch| <= atol + rtol·|torch|), with the float64
// computation from the same inputs as the tiebreaker: an element outside the tolerance
// passes only where PyTorch's float32 result is further from float64 than ours, and is
// counted as such. Used by tests/cases/torch.ts (Node and Chrome) and by the live
// report scripts/torch-parity.ts. Works in Node and in the browser; imports only the public API.
import { BatchNorm, type Layout } from '../../src/index.js';

/** [offset, length] in elements of the float32 (torch, inputs) or float64 (truth) file. */
export type Ref = [number, number];

export const QUANTITIES = ['y', 'dx', 'dgamma', 'dbeta', 'runningMean', 'runningVar'] as const;
export type Quantity = (typeof QUANTITIES)[number];

type Results = Record<Quantity, Ref | null> & { numBatchesTracked: number | null };

export interface TorchStep {
  training: boolean;
  shape: number[];
  x: Ref;
  /** The upstream gradient PyTorch used: seeded, or (y > 0) for 'relu-sum'. */
  dy: Ref;
  torch: Results;
  truth: Results;
}

export interface TorchCase {
  name: string;
  /** 'BatchNorm1d', 'BatchNorm2d' or 'functional' (F.batch_norm without running statistics) */
  module: string;
  layout: Layout;
  numFeatures: number;
  /** What follows the batch norm: 'linear' (loss = Σ y·g, g seeded) or 'relu-sum' (loss = Σ relu(y)). */
  head: string;
  /** Quantities that must equal PyTorch's bit for bit (the seed case's dx = [0, 0]). */
  exact?: Quantity[];
  options: { eps: number; momentum: number | null; affine: boolean; trackRunningStats: boolean };
  initial: { gamma: Ref | null; beta: Ref | null; runningMean: Ref | null; runningVar: Ref | null; numBatchesTracked: number | null };
  steps: TorchStep[];
}

export interface TorchIndex {
  format: number;
  torch: string;
  seed: number;
  tolerance: { rtol: number; atol: number };
  files: { f32: string; f64: string };
  cases: TorchCase[];
}

export interface TorchFixtures {
  index: TorchIndex;
  f32: Float32Array;
  f64: Float64Array;
}

/** The fixture set from its index and the bytes of its two files (little-endian). */
export function torchFixtures(index: TorchIndex, f32Bytes: ArrayBuffer, f64Bytes: ArrayBuffer): TorchFixtures {
  if (index.format !== 1) throw new Error(`PyTorch fixtures: format ${index.format}, this replay reads format 1`);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const f32 = new Float32Array(f32Bytes.byteLength / 4);
  const f64 = new Float64Array(f64Bytes.byteLength / 8);
  if (littleEndian) {
    f32.set(new Float32Array(f32Bytes, 0, f32.length));
    f64.set(new Float64Array(f64Bytes, 0, f64.length));
  } else {
    const v32 = new DataView(f32Bytes);
    const v64 = new DataView(f64Bytes);
    for (let i = 0; i < f32.length; i++) f32[i] = v32.getFloat32(4 * i, true);
    for (let i = 0; i < f64.length; i++) f64[i] = v64.getFloat64(8 * i, true);
  }
  return { index, f32, f64 };
}

const slice32 = (fx: TorchFixtures, ref: Ref) => fx.f32.slice(ref[0], ref[0] + ref[1]);
const slice64 = (fx: TorchFixtures, ref: Ref) => fx.f64.subarray(ref[0], ref[0] + ref[1]);

/** One element outside PyTorch's tolerance where ours is also further from float64 than PyTorch's. */
export interface Miss {
  step: number;
  quantity: Quantity;
  index: number;
  got: number;
  torch: number;
  truth: number;
}

export interface QuantityStats {
  elements: number;
  /** within atol + rtol·|torch| of PyTorch's float32 */
  withinTolerance: number;
  /** outside it, but PyTorch's float32 is further from float64 than ours */
  torchFurther: number;
  /** outside it and further from float64 than PyTorch: failures */
  failed: number;
  /** max |ours − torch| */
  oursVsTorch: number;
  /** max |ours − float64| and max |torch − float64| */
  oursVsTruth: number;
  torchVsTruth: number;
  /** the same in units of the tolerance atol + rtol·|float64| (≤ 1: within PyTorch's tolerance of the truth) */
  oursVsTruthTol: number;
  torchVsTruthTol: number;
}

export interface ReplayResult {
  name: string;
  stats: Record<Quantity, QuantityStats>;
  /** elements that fail (first 20 per case) */
  misses: Miss[];
  /** other failures: null where PyTorch has a value, numBatchesTracked, exact quantities, the relu mask */
  problems: string[];
  /** elements outside the tolerance where PyTorch's float32 is the one further from float64 (first 5) */
  torchFurtherExamples: Miss[];
}

const emptyStats = (): QuantityStats => ({
  elements: 0, withinTolerance: 0, torchFurther: 0, failed: 0,
  oursVsTorch: 0, oursVsTruth: 0, torchVsTruth: 0, oursVsTruthTol: 0, torchVsTruthTol: 0,
});

/** Per quantity: the stats of these results together (empty ones for none). */
export function totalStats(results: Iterable<ReplayResult> = []): Record<Quantity, QuantityStats> {
  const total = Object.fromEntries(QUANTITIES.map((q) => [q, emptyStats()])) as Record<Quantity, QuantityStats>;
  for (const r of results) for (const q of QUANTITIES) mergeStats(total[q], r.stats[q]);
  return total;
}

function mergeStats(into: QuantityStats, s: QuantityStats): void {
  into.elements += s.elements;
  into.withinTolerance += s.withinTolerance;
  into.torchFurther += s.torchFurther;
  into.failed += s.failed;
  for (const k of ['oursVsTorch', 'oursVsTruth', 'torchVsTruth', 'oursVsTruthTol', 'torchVsTruthTol'] as const) {
    into[k] = Math.max(into[k], s[k]);
  }
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

function compare(
  fx: TorchFixtures, result: ReplayResult, step: number, quantity: Quantity,
  got: Float32Array | null, torchRef: Ref | null, truthRef: Ref | null,
) {
  if (torchRef === null) {
    if (got !== null) result.problems.push(`step ${step} ${quantity}: got ${got.length} values where PyTorch has None`);
    return;
  }
  if (got === null) {
    result.problems.push(`step ${step} ${quantity}: got null where PyTorch has ${torchRef[1]} values`);
    return;
  }
  const torch = slice32(fx, torchRef);
  const truth = truthRef ? slice64(fx, truthRef) : Float64Array.from(torch);
  if (got.length !== torch.length) {
    result.problems.push(`step ${step} ${quantity}: got ${got.length} values, PyTorch has ${torch.length}`);
    return;
  }
  const { rtol, atol } = fx.index.tolerance;
  const s = result.stats[quantity];
  for (let i = 0; i < torch.length; i++) {
    const g = got[i];
    const t = torch[i];
    const u = truth[i];
    s.elements++;
    if (!Number.isFinite(g) || !Number.isFinite(t)) {
      if (same(g, t)) s.withinTolerance++;
      else {
        s.failed++;
        if (result.misses.length < 20) result.misses.push({ step, quantity, index: i, got: g, torch: t, truth: u });
      }
      continue;
    }
    const oursErr = Math.abs(g - u);
    const torchErr = Math.abs(t - u);
    const truthTol = atol + rtol * Math.abs(u);
    s.oursVsTorch = Math.max(s.oursVsTorch, Math.abs(g - t));
    s.oursVsTruth = Math.max(s.oursVsTruth, oursErr);
    s.torchVsTruth = Math.max(s.torchVsTruth, torchErr);
    s.oursVsTruthTol = Math.max(s.oursVsTruthTol, oursErr / truthTol);
    s.torchVsTruthTol = Math.max(s.torchVsTruthTol, torchErr / truthTol);
    if (Math.abs(g - t) <= atol + rtol * Math.abs(t)) {
      s.withinTolerance++;
    } else if (oursErr <= torchErr) {
      s.torchFurther++;
      if (result.torchFurtherExamples.length < 5) result.torchFurtherExamples.push({ step, quantity, index: i, got: g, torch: t, truth: u });
    } else {
      s.failed++;
      if (result.misses.length < 20) result.misses.push({ step, quantity, index: i, got: g, torch: t, truth: u });
    }
  }
}

const reluMask = (y: Float32Array) => y.map((v) => (v > 0 ? 1 : 0));

/**
 * Runs one recorded case through the public API: options, setState with PyTorch's
 * initial values, then per step setState with PyTorch's state entering it, training or
 * eval, forwardArray, backwardArray, getState, each compared with PyTorch.
 * Mismatches are collected, not thrown.
 */
export async function replayTorchCase(device: GPUDevice, fx: TorchFixtures, c: TorchCase): Promise<ReplayResult> {
  const stats = totalStats();
  const result: ReplayResult = { name: c.name, stats, misses: [], problems: [], torchFurtherExamples: [] };
  const { eps, momentum, affine, trackRunningStats } = c.options;
  const bn = new BatchNorm(device, { numFeatures: c.numFeatures, layout: c.layout, eps, momentum, affine, trackRunningStats });
  try {
    const init = c.initial;
    const at = (ref: Ref | null) => (ref ? slice32(fx, ref) : undefined);
    // PyTorch's names (weight, bias, running_mean, running_var, num_batches_tracked) map onto ours
    bn.setState({
      gamma: at(init.gamma),
      beta: at(init.beta),
      runningMean: at(init.runningMean),
      runningVar: at(init.runningVar),
      numBatchesTracked: init.numBatchesTracked ?? undefined,
    });
    for (const [n, step] of c.steps.entries()) {
      if (n > 0 && c.options.trackRunningStats) {
        // Each step starts from PyTorch's float32 state after the previous one, the state its
        // float64 truth started from too: one f32 rounding of a running mean near 1e4 (~5e-4)
        // would otherwise differ between ours and PyTorch's and dominate eval outputs.
        const before = c.steps[n - 1].torch;
        bn.setState({
          runningMean: at(before.runningMean),
          runningVar: at(before.runningVar),
          numBatchesTracked: before.numBatchesTracked ?? undefined,
        });
      }
      bn.training = step.training;
      const y = await bn.forwardArray(slice32(fx, step.x), step.shape);
      let dy: Float32Array;
      if (c.head === 'relu-sum') {
        // relu(y).sum(): ReLU applied here to our y; the gradient reaching y is (y > 0)
        dy = reluMask(y);
        const torchDy = slice32(fx, step.dy);
        const differ = torchDy.findIndex((v, i) => v !== dy[i]);
        if (differ >= 0) {
          result.problems.push(`step ${n}: relu mask differs from PyTorch's at ${differ} (our y ${y[differ]}, PyTorch's upstream gradient ${torchDy[differ]})`);
        }
      } else if (c.head === 'linear') {
        dy = slice32(fx, step.dy);
      } else {
        throw new Error(`${c.name}: head ${c.head} is not replayed yet (tests/cases/torch-replay.ts)`);
      }
      const g = await bn.backwardArray(dy);
      const state = await bn.getState();
      const ours: Record<Quantity, Float32Array | null> = {
        y, dx: g.dx, dgamma: g.dgamma, dbeta: g.dbeta, runningMean: state.runningMean, runningVar: state.runningVar,
      };
      for (const q of QUANTITIES) compare(fx, result, n, q, ours[q], step.torch[q], step.truth[q]);
      if (state.numBatchesTracked !== step.torch.numBatchesTracked) {
        result.problems.push(`step ${n} numBatchesTracked: got ${state.numBatchesTracked}, PyTorch ${step.torch.numBatchesTracked}`);
      }
      for (const q of c.exact ?? []) {
        const ref = step.torch[q];
        const got = ours[q];
        if (!ref || !got) continue;
        const torch = slice32(fx, ref);
        const differ = torch.findIndex((v, i) => !Object.is(v, got[i]));
        if (differ >= 0) result.problems.push(`step ${n} ${q} must equal PyTorch's exactly: [${differ}] got ${got[differ]}, PyTorch ${torch[differ]}`);
      }
    }
  } finally {
    bn.destroy();
  }
  return result;
}

export const passed = (r: ReplayResult) => r.misses.length === 0 && r.problems.length === 0 && QUANTITIES.every((q) => r.stats[q].failed === 0);

const fmt = (v: number) => (Number.isInteger(v) && Math.abs(v) < 1e6 ? String(v) : v.toPrecision(9));

/** A readable diff of the failing elements and problems. */
export function describeFailure(r: ReplayResult, tolerance: { rtol: number; atol: number }): string {
  const lines = [`${r.name}: differs from PyTorch beyond |got - torch| <= ${tolerance.atol} + ${tolerance.rtol}·|torch| ` +
    `and is further from float64 than PyTorch's float32`];
  for (const q of QUANTITIES) {
    const s = r.stats[q];
    if (s.failed) lines.push(`  ${q}: ${s.failed} of ${s.elements} elements`);
  }
  if (r.misses.length) {
    lines.push('  step quantity[index]   got   torch   float64');
    for (const m of r.misses) lines.push(`  ${m.step} ${m.quantity}[${m.index}]  ${fmt(m.got)}  ${fmt(m.torch)}  ${fmt(m.truth)}`);
  }
  for (const p of r.problems) lines.push(`  ${p}`);
  return lines.join('\n');
}

/** Where PyTorch's float32 was the one further from float64, counted per quantity; '' when none. */
export function describeTorchFurther(r: ReplayResult): string {
  const counts = QUANTITIES.filter((q) => r.stats[q].torchFurther).map((q) => `${q} ${r.stats[q].torchFurther}/${r.stats[q].elements}`);
  if (!counts.length) return '';
  const ex = r.torchFurtherExamples[0];
  return `${r.name}: outside PyTorch's tolerance of PyTorch's float32 but closer to float64 than it: ${counts.join(', ')}` +
    ` (e.g. step ${ex.step} ${ex.quantity}[${ex.index}]: ours ${fmt(ex.got)}, torch ${fmt(ex.torch)}, float64 ${fmt(ex.truth)})`;
}
