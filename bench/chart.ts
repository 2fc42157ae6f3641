// An SVG bar chart of the run: per shape and op, the floor, our throughput and
// latency, and the peer's time, on a log scale of milliseconds.
import { formatMs, isFlooredRow } from './format.js';
import type { BenchRow } from './types.js';

interface Series {
  name: string;
  color: string;
  value: (r: BenchRow) => number | undefined;
  peer?: true;
}

const SERIES: Series[] = [
  { name: 'floor (min bytes / copy bandwidth)', color: '#9e9e9e', value: (r) => r.floorMs },
  { name: 'ours, throughput', color: '#1f77b4', value: (r) => r.throughputMs },
  { name: 'ours, latency', color: '#8ec1e6', value: (r) => r.latencyMs },
  { name: 'peer', color: '#ff7f0e', value: (r) => r.peer.ms, peer: true },
];

const BAR = 9;
const OP_GAP = 8;
const GROUP_GAP = 26;
const LEFT = 70;
const TOP = 70;
const PLOT_HEIGHT = 320;

const LINE = 14;

/** Width of a bold 12px sans-serif label, generously estimated (no font metrics in Node). */
export const labelWidth = (text: string): number => Math.ceil(text.length * 7.5);

/**
 * A group label on one line, or split in two at its last ", " outside brackets when
 * wider than the group's bars (the group then widens to its longer line).
 */
export function groupLabelLines(label: string, bars: number): string[] {
  if (labelWidth(label) <= bars) return [label];
  let depth = 0;
  let at = -1;
  for (let i = 0; i < label.length; i++) {
    if (label[i] === '[' || label[i] === '(') depth++;
    else if (label[i] === ']' || label[i] === ')') depth--;
    else if (depth === 0 && label.startsWith(', ', i)) at = i;
  }
  return at > 0 ? [label.slice(0, at + 1), label.slice(at + 2)] : [label];
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svgChart(rows: BenchRow[], title: string, peerName: string | null): string {
  const series = SERIES.map((s) => (s.peer ? { ...s, name: peerName ?? 'peer (none)' } : s));
  const values = rows.flatMap((r) => series.map((s) => s.value(r))).filter((v): v is number => v !== undefined && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const y = (v: number) => TOP + PLOT_HEIGHT * (1 - (Math.log10(v) - lo) / Math.max(1, hi - lo));

  const parts: string[] = [];
  // Groups side by side, each as wide as its bars or its label, whichever is wider,
  // so that no two group labels overlap however few ops a group has.
  const groups: { name: string; rows: BenchRow[] }[] = [];
  for (const row of rows) {
    if (groups.at(-1)?.name !== row.group) groups.push({ name: row.group, rows: [] });
    groups.at(-1)!.rows.push(row);
  }
  // Group labels go below the longest op label (rotated 40°, 10px type).
  const opDrop = Math.max(...rows.map((r) => r.op.length * 5.8 * Math.sin((40 * Math.PI) / 180) + 10));
  const labelBase = TOP + PLOT_HEIGHT + 10 + Math.ceil(opDrop) + 2 * LINE;
  let x = LEFT + 10;
  for (const [g, { name, rows: groupRows }] of groups.entries()) {
    const bars = groupRows.length * (series.length * BAR + OP_GAP) - OP_GAP;
    const label = groupLabelLines(name, bars);
    const width = Math.max(bars, ...label.map(labelWidth));
    if (g > 0) x += GROUP_GAP;
    const labelY = labelBase - (label.length - 1) * LINE;
    parts.push(
      `<text x="${x + width / 2}" y="${labelY}" text-anchor="middle" font-weight="bold">` +
        label.map((line, i) => `<tspan x="${x + width / 2}" dy="${i ? LINE : 0}">${escape(line)}</tspan>`).join('') +
        '</text>',
    );
    let bx = x + (width - bars) / 2;
    for (const row of groupRows) {
      const start = bx;
      for (const s of series) {
        const v = s.value(row);
        if (v !== undefined && v > 0) {
          const top = y(v);
          parts.push(
            `<rect x="${bx}" y="${top.toFixed(1)}" width="${BAR - 1}" height="${(TOP + PLOT_HEIGHT - top).toFixed(1)}" fill="${s.color}">` +
              `<title>${escape(`${row.group} ${row.op}: ${s.name} ${formatMs(v)}`)}</title></rect>`,
          );
        } else if (s.peer) {
          parts.push(`<text x="${bx + BAR / 2}" y="${TOP + PLOT_HEIGHT - 3}" text-anchor="middle" font-size="11" font-weight="bold" fill="${s.color}">×</text>`);
        }
        bx += BAR;
      }
      const mid = (start + bx) / 2;
      parts.push(`<text transform="translate(${mid},${TOP + PLOT_HEIGHT + 10}) rotate(40)" font-size="10">${escape(row.op)}</text>`);
      bx += OP_GAP;
    }
    x += width;
  }
  x += OP_GAP;
  const width = x + 60; // room for the last rotated label

  const axis: string[] = [];
  for (let p = lo; p <= hi; p++) {
    const v = 10 ** p;
    axis.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#e0e0e0"/>`);
    axis.push(`<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v >= 1000 ? `${v / 1000} s` : `${Number(v.toPrecision(1))} ms`}</text>`);
  }
  let lx = LEFT;
  const legend = series.map((s) => {
    const item = `<rect x="${lx}" y="38" width="12" height="12" fill="${s.color}"/><text x="${lx + 18}" y="48" font-size="12">${escape(s.name)}</text>`;
    lx += 18 + Math.ceil(s.name.length * 7) + 24;
    return item;
  });
  const height = labelBase + 2 * LINE + 4;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...legend,
    ...axis,
    `<line x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${TOP + PLOT_HEIGHT}" stroke="#333"/>`,
    `<text transform="translate(16,${TOP + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">time per op (log scale)</text>`,
    ...parts,
    `<text x="${LEFT}" y="${height - 6}" font-size="10" fill="#555">× : no ${escape(peerName ?? 'peer')} time (not supported, or over its time budget)</text>`,
    '</svg>',
  ].join('\n');
}

/** Redraws the charts of saved runs from their .json: node scripts/run-ts.mjs bench/chart.ts bench/results/X.json ... */
export async function main(files: string[]): Promise<void> {
  const { readFile, writeFile } = await import('node:fs/promises');
  for (const file of files) {
    const report = JSON.parse(await readFile(file, 'utf8')) as { rows: BenchRow[]; adapter: string; runtime: string; peer: string | null };
    const rows = report.rows.filter(isFlooredRow); // the model rows (TF.js CNN) are not charted
    if (!rows.length) continue;
    const svg = file.replace(/\.json$/, '.svg');
    await writeFile(svg, svgChart(rows, `Batch norm on ${report.adapter} (${report.runtime})`, report.peer));
    console.log(`wrote ${svg}`);
  }
}
