// BatchNorm's data-parallel side (each shard's own passes, statistics() and
// gradientSums(), run on the BatchNorm's plans as forward and backward do): the
// global statistics and sums that forward and backward are given, their host
// records for a transport between devices, and merging statistics buffers on one
// device, with the buffers the merge keeps.
import { outputUsage, type OwnedBuffers } from '../gpu/buffers.js';
import { checkArray, checkFloats } from '../gpu/checks.js';
import { dispatch, recordPass } from '../gpu/dispatch.js';
import { fail, show } from '../gpu/errors.js';
import type { DevicePipelines } from '../gpu/pipelines.js';
import { opaqueSums } from './float-order.js';
import type { Tuning } from './partition.js';
import type { StatisticsMode } from './plan.js';
import { mergeFields, STATISTICS_SECTIONS, SUM_SECTIONS, type Stages } from './stages.js';
import {
  checkRecord,
  GRADIENT_SUM_FIELDS,
  STATISTICS_FIELDS,
  statisticsBytes,
  statisticsFrom,
  sumsBytes,
  sumsFrom,
  type GradientSums,
  type ShardStatistics,
} from './statistics.js';
import { checkCallOptions } from './validate.js';

/** Host records as the calls take them: f32 or f64 per feature. */
export type Statistics = ShardStatistics<Float32Array | Float64Array>;
export type Sums = GradientSums<Float32Array | Float64Array>;

/** What the data-parallel side uses of its BatchNorm. */
export interface DataParallelContext {
  readonly device: GPUDevice;
  /** Names the BatchNorm in labels and error messages. */
  readonly name: string;
  readonly numFeatures: number;
  readonly buffers: OwnedBuffers;
  readonly pipelines: DevicePipelines;
  readonly stages: Stages;
  readonly tuning: Tuning;
  /** A new encoder labelled for one call. */
  encoder(call: string): GPUCommandEncoder;
}

/** The merge's buffers: output and uniform, and a scratch buffer for `records` records with its bind groups (grown as needed). */
interface MergeBuffers {
  output: GPUBuffer;
  uniform: GPUBuffer;
  records: number;
  scratch?: GPUBuffer;
  groups?: Map<number, GPUBindGroup>;
}

/** Given statistics stand for a batch's own: training, or no running statistics. */
function checkStatisticsMode(call: string, mode: StatisticsMode): void {
  if (mode === 'running') fail(`${call}: statistics are batch statistics, for training (or trackRunningStats: false); this BatchNorm is in eval mode`);
}

/** Gradient sums are taken with the global statistics that a forward with statistics normalized with. */
export function checkSumsFollowStatistics(call: string, given: boolean): void {
  if (!given) fail(`${call}: gradient sums need a forward with statistics first (they are taken with the global statistics it normalized with)`);
}

export class DataParallel {
  /** mergeBuffers()'s buffers, made on its first call (`merged`). */
  private mergeState?: MergeBuffers;

  constructor(private readonly bn: DataParallelContext) {}

  /** f32 of one statistics record (statistics()'s layout). */
  private get statisticsFloats(): number {
    return STATISTICS_SECTIONS * this.bn.numFeatures;
  }

  /** f32 of one gradient sums record (gradientSums()'s layout). */
  private get sumsFloats(): number {
    return SUM_SECTIONS * this.bn.numFeatures;
  }

  /** forward()'s given statistics: a buffer in statistics()'s layout, in a mode that takes them. */
  checkStatisticsBuffer(buffer: GPUBuffer, mode: StatisticsMode): void {
    checkStatisticsMode('forward()', mode);
    checkFloats('statistics', buffer, this.statisticsFloats);
  }

  /**
   * backward()'s given sums: a buffer in gradientSums()'s layout, and not one the
   * same dispatch writes (any other, the BatchNorm's own gradientSums() output
   * included, may be read).
   */
  checkSumsBuffer(buffer: GPUBuffer, written: readonly GPUBuffer[]): void {
    checkFloats('sums', buffer, this.sumsFloats);
    if (written.includes(buffer)) fail(`${this.bn.name}: sums is a buffer this call writes; copy it first`);
  }

  /** forwardArray()'s given statistics, to upload: C features, and in training more than one value per feature overall. */
  givenStatistics(statistics: Statistics, mode: StatisticsMode): Float32Array<ArrayBuffer> {
    checkStatisticsMode('forwardArray()', mode);
    const record = checkRecord<Statistics>('forwardArray() statistics', statistics, this.bn.numFeatures, STATISTICS_FIELDS);
    const few = record.count.findIndex((n) => n < 2);
    if (few >= 0) fail(`Expected more than 1 value per channel when training, got statistics with count ${record.count[few]} for feature ${few}`);
    return statisticsBytes(record, this.bn.numFeatures);
  }

