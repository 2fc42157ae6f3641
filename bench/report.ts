// The report files of a run (Node only): bench/results/<adapter>-<runtime>-<date>
// .json (everything measured), .md (the table and notes) and .svg (the chart).
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { svgChart } from './chart.js';
import { isFlooredRow, isModelRow, markdownTable, modelLine, modelMarkdown, skippedNotes, textTable } from './format.js';
import type { SuiteResult } from './types.js';

export interface BenchReport extends SuiteResult {
  /** Where it ran, e.g. "Chrome/156.0.8078.79 (headless)" or "Node v20.20.2, Dawn (npm webgpu)". */
  runtime: string;
  /** ISO time the run finished. */
  date: string;
  /** The command that produced it. */
  command: string;
  /** The machine's 1-minute load average before and after the run: other work on the cores makes timings noisy. */
  machine: { cpus: number; loadBefore: number; loadAfter: number };
}

/** What a runner knows when it starts; the rest of the report is filled in when it ends. */
export interface RunInfo {
  runtime: string;
  command: string;
  /** "chrome" or "node": part of the file names. */
  runtimeTag: string;
  outDir: string;
  loadBefore: number;
}

export const currentLoad = () => loadavg()[0];

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60)
    .replace(/-$/, '');

const DEFINITIONS = [
  'encode µs: median host time to record one op (never submitted); latency: median wall time of one op recorded, submitted and waited for (onSubmittedWorkDone); throughput: median per op of k ops recorded into one encoder, from their submit to the end of the wait.',
  'GB/s: the op\'s minimum bytes (batch norm, f32: training forward 3·4·n, eval forward 2·4·n, backward 5·4·n, training step 8·4·n; the network training step: see its note) over the throughput time.',
  'floor: those bytes over the bandwidth of a plain WGSL vec4 copy (grid-stride loop with one load per round or four, or a contiguous run per thread; the best of a few launch shapes) on the same adapter, run, and tensor size; × floor = throughput / floor.',
  'peer × ours: the peer\'s median time per op (one op, then wait) over our latency. Every output, ours and the peer\'s, was checked once against the float64 reference before timing.',
];

export function markdownReport(report: BenchReport, chartFile: string): string {
  const rows = report.rows.filter(isFlooredRow);
  const floors = report.floors.map((f) => `${f.elements.toLocaleString('en')} elements: ${f.gbps.toFixed(2)} GB/s (${f.config})`);
  const skipped = skippedNotes(rows);
  const summaries = rows.flatMap((r) => (r.summary ? [`- ${r.group} ${r.op}: ${r.summary}`] : []));
  return [
    `# webgpu-batchnorm benchmark: ${report.adapter}`,
    '',
    `${report.runtime}; ${report.date}; \`${report.command}\`; load average ${report.machine.loadBefore.toFixed(1)} before and ${report.machine.loadAfter.toFixed(1)} after on ${report.machine.cpus} cores.`,
    '',
    ...(rows.length
      ? [markdownTable(rows, report.peer), '', ...DEFINITIONS.map((d) => `- ${d}`), `- Copy bandwidth (the floor): ${floors.join('; ')}.`]
      : ['(only the TF.js CNN rows were run)']),
    ...(summaries.length ? ['', 'Notes on rows:', '', ...summaries] : []),
    ...(skipped.length ? ['', `${report.peer ?? 'Peer'} rows without a time:`, '', ...skipped.map((s) => `- ${s}`)] : []),
    '',
    ...modelMarkdown(report.rows.filter(isModelRow)),
    ...(rows.length ? [`![chart](${chartFile})`] : []),
    '',
  ].join('\n');
}

/** Completes the report, prints the table and writes the three files; returns their paths. */
export async function writeReport(result: SuiteResult, run: RunInfo, print: (line: string) => void): Promise<string[]> {
  const machine = { cpus: cpus().length, loadBefore: run.loadBefore, loadAfter: currentLoad() };
  const report: BenchReport = { ...result, runtime: run.runtime, date: new Date().toISOString(), command: run.command, machine };
  print('');
  print(`${report.adapter} · ${report.runtime}`);
  const rows = report.rows.filter(isFlooredRow);
  if (rows.length) print(textTable(rows, report.peer));
  for (const note of skippedNotes(rows)) print(`  ${note}`);
  for (const row of rows) if (row.summary) print(`  ${row.group} ${row.op}: ${row.summary}`);
  for (const row of report.rows.filter(isModelRow)) print(modelLine(row));
  // The load average after a run is mostly the run itself (SwiftShader keeps every core
  // busy); the one before tells whether something else was competing for the machine.
  if (machine.loadBefore > machine.cpus / 2) {
    print(`note: the machine was busy before the run (load average ${machine.loadBefore.toFixed(1)} on ${machine.cpus} cores): timings are noisy`);
  }

  await mkdir(run.outDir, { recursive: true });
  const base = join(run.outDir, `${slug(report.adapter)}-${run.runtimeTag}-${report.date.slice(0, 10)}`);
  const files: [string, string][] = [
    [`${base}.json`, `${JSON.stringify(report, null, 2)}\n`],
    [`${base}.md`, markdownReport(report, `${basename(base)}.svg`)],
  ];
  // (the model rows, TF.js CNN, are not charted: a run of only those has no chart)
  if (rows.length) files.push([`${base}.svg`, svgChart(rows, `Batch norm on ${report.adapter} (${report.runtime})`, report.peer)]);
  for (const [path, text] of files) await writeFile(path, text);
  print('');
  for (const [path] of files) print(`wrote ${path}`);
  return files.map(([path]) => path);
}
