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
  summary?(row: OpRow, peerName: string | undefined): string;
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

/** A median wall time and how many timed calls it is the median of. */
export interface Timed {
  ms: number;
  iterations: number;
}

/** The peer's median wall time of one op, submit to done, and its timed ops; absent when skipped. */
export interface PeerResult extends Partial<Timed> {
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

/**
 * A row of the benchmark, whatever it measures: one op (or call) of ours and the
 * peer's same work, timed the same way (bench/timing.ts). Rows of our own ops (the
 * suite's: bench/entries.ts) have the op's figures; rows of a whole model in the
 * peer's library (bench/tfjs-cnn-entries.ts: its batch norm against ours) have the
 * model's time without batch norm instead.
 */
export interface BenchRow {
  /** What the rows are grouped by in the table and chart, e.g. "NC [4096, 256]". */
  group: string;
  op: string;
  /** Median of: one op of ours (or one call of the model with our batch norm), submit, wait. */
  latencyMs: number;
  /** Timed ops behind latencyMs. */
  iterations?: number;
  /** The peer's same work (a model row: the model with the peer's own batch norm). */
  peer: PeerResult;
  /** The entry's summary(), where it has one. */
  summary?: string;

  // Our op's figures (the suite's rows).
  /** Compute dispatches one op records. */
  dispatches?: number;
  /** Median µs the host takes to record one op (never submitted). */
  encodeUs?: number;
  /** Median per op of k ops recorded before one wait. */
  throughputMs?: number;
  k?: number;
  /** Elements of the tensor: the floor's copy kernel streams this many. */
  elements?: number;
  /** Minimum bytes the op must read and write (docs/design.md). */
  minBytes?: number;
  /** minBytes over the throughput time. */
  gbps?: number;
  /** minBytes over the floor kernel's bandwidth (once the rows of its size are done). */
  floorMs?: number;
  /** throughputMs / floorMs */
  xFloor?: number;

  // A model's figures (the TF.js CNN rows).
  /** The same model without its batch-norm layers: a model's time minus this is its batch-norm time. */
  withoutBatchNorm?: Timed;
  /** What the row's correctness check found, where the report states it. */
  check?: string;
}

/** A row of our own op, as it finishes (before the floor of its size is known). */
export type OpRow = BenchRow & Required<Pick<BenchRow, 'dispatches' | 'encodeUs' | 'throughputMs' | 'k' | 'elements' | 'minBytes' | 'gbps'>>;

/** A row of our own op with its floor. */
export type FlooredRow = OpRow & Required<Pick<BenchRow, 'floorMs' | 'xFloor'>>;

/** A row of a model (the TF.js CNN): with the peer's batch norm (peer), with ours (latencyMs), without. */
export type ModelRow = BenchRow & Required<Pick<BenchRow, 'iterations' | 'withoutBatchNorm'>> & { peer: Timed };

export interface SuiteResult {
  adapter: string;
  peer: string | null;
  floors: FloorMeasure[];
  /** Every row, in the order they ran (the TF.js CNN rows last, in Chrome with the peer). */
  rows: BenchRow[];
}
