// A plan is everything one input shape needs: how the work is split into
// workgroups, the uniform buffer, scratch and output buffers, and the bind
// groups. It is built on the first call with a shape and reused after that, so a
// steady training loop creates no GPU objects.
import type { CanonicalView } from './layout.js';
import type { DevicePipelines } from './pipelines.js';
import { dispatch, KeyedCache, OwnedBuffers } from './resources.js';
import { PARTIAL_SECTIONS, paramsFields, parseConst, stages } from './wgsl.js';

export interface Tuning {
  /** Threads per workgroup, a power of 2. */
  workgroupSize: number;
  /** Workgroups a reduce or elementwise dispatch aims for: enough to keep the adapter busy. */
  targetWorkgroups: number;
  /** Items (vec4 or scalar loads) each thread should stream at least before more workgroups pay off. */
  minItemsPerThread: number;
  /**
   * Per-feature passes: each thread reads a contiguous run of items (true: CPU adapters
   * run one thread's loop at a time, so a run streams through memory) or every
   * workgroupSize-th item (false: neighbouring GPU threads read neighbouring items).
   */
  contiguousItems: boolean;
}

/**
 * CPU adapters (SwiftShader) run workgroups as tasks on a few cores: few threads with
 * long loops win. Measured on 2 cores: about 1.0x the copy floor for NC and NHWC
 * against 1.3-2.1x with 64 threads x 32 workgroups x 16 items.
 */
export const CPU_TUNING: Tuning = { workgroupSize: 16, targetWorkgroups: 16, minItemsPerThread: 64, contiguousItems: true };
/** GPUs need tens of thousands of threads in flight to saturate memory. */
export const GPU_TUNING: Tuning = { workgroupSize: 256, targetWorkgroups: 1024, minItemsPerThread: 4, contiguousItems: false };

