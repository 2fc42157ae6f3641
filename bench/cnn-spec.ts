// The TF.js CNN's architecture (bench/tfjs-cnn-entries.ts runs it in TF.js), apart from
// TF.js so that Node's rows can size themselves by it: the batch-norm rows at the sizes
// it trains (bench/batch-norm-entries.ts trainingSizeEntries).

export interface CnnSpec {
  batch: number;
  /** [height, width, channels], channels last. */
  input: [number, number, number];
  /** Filters of each conv (3×3, padding same) → BN → relu → maxPool (2×2) block. */
  filters: number[];
  classes: number;
  learningRate: number;
}

export const CNN: CnnSpec = { batch: 64, input: [32, 32, 3], filters: [16, 32, 64], classes: 10, learningRate: 0.05 };

/** The input of each block's batch norm, NHWC (TF.js's channels last): each block halves height and width after its BN. */
export const cnnBatchNormShapes = (spec: CnnSpec): number[][] =>
  spec.filters.map((filters, i) => [spec.batch, spec.input[0] >> i, spec.input[1] >> i, filters]);
