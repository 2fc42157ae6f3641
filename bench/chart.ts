// An SVG bar chart of the run: per shape and op, the floor, our throughput and
// latency, and the peer's time, on a log scale of milliseconds.
import { formatMs } from './format.js';
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
const BOTTOM = 110;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svgChart(rows: BenchRow[], title: string, peerName: string | null): string {
  const series = SERIES.map((s) => (s.peer ? { ...s, name: peerName ?? 'peer (none)' } : s));
  const values = rows.flatMap((r) => series.map((s) => s.value(r))).filter((v): v is number => v !== undefined && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const y = (v: number) => TOP + PLOT_HEIGHT * (1 - (Math.log10(v) - lo) / Math.max(1, hi - lo));

  const parts: string[] = [];
  let x = LEFT + 10;
  let group: string | undefined;
  let groupStart = x;
  const closeGroup = () => {
    if (group !== undefined) {
      parts.push(`<text x="${(groupStart + x - OP_GAP) / 2}" y="${TOP + PLOT_HEIGHT + 92}" text-anchor="middle" font-weight="bold">${escape(group)}</text>`);
    }
  };
  for (const row of rows) {
    if (row.group !== group) {
      closeGroup();
      if (group !== undefined) x += GROUP_GAP;
      group = row.group;
      groupStart = x;
    }
    const start = x;
    for (const s of series) {
      const v = s.value(row);
      if (v !== undefined && v > 0) {
        const top = y(v);
        parts.push(
          `<rect x="${x}" y="${top.toFixed(1)}" width="${BAR - 1}" height="${(TOP + PLOT_HEIGHT - top).toFixed(1)}" fill="${s.color}">` +
            `<title>${escape(`${row.group} ${row.op}: ${s.name} ${formatMs(v)}`)}</title></rect>`,
        );
      } else if (s.peer) {
        parts.push(`<text x="${x + BAR / 2}" y="${TOP + PLOT_HEIGHT - 3}" text-anchor="middle" font-size="11" font-weight="bold" fill="${s.color}">×</text>`);
      }
      x += BAR;
    }
    const mid = (start + x) / 2;
    parts.push(`<text transform="translate(${mid},${TOP + PLOT_HEIGHT + 10}) rotate(40)" font-size="10">${escape(row.op)}</text>`);
    x += OP_GAP;
  }
  closeGroup();
  const width = x + 60; // room for the last rotated label

  const axis: string[] = [];
  for (let p = lo; p <= hi; p++) {
    const v = 10 ** p;
    axis.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#e0e0e0"/>`);
    axis.push(`<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v >= 1000 ? `${v / 1000} s` : `${Number(v.toPrecision(1))} ms`}</text>`);
  }
  const legend = series.map(
    (s, i) => `<rect x="${LEFT + i * 230}" y="38" width="12" height="12" fill="${s.color}"/><text x="${LEFT + i * 230 + 18}" y="48" font-size="12">${escape(s.name)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${TOP + PLOT_HEIGHT + BOTTOM}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...legend,
    ...axis,
    `<line x1="${LEFT}" x2="${LEFT}" y1="${TOP}" y2="${TOP + PLOT_HEIGHT}" stroke="#333"/>`,
    `<text transform="translate(16,${TOP + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">time per op (log scale)</text>`,
    ...parts,
    `<text x="${LEFT}" y="${TOP + PLOT_HEIGHT + BOTTOM - 4}" font-size="10" fill="#555">× : no ${escape(peerName ?? 'peer')} time (not supported, or over its time budget)</text>`,
    '</svg>',
  ].join('\n');
}
