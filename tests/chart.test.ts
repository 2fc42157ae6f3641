// The benchmark chart: group labels never overlap, whatever the groups hold.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labelWidth, svgChart } from '../bench/chart.js';
import type { BenchRow } from '../bench/types.js';

const results = resolve(import.meta.dirname, '..', 'bench', 'results');

/** Each group label's horizontal extent, as drawn: [left, right] of its widest line. */
function groupLabelExtents(svg: string): [number, number][] {
  return [...svg.matchAll(/<text x="([\d.]+)" y="\d+" text-anchor="middle" font-weight="bold">(.*?)<\/text>/g)].map(([, x, body]) => {
    const lines = [...body.matchAll(/<tspan[^>]*>(.*?)<\/tspan>/g)].map((m) => m[1].replace(/&amp;/g, '&'));
    const w = Math.max(...lines.map(labelWidth));
    return [Number(x) - w / 2, Number(x) + w / 2];
  });
}

const expectApart = (extents: [number, number][]) => {
  for (let i = 1; i < extents.length; i++) expect(extents[i][0], `label ${i} against ${i - 1}`).toBeGreaterThan(extents[i - 1][1]);
};

describe('svgChart', () => {
  it('keeps group labels apart, also for a one-op group with a long name', () => {
    const row = (group: string, op: string) =>
      ({ group, op, floorMs: 0.1, throughputMs: 1, latencyMs: 2, peer: { ms: 3 } }) as unknown as BenchRow;
    const rows = [
      ...['training forward', 'eval forward', 'backward', 'training step'].map((op) => row('NCHW [16, 64, 128, 128]', op)),
      row('MLP 12→64→64→64→5, batch 256', 'network training step'),
      row('a very long group name without any comma at all', 'x'),
      row('NC [4, 4]', 'y'),
    ];
    const extents = groupLabelExtents(svgChart(rows, 'test', 'peer'));
    expect(extents).toHaveLength(4);
    expectApart(extents);
  });

  it('the committed charts have no overlapping group labels', () => {
    const svgs = readdirSync(results).filter((f) => f.endsWith('.svg'));
    expect(svgs.length).toBeGreaterThan(0);
    for (const f of svgs) expectApart(groupLabelExtents(readFileSync(join(results, f), 'utf8')));
  });
});
