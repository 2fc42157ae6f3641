// Runs benchmark entries on a device: the floor for each tensor size, our op
// (checked once against the reference, then latency and throughput), and the
// peer's same op within a time budget. Environment-agnostic: the Chrome page and
// the Node runner both call runSuite.
import { adapterName } from 'webgpu-batchnorm';
import { measureFloor } from './floor.js';
import { countingEncoder, submitAndWait } from './gpu.js';
import { floorLine, formatMs, NO_PEER, progressLine } from './format.js';
import { batchSize, encodeMicros, Iterations, latency, throughput, timeCalls, warmUp } from './timing.js';
import type { BenchEntry, FloorMeasure, FlooredRow, OpRow, Peer, PeerResult, PeerTask, SuiteResult } from './types.js';

export interface SuiteOptions {
  /** Run only the rows whose "group op" contains one of these (case-insensitive). */
  only?: string[];
  /** Time budget for the peer's timed ops of one row (default PEER_BUDGET_MS); at least 3 ops are timed. */
  peerBudgetMs?: number;
}

const OURS_LATENCY = { ms: 1000, min: 5, max: 200 };
const OURS_THROUGHPUT = { ms: 1500, min: 3, max: 100 };
const OURS_ENCODE = { ms: 200, min: 5, max: 50 };
/** Ops recorded per sample of the host's encoding time. */
const ENCODE_OPS = 32;
/** The peer's time for its timed ops per row, by default. */
const PEER_BUDGET_MS = 20_000;
const PEER_MAX_OPS = 20;
/** A peer time is extrapolated (linearly in elements) only from a shape at least 1/8 the size. */
const EXTRAPOLATE_RANGE = 8;

/** `--only`: whether a row runs (its "group op" contains one of the texts, case-insensitive; every row without any). */
export const selects = (only: string[] | undefined, row: { group: string; op: string }) =>
  !only?.length || only.some((o) => `${row.group} ${row.op}`.toLowerCase().includes(o.toLowerCase()));

/** Our figures for one row. */
type OursMeasure = Pick<OpRow, 'dispatches' | 'encodeUs' | 'latencyMs' | 'iterations' | 'throughputMs' | 'k' | 'gbps'>;

async function measureOurs(device: GPUDevice, entry: BenchEntry): Promise<OursMeasure> {
  const ours = await entry.setup(device);
  try {
    const counted = countingEncoder(device.createCommandEncoder({ label: `bench ${entry.group} ${entry.op} check` }));
    ours.encode(counted.encoder, 0);
    await submitAndWait(device, counted.encoder);
    await ours.verify();
    const iterations = new Iterations();
    iterations.take(); // iteration 0 was the checked one
    await warmUp(device, ours.encode, iterations);
    const lat = await latency(device, ours.encode, iterations, OURS_LATENCY);
    const k = batchSize(lat.ms);
    const thr = await throughput(device, ours.encode, iterations, k, OURS_THROUGHPUT);
    const encode = await encodeMicros(device, ours.encode, iterations, ENCODE_OPS, OURS_ENCODE);
    return {
      dispatches: counted.dispatches(),
      encodeUs: encode.ms,
      latencyMs: lat.ms,
      iterations: lat.iterations,
      throughputMs: thr.ms,
      k,
      gbps: entry.minBytes / (thr.ms * 1e6),
    };
  } finally {
    ours.destroy();
  }
}

interface PeerHistory {
  op: string;
  elements: number;
  ms: number;
}