export function isCpuAdapter(info: GPUAdapterInfo | undefined): boolean {
  if (!info) return false;
  return info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info.architecture} ${info.description}`);
}

export function defaultTuning(device: GPUDevice): Tuning {
  return isCpuAdapter(device.adapterInfo) ? CPU_TUNING : GPU_TUNING;
}

/** How a shape is split into workgroups, and the shape fields of Params. */
export interface Partition {
  /** Reduce traversal: periodic lanes (inner = 1, or small features) or a workgroup per feature. */
  reduce: 'periodic' | 'planes';
  /** Elementwise traversal: periodic lanes, or per feature when features are large and inner runs whole vec4s. */
  apply: 'periodic' | 'planes';
  /** Plane items are vec4 (inner % 4 == 0) rather than scalars. */
  aligned: boolean;
  fields: Record<string, number>;
  periodicWorkgroups: number;
  planeWorkgroups: number;
  featureWorkgroups: number;
  partialFloats: number;
}

/**
 * At most this many partials per feature: bn-finalize merges them one after another
 * in f32 on one thread, so the count bounds both its rounding error (about
 * sqrt(count) ulps) and its time.
 */
export const MAX_PARTIALS_PER_FEATURE = 256;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const nextPow2 = (v: number) => 2 ** Math.ceil(Math.log2(Math.max(1, v)));

/** Splits `total` items into at most `wanted` chunks of at least `minPerChunk`; returns [chunks, perChunk]. */
function split(total: number, wanted: number, minPerChunk: number): [number, number] {
  const chunks = Math.max(1, Math.min(wanted, Math.floor(total / minPerChunk)));
  const perChunk = Math.max(1, Math.ceil(total / chunks));
  return [Math.max(1, Math.ceil(total / perChunk)), perChunk];
}

export function partition(view: CanonicalView, tuning: Tuning): Partition {
  const { outer, features, inner } = view;
  const wg = tuning.workgroupSize;
  const aligned = inner % 4 === 0;

  // periodic: blocks of `repeat` periods are whole vec4s, lane q always sees the same 4 features
  const period = features * inner;
  const repeat = 4 / gcd(period, 4);
  const lanes = (repeat * period) / 4;
  const blocks = Math.floor(outer / repeat);
  const lanesPerGroup = Math.min(wg, nextPow2(lanes));
  const rowLanes = wg / lanesPerGroup;
  const laneGroups = Math.ceil(lanes / lanesPerGroup);
  const [periodicChunks, blocksPerChunk] = split(
    blocks,
    Math.min(Math.ceil(tuning.targetWorkgroups / laneGroups), Math.floor(MAX_PARTIALS_PER_FEATURE / (repeat * inner))),
    rowLanes * tuning.minItemsPerThread,
  );

  // planes: a workgroup per (feature, chunk of its outer * groups items)
  const groups = aligned ? inner / 4 : inner;
  const [planeChunks, itemsPerChunk] = split(
    outer * groups,
    Math.min(Math.ceil(tuning.targetWorkgroups / features), MAX_PARTIALS_PER_FEATURE),
    wg * tuning.minItemsPerThread,
  );

  // A feature with fewer items than a workgroup has threads would leave most of a
  // planes workgroup idle: such shapes use the periodic traversal throughout.
  const small = outer * groups < wg;
  const reduce = inner === 1 || small ? 'periodic' : 'planes';
  const slots =
    reduce === 'periodic'
      ? { slotsPerChunk: 4 * lanes, slotRepeat: repeat, slotInner: inner, partialChunks: periodicChunks }
      : { slotsPerChunk: features, slotRepeat: 1, slotInner: 1, partialChunks: planeChunks };
  return {
    reduce,
    apply: inner === 1 || small || !aligned ? 'periodic' : 'planes',
    aligned,
    fields: {
      outer,
      features,
      inner,
      count: view.count,
      featureStride: featureStride(features),
      period,
      repeat,
      lanes,
      blocks,
      tailLen: (outer - blocks * repeat) * period,
      lanesPerGroup,
      rowLanes,
      laneGroups,
      blocksPerChunk,
      blocksPerRowLane: Math.ceil(blocksPerChunk / rowLanes),
      periodicChunks,
      periodicWorkgroups: laneGroups * periodicChunks,
      groups,
      itemsPerChunk,
      planeChunks,
      planeWorkgroups: features * planeChunks,
      ...planeSteps(tuning, itemsPerChunk, groups, features),
      ...slots,
    },
    periodicWorkgroups: laneGroups * periodicChunks,
    planeWorkgroups: features * planeChunks,
    featureWorkgroups: Math.ceil(features / wg),
    partialFloats: PARTIAL_SECTIONS * slots.partialChunks * slots.slotsPerChunk,
  };
}

/** How a thread walks its items in the planes traversal (see PlaneCursor in common.wgsl). */
function planeSteps(tuning: Tuning, itemsPerChunk: number, groups: number, features: number) {
  const wg = tuning.workgroupSize;
  const perThread = Math.ceil(itemsPerChunk / wg);
  const step = tuning.contiguousItems ? 1 : wg;
  return {
    planeThreadStart: tuning.contiguousItems ? perThread : 1,
    planeThreadSpan: tuning.contiguousItems ? perThread : itemsPerChunk,
    planeStep: step,
    planeStepGroups: step % groups,
    planeStepIndex: Math.floor(step / groups) * features * groups + (step % groups),
    planeWrapIndex: (features - 1) * groups,
  };
}

/** Per-feature sections are C rounded up to 4 floats apart. */
export const featureStride = (features: number) => Math.ceil(features / 4) * 4;

const FINALIZE = {
  BATCH: parseConst(stages.finalize.source, 'BATCH'),
  BATCH_AND_RUNNING: parseConst(stages.finalize.source, 'BATCH_AND_RUNNING'),
  RUNNING: parseConst(stages.finalize.source, 'RUNNING'),
};
const GRAD_FINALIZE = {
  BATCH: parseConst(stages.gradFinalize.source, 'BATCH'),
  RUNNING: parseConst(stages.gradFinalize.source, 'RUNNING'),
};

/** Which statistics a forward normalizes with, and whether it updates the running ones. */
export type StatisticsMode = 'batch' | 'batch-and-running' | 'running';

/** Buffers owned by a BatchNorm, shared by all its plans. */
export interface ModuleBuffers {
  gamma: GPUBuffer;
  beta: GPUBuffer;
  runningMean: GPUBuffer;
  runningVar: GPUBuffer;
  /** u32 [numBatchesTracked, scratch] */
  batches: GPUBuffer;
  /** FEATURE_SECTIONS sections of per-feature constants */
  feature: GPUBuffer;
  gradGamma: GPUBuffer;
  gradBeta: GPUBuffer;
  /** 16 bytes, bound as the vec4 view of tensors smaller than one vec4 */
  pad: GPUBuffer;
}

export interface Options {
  eps: number;
  momentum: number | null;
  unbiasedRunningVar: boolean;
}

export class Plan {
  readonly partition: Partition;
  /** This plan's buffers (uniforms, scratch, outputs, typed-array uploads), destroyed with it. */
  readonly owned: OwnedBuffers;
  readonly params: GPUBuffer;
  readonly partials: GPUBuffer;
  readonly y: GPUBuffer;
  private dxBuffer?: GPUBuffer;
  /** Bind groups by the caller's buffers they bind: [x] forward, [x, dy] backward. */
  private readonly groups = new KeyedCache<GPUBindGroup[]>();

  constructor(
    readonly device: GPUDevice,
    readonly pipelines: DevicePipelines,
    readonly view: CanonicalView,
    readonly label: string,
    readonly tuning: Tuning,
    options: Options,
    private readonly buffers: ModuleBuffers,
  ) {
    this.partition = partition(view, tuning);
    this.owned = new OwnedBuffers(device, label);
    this.params = this.owned.uniform('params', paramsFields, {
      ...this.partition.fields,
      eps: options.eps,
      momentum: options.momentum ?? 0,
      cumulative: options.momentum === null ? 1 : 0,
      unbiased: options.unbiasedRunningVar ? 1 : 0,
    });
    this.partials = this.owned.create('partials', this.partition.partialFloats * 4, GPUBufferUsage.STORAGE);
    this.y = this.owned.tensor('y', view.size);
  }

  /** The dx output, created with the first backward. */
  get dx(): GPUBuffer {
    this.dxBuffer ??= this.owned.tensor('dx', this.view.size);
    return this.dxBuffer;
  }

  private constants(extra: Record<string, number | boolean> = {}) {
    return { WG_SIZE: this.tuning.workgroupSize, ...extra };
  }

  /** The vec4 and scalar views of a tensor buffer. */
  private views(buffer: GPUBuffer, prefix: string): Record<string, GPUBufferBinding> {
    const vecBytes = Math.floor(this.view.size / 4) * 16;
    return {
      [`${prefix}4`]: vecBytes > 0 ? { buffer, size: vecBytes } : { buffer: this.buffers.pad },
      [`${prefix}1`]: { buffer, size: this.view.size * 4 },
    };
  }

  private forwardBindGroups(x: GPUBuffer): GPUBindGroup[] {
    return this.groups.get([x], () => {
      const b = this.buffers;
      const params = { buffer: this.params };
      const xv = this.views(x, 'x');
      return [
        this.pipelines.bindGroup(stages.stats, `${this.label} stats`, {
          params, ...xv, partials: { buffer: this.partials }, batches: { buffer: b.batches },
        }),
        this.pipelines.bindGroup(stages.finalize, `${this.label} finalize`, {
          params, x1: xv.x1, partials: { buffer: this.partials }, feature: { buffer: b.feature },
          gamma: { buffer: b.gamma }, beta: { buffer: b.beta }, runningMean: { buffer: b.runningMean },
          runningVar: { buffer: b.runningVar }, batches: { buffer: b.batches },
        }),
        this.pipelines.bindGroup(stages.apply, `${this.label} apply`, {
          params, ...xv, feature: { buffer: b.feature }, out4: { buffer: this.y },
          // forward reads no dy; x stands in so the layout is complete
          dy4: xv.x4, dy1: xv.x1,
        }),
      ];
    });
  }

  private backwardBindGroups(x: GPUBuffer, dy: GPUBuffer): GPUBindGroup[] {
    return this.groups.get([x, dy], () => {
      const b = this.buffers;
      const params = { buffer: this.params };
      const xv = this.views(x, 'x');
      const dyv = this.views(dy, 'dy');
      return [
        this.pipelines.bindGroup(stages.gradReduce, `${this.label} grad reduce`, {
          params, ...xv, ...dyv, feature: { buffer: b.feature }, partials: { buffer: this.partials },
        }),
        this.pipelines.bindGroup(stages.gradFinalize, `${this.label} grad finalize`, {
          params, partials: { buffer: this.partials }, feature: { buffer: b.feature }, gamma: { buffer: b.gamma },
          gradGamma: { buffer: b.gradGamma }, gradBeta: { buffer: b.gradBeta },
        }),
        this.pipelines.bindGroup(stages.apply, `${this.label} grad input`, {
          params, ...xv, ...dyv, feature: { buffer: b.feature }, out4: { buffer: this.dx },
        }),
      ];
    });
  }

  /** Records a forward pass: 3 dispatches with batch statistics, 2 with running ones. */
  encodeForward(pass: GPUComputePassEncoder, x: GPUBuffer, mode: StatisticsMode): void {
    const [stats, finalize, apply] = this.forwardBindGroups(x);
    const p = this.partition;
    if (mode !== 'running') {
      const periodic = p.reduce === 'periodic';
      dispatch(this.device, pass, this.pipelines.pipeline(stages.stats, periodic ? 'stats_periodic' : 'stats_planes', this.constants({ ALIGNED: p.aligned })),
        stats, periodic ? this.partition.periodicWorkgroups : this.partition.planeWorkgroups);
    }
    const finalizeMode = { batch: FINALIZE.BATCH, 'batch-and-running': FINALIZE.BATCH_AND_RUNNING, running: FINALIZE.RUNNING }[mode];
    dispatch(this.device, pass, this.pipelines.pipeline(stages.finalize, 'finalize', this.constants({ MODE: finalizeMode })), finalize, this.partition.featureWorkgroups);
    this.encodeApply(pass, apply, false);
  }

  /** Records a backward pass for a forward over x: 3 dispatches. */
  encodeBackward(pass: GPUComputePassEncoder, x: GPUBuffer, dy: GPUBuffer, batchStatistics: boolean): void {
    const [reduce, finalize, apply] = this.backwardBindGroups(x, dy);
    const p = this.partition;
    const periodic = p.reduce === 'periodic';
    dispatch(this.device, pass, this.pipelines.pipeline(stages.gradReduce, periodic ? 'grad_periodic' : 'grad_planes', this.constants({ ALIGNED: p.aligned })),
      reduce, periodic ? this.partition.periodicWorkgroups : this.partition.planeWorkgroups);
    const mode = batchStatistics ? GRAD_FINALIZE.BATCH : GRAD_FINALIZE.RUNNING;
    dispatch(this.device, pass, this.pipelines.pipeline(stages.gradFinalize, 'grad_finalize', this.constants({ MODE: mode })), finalize, this.partition.featureWorkgroups);
    this.encodeApply(pass, apply, true);
  }

  private encodeApply(pass: GPUComputePassEncoder, group: GPUBindGroup, grad: boolean): void {
    const periodic = this.partition.apply === 'periodic';
    const pipeline = this.pipelines.pipeline(stages.apply, periodic ? 'apply_periodic' : 'apply_planes', this.constants({ GRAD: grad }));
    dispatch(this.device, pass, pipeline, group, periodic ? this.partition.periodicWorkgroups : this.partition.planeWorkgroups);
  }

  destroy(): void {
    this.owned.destroy();
  }
}
