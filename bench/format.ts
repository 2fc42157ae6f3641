// Numbers and rows as text: the progress line and the table (plain and Markdown)
// of our ops' rows, and the lines and section of the model rows (the TF.js CNN).
import type { BenchRow, FloorMeasure, FlooredRow, ModelRow, OpRow } from './types.js';

/** The peer result of rows run without a peer (in Node, say). */
export const NO_PEER = 'n/a';

/** Milliseconds with about 3 significant digits (differences of two times can be negative). */
export function ms(value: number): string {
  const size = Math.abs(value);
  if (size >= 100) return value.toFixed(0);
  if (size >= 10) return value.toFixed(1);
  if (size >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export const formatMs = (value: number) => (Math.abs(value) >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${ms(value)} ms`);

const ratio = (value: number) => (value >= 10 ? value.toFixed(0) : value.toFixed(2));

/** The peer's time over our latency (both are one op, submit, wait). */
export const peerRatio = (row: Pick<BenchRow, 'peer' | 'latencyMs'>) => (row.peer.ms === undefined ? undefined : row.peer.ms / row.latencyMs);

/** Rows of our own ops, with their floors (the table and chart); the others are model rows. */
export const isFlooredRow = (row: BenchRow): row is FlooredRow => row.floorMs !== undefined && row.dispatches !== undefined;

/** Model rows: a model with the peer's batch norm (the peer), with ours, and without (bench/tfjs-cnn-entries.ts). */
export const isModelRow = (row: BenchRow): row is ModelRow => row.withoutBatchNorm !== undefined && row.peer.ms !== undefined;

/** One row as it finishes (the floor ratio comes with the floor line after the rows of its size). */
export function progressLine(row: OpRow, index: number, total: number, peerName?: string): string {
  const width = String(total).length;
  const head = `[${String(index + 1).padStart(width)}/${total}] ${row.group} · ${row.op}`;
  const ours = `${row.dispatches} dispatches, encoded in ${row.encodeUs.toFixed(0)} µs, latency ${formatMs(row.latencyMs)}, throughput ${formatMs(row.throughputMs)} (${row.gbps.toFixed(2)} GB/s)`;
  const r = peerRatio(row);
  const peer = peerName ? ` · ${peerName}: ${r === undefined ? row.peer.skipped : `${formatMs(row.peer.ms!)} (${ratio(r)}× ours)`}` : '';
  return `${head}: ${ours}${peer}`;
}

/** The floor of one tensor size, once its rows are done, with their ratios to it. */
export function floorLine(floor: FloorMeasure, rows: FlooredRow[]): string {
  const groups = [...new Set(rows.map((r) => r.group))].map(
    (g) => `${g}: ${rows.filter((r) => r.group === g).map((r) => `${r.op} ${ratio(r.xFloor)}`).join(', ')}`,
  );
  const measured = floor.measured?.map((v) => v.toFixed(2)).join(' and ') ?? floor.gbps.toFixed(2);
  return `  floor on ${floor.elements.toLocaleString('en')} elements: ${floor.gbps.toFixed(2)} GB/s (${floor.config}; measured ${measured}) → × floor: ${groups.join('; ')}`;
}

const HEADER = ['shape', 'op', 'dispatches', 'encode µs', 'latency ms', 'throughput ms', 'GB/s', '× floor', 'floor ms', 'peer ms', 'peer × ours'];

function cells(row: FlooredRow): string[] {
  const r = peerRatio(row);
  return [
    row.group,
    row.op,
    String(row.dispatches),
    row.encodeUs.toFixed(0),
    ms(row.latencyMs),
    ms(row.throughputMs),
    row.gbps.toFixed(2),
    ratio(row.xFloor),
    ms(row.floorMs),
    row.peer.ms === undefined ? (row.peer.skipped?.startsWith('n/a') ? 'n/a' : 'skipped') : ms(row.peer.ms),
    r === undefined ? '–' : ratio(r),
  ];
}

const headerFor = (peerName: string | null) => HEADER.map((h) => h.replace('peer', peerName?.split(' ')[0] ?? 'peer'));

/** The table in fixed-width columns, for the terminal. */
export function textTable(rows: FlooredRow[], peerName: string | null): string {
  const table = [headerFor(peerName), ...rows.map(cells)];
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => (c < 2 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  return [line(table[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

export function markdownTable(rows: FlooredRow[], peerName: string | null): string {
  const header = headerFor(peerName);
  const align = header.map((_, c) => (c < 2 ? ':--' : '--:'));
  return [header, align, ...rows.map(cells)].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** Why peer rows have no time: one line per reason, naming its rows (rows with no peer at all are left out). */
export function skippedNotes(rows: BenchRow[]): string[] {
  const byReason = new Map<string, string[]>();
  for (const r of rows) {
    if (!r.peer.skipped || r.peer.skipped === NO_PEER) continue;
    byReason.set(r.peer.skipped, [...(byReason.get(r.peer.skipped) ?? []), `${r.group} ${r.op}`]);
  }
  return [...byReason].map(([reason, names]) => `${names.join('; ')}: ${reason}`);
}

/** A model row's batch-norm time: the model's time less the model's without batch norm. */
const batchNormMs = (modelMs: number, row: ModelRow) => modelMs - row.withoutBatchNorm.ms;

/** A model row in words. */
export function modelLine(r: ModelRow): string {
  const bn = (ms: number) => (ms > 0 ? formatMs(ms) : 'no measurable time (within the noise)');
  const [stock, ours] = [batchNormMs(r.peer.ms, r), batchNormMs(r.latencyMs, r)];
  const bnRatio = ours > 0 && stock > 0 ? `, ${(stock / ours).toFixed(1)}× less` : '';
  return (
    `${r.group} · ${r.op}: stock TF.js ${formatMs(r.peer.ms)}, with useWebGPUBatchNorm ${formatMs(r.latencyMs)} ` +
    `(${(r.peer.ms / r.latencyMs).toFixed(2)}× stock's speed); without batch norm ${formatMs(r.withoutBatchNorm.ms)}, ` +
    `so the batch-norm layers take ${bn(stock)} in stock and ${bn(ours)} in ours${bnRatio}`
  );
}

/** The model rows (of one group) as a Markdown section for the report. */
export function modelMarkdown(rows: ModelRow[]): string[] {
  if (!rows.length) return [];
  return [
    `## ${rows[0].group}`,
    '',
    'tf.layers on TF.js 4.22\'s webgpu backend, SGD through optimizer.minimize; the same model from the same weights with TF.js\'s batch norm (stock) and with `useWebGPUBatchNorm` (ours), and without its batch-norm layers (batch-norm time = model − that). Median wall time per call until the GPU is done, after one warm-up call.',
    '',
    '| op | stock ms | ours ms | stock / ours | without BN ms | BN stock ms | BN ours ms | steps (stock, ours, without) |',
    '|:--|--:|--:|--:|--:|--:|--:|:--|',
    ...rows.map((r) => {
      const without = r.withoutBatchNorm;
      return `| ${r.op} | ${ms(r.peer.ms)} | ${ms(r.latencyMs)} | ${(r.peer.ms / r.latencyMs).toFixed(2)} | ${ms(without.ms)} | ${ms(batchNormMs(r.peer.ms, r))} | ${ms(batchNormMs(r.latencyMs, r))} | ${r.peer.iterations}, ${r.iterations}, ${without.iterations} |`;
    }),
    '',
    ...(rows[0].check ? [`- Check: ${rows[0].check}.`, ''] : []),
  ];
}