/** One op of the peer per timed sample, within the budget; skipped (with the reason) where even 3 would not fit. */
async function measurePeer(peer: Peer, task: PeerTask, elements: number, budgetMs: number, history: PeerHistory[]): Promise<PeerResult> {
  const unsupported = peer.unsupported(task);
  if (unsupported) return { skipped: unsupported };
  const basis = history.filter((h) => h.op === task.op && h.elements <= elements && h.elements * EXTRAPOLATE_RANGE >= elements).at(-1);
  if (basis) {
    const estimate = (basis.ms * elements) / basis.elements;
    if (3 * estimate > budgetMs) {
      history.push({ op: task.op, elements, ms: estimate }); // so that larger shapes extrapolate from here
      return { skipped: `over the ${formatMs(budgetMs)} budget: about ${formatMs(estimate)} per op (from ${basis.elements.toLocaleString('en')} elements)` };
    }
  }
  const run = await peer.prepare(task);
  try {
    const t0 = performance.now();
    await run.run(0); // first op: the peer compiles its kernels and uploads here
    const first = performance.now() - t0;
    try {
      await run.verify();
    } catch (e) {
      return { skipped: `wrong result: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
    }
    if (3 * first > budgetMs) {
      history.push({ op: task.op, elements, ms: first });
      return { skipped: `over the ${formatMs(budgetMs)} budget: the first op took ${formatMs(first)}` };
    }
    const iterations = new Iterations();
    iterations.take(); // iteration 0 was the first op
    const timed = await timeCalls((i) => run.run(i), iterations, { ms: budgetMs, min: 3, max: PEER_MAX_OPS });
    history.push({ op: task.op, elements, ms: timed.ms });
    return timed;
  } finally {
    run.destroy();
  }
}

export async function runSuite(
  device: GPUDevice,
  entries: BenchEntry[],
  peer: Peer | undefined,
  log: (line: string) => void,
  options: SuiteOptions = {},
): Promise<SuiteResult> {
  const selected = entries.filter((e) => selects(options.only, e));
  if (!selected.length) throw new Error(`no benchmark row matches ${options.only?.join(', ')}`);
  const adapter = adapterName(device);
  const budgetMs = options.peerBudgetMs ?? PEER_BUDGET_MS;
  log(`adapter: ${adapter}; ${selected.length} rows; peer: ${peer ? `${peer.name}, ${formatMs(budgetMs)} per row` : 'none'}`);

  const floors: FloorMeasure[] = [];
  const history: PeerHistory[] = [];
  const rows: FlooredRow[] = [];
  let done = 0;
  // Rows of one tensor size run together, between two floor measurements (the faster one
  // is the floor: other work on the machine only ever slows the copy down).
  for (const sized of groupBySize(selected)) {
    const n = sized[0].elements;
    const before = await measureFloor(device, n);
    log(`floor on ${n.toLocaleString('en')} elements, before its rows: ${before.gbps.toFixed(2)} GB/s (vec4 copy, ${before.config})`);
    const measured: OpRow[] = [];
    for (const entry of sized) {
      const ours = await measureOurs(device, entry);
      const peerResult: PeerResult =
        peer && entry.peer ? await measurePeer(peer, entry.peer, entry.elements, budgetMs, history) : { skipped: NO_PEER };
      const row: OpRow = { group: entry.group, op: entry.op, elements: n, minBytes: entry.minBytes, ...ours, peer: peerResult };
      if (entry.summary) row.summary = entry.summary(row, peer?.name);
      measured.push(row);
      log(progressLine(row, done++, selected.length, peer?.name));
      if (row.summary) log(`  ${row.summary}`);
    }
    const after = await measureFloor(device, n);
    const floor = after.gbps > before.gbps ? after : before;
    const best = { ...floor, measured: [before.gbps, after.gbps] };
    floors.push(best);
    const finished = measured.map((row): FlooredRow => {
      const floorMs = row.minBytes / (floor.gbps * 1e6);
      return { ...row, floorMs, xFloor: row.throughputMs / floorMs };
    });
    rows.push(...finished);
    log(floorLine(best, finished));
  }
  return { adapter, peer: peer?.name ?? null, floors, rows };
}

/** Consecutive runs of entries with the same tensor size. */
function groupBySize(entries: BenchEntry[]): BenchEntry[][] {
  const groups: BenchEntry[][] = [];
  for (const e of entries) {
    const last = groups.at(-1);
    if (last && last[0].elements === e.elements) last.push(e);
    else groups.push([e]);
  }
  return groups;
}
