// The shapes of a benchmark run: entries (rows to measure), the peer that runs the
// same op in another library, and the results the report is written from.
import type { ActivationKind, Layout } from 'webgpu-batchnorm';

/** One measured op of ours, ready to run. */
export interface OursRun {
  /** Records one op into `encoder`; `iteration` picks the rotated input. */
  encode(encoder: GPUCommandEncoder, iteration: number): void;
  /** Checks the outputs of the first op recorded (iteration 0) against the float64 reference; throws when wrong. */
  verify(): Promise<void>;
  destroy(): void;
}

/** A row of the benchmark: what to build, what to run, and the fewest bytes the op can move. */
export interface BenchEntry {
  /** What the rows are grouped by in the table and chart, e.g. "NC [4096, 256]". */
  group: string;
  /** e.g. "training forward" */
  op: string;
  /** Elements of the tensor: the floor's copy kernel streams this many. */
  elements: number;
  /** Minimum bytes the op must read and write (docs/design.md). */
  minBytes: number;
  setup(device: GPUDevice): Promise<OursRun>;
  /** The same work for a peer library, where one can do it. */
  peer?: PeerTask;
  /** A line for the report on this row's figures in its own terms (a training step's steps per second, say). */
  summary?(row: MeasuredRow, peerName: string | undefined): string;
}

export type BatchNormOp = 'training forward' | 'eval forward' | 'backward' | 'training step';

/** Inputs shared by the rows of one shape: rotated x and dy, parameters, and the float64 expectations for iteration 0. */
export interface ShapeData {
  layout: Layout;
  shape: number[];
  x: Float32Array[];
  dy: Float32Array[];
  gamma: Float32Array;
  beta: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  expected: {
    trainY: Float64Array;
    evalY: Float64Array;
    dx: Float64Array;
    dgamma: Float64Array;
    dbeta: Float64Array;
  };
}

/** A batch-norm op on one shape. */
export interface BatchNormTask {
  op: BatchNormOp;
  layout: Layout;
  shape: number[];
  data(): ShapeData;
}

/** One training step of a whole network (bench/training-entries.ts). */
export interface NetworkTask {
  op: 'network training step';
  network: NetworkSpec;
  data(): NetworkData;
}

export type PeerTask = BatchNormTask | NetworkTask;

/** A multi-layer perceptron: Linear (no bias) → BatchNorm → activation per hidden layer, then Linear (bias) to the classes. */
export interface NetworkSpec {
  inFeatures: number;
  hidden: number[];
  classes: number;
  batch: number;
  activation: ActivationKind;
  /** Ours as given; a peer converts to its own conventions (Keras: momentum 1 − ours). */
  batchNorm: { momentum: number; eps: number; unbiasedRunningVar: boolean };
  optimizer: { type: 'momentum'; learningRate: number; beta1: number };
}

/** Seeded batches, initial parameters, and the float64 state after one step on batch 0. */
export interface NetworkData {
  batches: { x: Float32Array<ArrayBuffer>; labels: Uint32Array<ArrayBuffer> }[];
  /** By Sequential's parameter names (`0.weight`, `1.gamma`, ...; Linear weights [out, in]). */
  initial: Record<string, Float32Array<ArrayBuffer>>;
  /** Every parameter, and each BatchNorm's `i.runningMean` and `i.runningVar`, after one step on batch 0. */
  expected: Record<string, Float64Array>;
}

/** One op of a peer, ready to run. */
export interface PeerRun {
  /** Runs one op on the rotated input `iteration` and waits until the GPU is done. */
  run(iteration: number): Promise<void>;
  /** Checks the outputs of the last run against the float64 reference; throws when wrong. */
  verify(): Promise<void>;
  destroy(): void;
}

export interface Peer {
  /** e.g. "TF.js 4.22 webgpu" */
  name: string;
  /** Why the peer cannot run the task, or undefined when it can. */
  unsupported(task: PeerTask): string | undefined;
  prepare(task: PeerTask): Promise<PeerRun>;
}

export interface PeerResult {
  /** Median wall time of one op, submit to done; absent when skipped. */
  ms?: number;
  iterations?: number;
  /** Why there is no time (unsupported, or over the time budget). */
  skipped?: string;
}

/** Bandwidth of the plain vec4 copy kernel on tensors of `elements` f32. */
export interface FloorMeasure {
  elements: number;
  /** Bytes read + written per second / 1e9. */
  gbps: number;
  /** The best launch configuration, e.g. "32 × 64 threads". */
  config: string;
  /** GB/s of each measurement (before and after the rows of this size); gbps is the best. */
  measured?: number[];
}

/** Our figures for one row. */
export interface OursMeasure {
  dispatches: number;
  /** Median µs the host takes to record one op (never submitted). */
  encodeUs: number;
  /** Median of: one op, submit, wait. */
  latencyMs: number;
  /** Median per op of k ops recorded before one wait. */
  throughputMs: number;
  k: number;
  /** minBytes over the throughput time. */
  gbps: number;
}

/** A row as its op finishes, before the floor of its size is known. */
export interface MeasuredRow extends OursMeasure {
  group: string;
  op: string;
  elements: number;
  minBytes: number;
  peer: PeerResult;
  /** The entry's summary(), where it has one. */
  summary?: string;
}

export interface BenchRow extends MeasuredRow {
  /** minBytes over the floor kernel's bandwidth. */
  floorMs: number;
  /** throughputMs / floorMs */
  xFloor: number;
}

export interface SuiteResult {
  adapter: string;
  peer: string | null;
  floors: FloorMeasure[];
  rows: BenchRow[];
  /** The TF.js CNN rows (bench/tfjs-cnn-entries.ts), in Chrome with the peer. */
  cnn?: import('./tfjs-cnn-entries.js').CnnRow[];
}