  /** backwardArray()'s given sums, to upload. */
  givenSums(sums: Sums): Float32Array<ArrayBuffer> {
    return sumsBytes(checkRecord<Sums>('backwardArray() sums', sums, this.bn.numFeatures, GRADIENT_SUM_FIELDS), this.bn.numFeatures);
  }

  // The BatchNorm's calls of the same names: host records to and from their f32 form.

  statisticsFromFloats(floats: Float32Array): ShardStatistics {
    return statisticsFrom(checkArray('statisticsFromFloats() floats', floats, this.statisticsFloats), this.bn.numFeatures);
  }

  statisticsToFloats(statistics: Statistics): Float32Array<ArrayBuffer> {
    return statisticsBytes(checkRecord<Statistics>('statisticsToFloats()', statistics, this.bn.numFeatures, STATISTICS_FIELDS), this.bn.numFeatures);
  }

  gradientSumsFromFloats(floats: Float32Array): GradientSums {
    return sumsFrom(checkArray('gradientSumsFromFloats() floats', floats, this.sumsFloats), this.bn.numFeatures);
  }

  gradientSumsToFloats(sums: Sums): Float32Array<ArrayBuffer> {
    return sumsBytes(checkRecord<Sums>('gradientSumsToFloats()', sums, this.bn.numFeatures, GRADIENT_SUM_FIELDS), this.bn.numFeatures);
  }

  /** mergeStatisticsBuffers(): 1 copy per buffer into the scratch, 1 dispatch into the output. */
  mergeBuffers(list: readonly GPUBuffer[], encoder?: GPUCommandEncoder): GPUBuffer {
    const { device, name, numFeatures, pipelines, stages, tuning } = this.bn;
    const { encoder: enc } = checkCallOptions<{ encoder?: GPUCommandEncoder }>('mergeStatisticsBuffers()', encoder, ['encoder']);
    if (!Array.isArray(list) || list.length === 0) fail(`mergeStatisticsBuffers() takes a non-empty array of GPUBuffers, got ${show(list)}`);
    const floats = this.statisticsFloats;
    list.forEach((b, i) => {
      checkFloats(`statistics buffer ${i}`, b, floats);
      if (!(b.usage & GPUBufferUsage.COPY_SRC)) fail(`statistics buffer ${i} needs GPUBufferUsage.COPY_SRC to be merged (its usage is ${b.usage})`);
    });
    const { scratch, group } = this.mergeScratch(list.length);
    const own = enc ?? this.bn.encoder('mergeStatisticsBuffers');
    list.forEach((b, i) => own.copyBufferToBuffer(b, 0, scratch, i * floats * 4, floats * 4));
    const pipeline = pipelines.pipeline(stages.merge, 'merge_shards', { WG_SIZE: tuning.workgroupSize, OPAQUE_SUMS: opaqueSums(device) });
    recordPass(device, own, `${name} merge statistics`, (pass) => dispatch(device, pass, pipeline, group, Math.ceil(numFeatures / tuning.workgroupSize)));
    if (!enc) device.queue.submit([own.finish()]);
    return this.merged.output;
  }

  /** The merge's output once made, overwritten by each merge: one of the buffers the BatchNorm writes. */
  get output(): GPUBuffer | undefined {
    return this.mergeState?.output;
  }

  /** Drops the merge's buffers (the BatchNorm's destroy() destroyed them). */
  released(): void {
    this.mergeState = undefined;
  }

  /** The merge's output and uniform, made on the first merge. */
  private get merged(): MergeBuffers {
    this.mergeState ??= {
      output: this.bn.buffers.create('merged statistics', this.statisticsFloats * 4, outputUsage()),
      uniform: this.bn.buffers.uniform('merge params', mergeFields, { features: this.bn.numFeatures, zeroBits: 0 }),
      records: 0,
    };
    return this.mergeState;
  }

  /** A scratch buffer for `records` records and its bind group, grown as needed. */
  private mergeScratch(records: number): { scratch: GPUBuffer; group: GPUBindGroup } {
    const m = this.merged;
    const bytes = records * this.statisticsFloats * 4;
    if (!m.scratch || m.records < records) {
      if (m.scratch) this.bn.buffers.release(m.scratch);
      m.scratch = this.bn.buffers.create('statistics to merge', bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      m.records = records;
      m.groups = new Map();
    }
    let group = m.groups!.get(records);
    if (!group) {
      group = this.bn.pipelines.bindGroup(this.bn.stages.merge, `${this.bn.name} merge ${records}`, {
        params: { buffer: m.uniform }, shards: { buffer: m.scratch, size: bytes }, merged: { buffer: m.output },
      });
      m.groups!.set(records, group);
    }
    return { scratch: m.scratch, group };
  }
}
