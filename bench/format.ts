// Numbers and rows as text: the progress line and the table (plain and Markdown).
import type { BenchRow, FloorMeasure, MeasuredRow } from './types.js';

/** The peer result of rows run without a peer (in Node, say). */
export const NO_PEER = 'n/a';

/** Milliseconds with about 3 significant digits. */
export function ms(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export const formatMs = (value: number) => (value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${ms(value)} ms`);

const ratio = (value: number) => (value >= 10 ? value.toFixed(0) : value.toFixed(2));

/** The peer's time over our latency (both are one op, submit, wait). */
export const peerRatio = (row: Pick<BenchRow, 'peer' | 'latencyMs'>) => (row.peer.ms === undefined ? undefined : row.peer.ms / row.latencyMs);

/** One row as it finishes (the floor ratio comes with the floor line after the rows of its size). */
export function progressLine(row: MeasuredRow, index: number, total: number, peerName?: string): string {
  const width = String(total).length;
  const head = `[${String(index + 1).padStart(width)}/${total}] ${row.group} · ${row.op}`;
  const ours = `${row.dispatches} dispatches, encoded in ${row.encodeUs.toFixed(0)} µs, latency ${formatMs(row.latencyMs)}, throughput ${formatMs(row.throughputMs)} (${row.gbps.toFixed(2)} GB/s)`;
  const r = peerRatio(row);
  const peer = peerName ? ` · ${peerName}: ${r === undefined ? row.peer.skipped : `${formatMs(row.peer.ms!)} (${ratio(r)}× ours)`}` : '';
  return `${head}: ${ours}${peer}`;
}

/** The floor of one tensor size, once its rows are done, with their ratios to it. */
export function floorLine(floor: FloorMeasure, rows: BenchRow[]): string {
  const groups = [...new Set(rows.map((r) => r.group))].map(
    (g) => `${g}: ${rows.filter((r) => r.group === g).map((r) => `${r.op} ${ratio(r.xFloor)}`).join(', ')}`,
  );
  const measured = floor.measured?.map((v) => v.toFixed(2)).join(' and ') ?? floor.gbps.toFixed(2);
  return `  floor on ${floor.elements.toLocaleString('en')} elements: ${floor.gbps.toFixed(2)} GB/s (${floor.config}; measured ${measured}) → × floor: ${groups.join('; ')}`;
}

const HEADER = ['shape', 'op', 'dispatches', 'encode µs', 'latency ms', 'throughput ms', 'GB/s', '× floor', 'floor ms', 'peer ms', 'peer × ours'];

function cells(row: BenchRow): string[] {
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
export function textTable(rows: BenchRow[], peerName: string | null): string {
  const table = [headerFor(peerName), ...rows.map(cells)];
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((v, c) => (c < 2 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  return [line(table[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

export function markdownTable(rows: BenchRow[], peerName: string | null): string {
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
