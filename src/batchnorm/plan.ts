// A plan is everything one input shape needs: how the work is split into
// workgroups, the uniform buffer, scratch and output buffers, and the bind
// groups. It is built on the first call with a shape and reused after that, so a
// steady training loop creates no GPU objects.
import { OwnedBuffers, outputUsage } from '../gpu/buffers.js';
import { KeyedCache } from '../gpu/cache.js';
import { dispatch } from '../gpu/dispatch.js';
import type { Constants, DevicePipelines } from '../gpu/pipelines.js';
import type { StageSource } from '../gpu/wgsl.js';
import { opaqueSums } from './float-order.js';
import type { CanonicalView } from './layout.js';
import { onePassTraversal, partition, takesOnePass, type Partition, type Tuning } from './partition.js';
import { FINALIZE_MODE, GRAD_FINALIZE_MODE, paramsFields, type ParamsValues, type Stages, type TensorStorage } from './stages.js';

export type StatisticsMode = 'batch' | 'batch-and-running' | 'running';

/** Buffers owned by a BatchNorm, shared by all its plans. */
export interface ModuleBuffers {
  gamma: GPUBuffer;
  beta: GPUBuffer;
  runningMean: GPUBuffer;
  runningVar: GPUBuffer;
  /** u32 [numBatchesTracked, scratch (bn-stats to bn-finalize), arrivals (the one-pass forward's count), padding] */
  batches: GPUBuffer;
  /** FEATURE_SECTIONS sections of per-feature constants */
  feature: GPUBuffer;
  gradGamma: GPUBuffer;
  gradBeta: GPUBuffer;
  /** 16 bytes, bound as the vec4 view of tensors smaller than one vec4 */
  pad: GPUBuffer;
  /** statistics() writes here: STATISTICS_SECTIONS sections of C floats; bound as finalize's `shard` otherwise */
  statistics: GPUBuffer;
  /** gradientSums() writes here: SUM_SECTIONS sections of C floats; bound as grad-finalize's `shard` otherwise */
  sums: GPUBuffer;
}

/** Split statistics or sums (data-parallel) a call takes instead of computing them: a GPU buffer. */
export type Given = GPUBuffer | undefined;

export interface Options {
  eps: number;
  momentum: number | null;
  unbiasedRunningVar: boolean;
  /** The fused epilogue: y = act(BN(x) + z). */
  relu: boolean;
  residual: boolean;
  /** How x, y, dy, dx and the residual are stored. */
  storage: TensorStorage;
  /** The storage's stages, on the BatchNorm's float16 path where it has one (stagesOf). */
  stages: Stages;
}

/** Bytes of a tensor of `elements` in this storage as the library allocates it: padded to whole 16 bytes. */
export const storedBytes = (elements: number, storage: TensorStorage) =>
  Math.ceil((elements * (storage === 'float16' ? 2 : 4)) / 16) * 16;

/** The one-pass stages' split, and its Params: a second binding of the plan's uniform buffer. */
interface OnePass {
  partition: Partition;
  params: GPUBufferBinding;
  traversal: 'periodic' | 'planes';
  /** A workgroup per lane group (periodic) or per feature (planes). */
  workgroups: number;
  /** Several threads share a lane or a feature: the stages' SHARED_ROWS. */
  sharedRows: boolean;
}

export class Plan {
  /** The split of every stage but the one-pass ones. */
  readonly partition: Partition;
  /**
   * Where training forwards and backwards take one dispatch each (partition.ts's
   * takesOnePass): the one-pass stages' own split (a chunk per lane group or
   * feature) and uniform. The other stages keep theirs: eval and the
   * data-parallel calls still run on such a plan.
   */
  private readonly onePass?: OnePass;
  /** This plan's buffers (uniforms, scratch, outputs, typed-array uploads), destroyed with it. */
  readonly owned: OwnedBuffers;
  readonly params: GPUBuffer;
  readonly partials: GPUBuffer;
  readonly y: GPUBuffer;
  private dxBuffer?: GPUBuffer;
  private maskedBuffer?: GPUBuffer;
  private readonly relu: boolean;
  private readonly residual: boolean;
  private readonly half: boolean;
  private readonly stages: Stages;
  /** Bind groups by the caller's buffers they bind: [x, statistics, z] forward, [x, dy, sums] backward. */
  private readonly groups = new KeyedCache<GPUBindGroup[]>();
  /** Bind groups of the single-dispatch passes: eval's by x, the one-pass forward's by x, its backward's by [x, dy]. */
  private readonly runningGroups = new KeyedCache<GPUBindGroup>();
  private readonly onePassForwardGroups = new KeyedCache<GPUBindGroup>();
  private readonly onePassBackwardGroups = new KeyedCache<GPUBindGroup>();
  /**
   * This plan's pipelines by what it dispatches, found in the device's cache once:
   * that cache's key is built from the constants on every call, a cost a steady
   * loop pays per dispatch (several microseconds of a GPU's few-microsecond ops).
   */
  private readonly resolved = new Map<string, GPUComputePipeline>();

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
    this.relu = options.relu;
    this.residual = options.residual;
    this.half = options.storage === 'float16';
    this.stages = options.stages;
    this.owned = new OwnedBuffers(device, label);
    const optionValues = {
      eps: options.eps,
      momentum: options.momentum ?? 0,
      cumulative: options.momentum === null ? 1 : 0,
      unbiased: options.unbiasedRunningVar ? 1 : 0,
      zeroBits: 0, // compensated.wgsl's opaque(): a 0 the shader compiler cannot see
    };
    const traversal = takesOnePass(device, view, tuning, options.residual) ? onePassTraversal(view) : undefined;
    const onePass = traversal && partition(view, tuning, true);
    const values = [this.partition, ...(onePass ? [onePass] : [])].map((p): ParamsValues => ({ ...p.fields, ...optionValues }));
    const [params, onePassParams] = this.owned.uniforms('params', paramsFields, values);
    this.params = params.buffer;
    if (traversal && onePass) {
      const planes = traversal === 'planes';
      this.onePass = {
        partition: onePass, params: onePassParams, traversal,
        workgroups: planes ? onePass.planeWorkgroups : onePass.periodicWorkgroups,
        sharedRows: planes ? tuning.workgroupSize > 1 : onePass.fields.rowLanes > 1,
      };
    }
    this.partials = this.owned.create('partials', this.partition.partialFloats * 4, GPUBufferUsage.STORAGE);
    this.y = this.tensor('y');
  }

  /** An output tensor of this shape in the storage, padded to whole 16 bytes. */
  private tensor(name: string): GPUBuffer {
    return this.owned.create(name, storedBytes(this.view.size, this.half ? 'float16' : 'float32'), outputUsage());
  }

  /** The dx output, created with the first backward. */
  get dx(): GPUBuffer {
    this.dxBuffer ??= this.tensor('dx');
    return this.dxBuffer;
  }

  /**
   * With ReLU: dy' = dy where y > 0, else 0, written by bn-grad-reduce and read by
   * the dx pass in dy's place; it is dresidual when the BatchNorm has a residual.
   * Created with the first backward.
   */
  get masked(): GPUBuffer {
    this.maskedBuffer ??= this.tensor('masked dy');
    return this.maskedBuffer;
  }

  /**
   * A backward with given sums masks dy in its dx pass: with ReLU and no residual
   * (nothing needs dy' stored, and no bn-grad-reduce runs to store it).
   */
  private get masksInDx(): boolean {
    return this.relu && !this.residual;
  }

  writes(buffer: GPUBuffer): boolean {
    return buffer === this.y || buffer === this.dxBuffer || buffer === this.maskedBuffer;
  }

  /** The pipeline `key` names in this plan; `specialize` gives its stage, entry point and constants on first use. */
  private pipeline(key: string, specialize: () => [StageSource, string, Constants]): GPUComputePipeline {
    const opaque = opaqueSums(this.device); // changes once, when the device's float-order probe answers
    let pipeline = this.resolved.get(`${key}/${opaque}`);
    if (!pipeline) {
      const [source, entryPoint, constants] = specialize();
      pipeline = this.pipelines.pipeline(source, entryPoint, { WG_SIZE: this.tuning.workgroupSize, OPAQUE_SUMS: opaque, ...constants });
      this.resolved.set(`${key}/${opaque}`, pipeline);
    }
    return pipeline;
  }

  /**
   * The vec4 and scalar views of a tensor buffer: f32, or float16 as 8 bytes per
   * vec4 (a vec2u or a vec4<f16>) and whole u32s of scalars (the last one half
   * padding when n is odd), on either float16 path.
   */
  private views(buffer: GPUBuffer, prefix: string): Record<string, GPUBufferBinding> {
    const n = this.view.size;
    const vecBytes = Math.floor(n / 4) * (this.half ? 8 : 16);
    return {
      [`${prefix}4`]: vecBytes > 0 ? { buffer, size: vecBytes } : { buffer: this.buffers.pad },
      [`${prefix}1`]: { buffer, size: this.half ? Math.ceil(n / 2) * 4 : n * 4 },
    };
  }

  /** tensors.wgsl's bindings: x, and dy (x stands in where a stage reads no dy). */
  private tensors(x: GPUBuffer, dy: GPUBuffer = x): Record<string, GPUBufferBinding> {
    return { ...this.views(x, 'x'), ...this.views(dy, 'dy') };
  }

  /** z: the residual, read through the dy bindings by the forward's apply (x stands in without one). */
  private forwardBindGroups(x: GPUBuffer, shard: GPUBuffer, z: GPUBuffer = x): GPUBindGroup[] {
    return this.groups.get([x, shard, z], () => {
      const b = this.buffers;
      const params = { buffer: this.params };
      const xv = this.tensors(x);
      const xz = this.tensors(x, z);
      const y4 = xv.x4; // the backward's mask only: x stands in
      return [
        this.pipelines.bindGroup(this.stages.stats, `${this.label} stats`, {
          params, ...this.views(x, 'x'), partials: { buffer: this.partials }, batches: { buffer: b.batches },
        }),
        this.pipelines.bindGroup(this.stages.finalize, `${this.label} finalize`, {
          params, x1: xv.x1, partials: { buffer: this.partials }, feature: { buffer: b.feature },
          gamma: { buffer: b.gamma }, runningMean: { buffer: b.runningMean },
          runningVar: { buffer: b.runningVar }, batches: { buffer: b.batches }, shard: { buffer: shard },
        }),
        this.pipelines.bindGroup(this.stages.apply, `${this.label} apply`, {
          params, ...xz, feature: { buffer: b.feature }, out4: { buffer: this.y }, beta: { buffer: b.beta }, y4,
        }),
      ];
    });
  }

  private backwardBindGroups(x: GPUBuffer, dy: GPUBuffer, shard: GPUBuffer): GPUBindGroup[] {
    return this.groups.get([x, dy, shard], () => {
      const b = this.buffers;
      const params = { buffer: this.params };
      const xdy = this.tensors(x, dy);
      // Without ReLU, y4 and masked are never touched: x's vec4 view and dx (written
      // only by the later dx pass) stand in.
      const mask = this.relu ? { y4: { buffer: this.y }, masked: { buffer: this.masked } } : { y4: xdy.x4, masked: { buffer: this.dx } };
      const input = { params, feature: { buffer: b.feature }, out4: { buffer: this.dx }, beta: { buffer: b.beta } }; // beta: read only forward
      return [
        this.pipelines.bindGroup(this.stages.gradReduce, `${this.label} grad reduce`, {
          params, ...xdy, feature: { buffer: b.feature }, partials: { buffer: this.partials }, ...mask,
        }),
        this.pipelines.bindGroup(this.stages.gradFinalize, `${this.label} grad finalize`, {
          params, partials: { buffer: this.partials }, feature: { buffer: b.feature }, gamma: { buffer: b.gamma },
          gradGamma: { buffer: b.gradGamma }, gradBeta: { buffer: b.gradBeta }, shard: { buffer: shard },
        }),
        // with ReLU, dx from bn-grad-reduce's dy'
        this.pipelines.bindGroup(this.stages.apply, `${this.label} grad input`, {
          ...input, ...(this.relu ? this.tensors(x, this.masked) : xdy), y4: xdy.x4,
        }),
        // with ReLU, no residual and given sums: dx from dy and y (the pass masks dy)
        ...(this.masksInDx ? [this.pipelines.bindGroup(this.stages.apply, `${this.label} grad input masking`, { ...input, ...xdy, y4: mask.y4 })] : []),
      ];
    });
  }

  /** One of the two reduce stages (bn-stats or bn-grad-reduce), in the partition's traversal. */
  private encodeReduce(pass: GPUComputePassEncoder, group: GPUBindGroup, stage: 'stats' | 'grad'): void {
    const p = this.partition;
    const periodic = p.reduce === 'periodic';
    const pipeline = this.pipeline(stage, () => {
      // EXACT_SUMS: two-sum where a thread's loop is short or interleaved (compensated.wgsl);
      // SHARED_LANES: a workgroup's threads merge before storing, or each stores its own partial;
      // PAIRED_LANES: periodic threads own two lanes each (partial-slots.wgsl)
      const sums = { ALIGNED: p.aligned, EXACT_SUMS: !this.tuning.contiguousItems, SHARED_LANES: p.sharedLanes, PAIRED_LANES: p.pairedLanes };
      const entryPoint = `${stage}_${periodic ? 'periodic' : 'planes'}`;
      return stage === 'stats' ? [this.stages.stats, entryPoint, sums] : [this.stages.gradReduce, entryPoint, { ...sums, RELU: this.relu }];
    });
    dispatch(this.device, pass, pipeline, group, periodic ? p.periodicWorkgroups : p.planeWorkgroups);
  }

  /**
   * Workgroups of a finalize stage, and whether its threads merge partials together
   * (partition.workgroupMerge) or each takes its own features: one (bn-grad-finalize)
   * or four (bn-finalize, in workgroups of featureColumnThreads).
   */
  private finalizeGrid(mergesPartials: boolean): [workgroups: number, workgroupMerge: boolean] {
    const p = this.partition;
    return mergesPartials && p.workgroupMerge ? [p.mergeWorkgroups, true] : [p.featureWorkgroups, false];
  }

  private encodeFinalize(pass: GPUComputePassEncoder, group: GPUBindGroup, mode: keyof typeof FINALIZE_MODE): void {
    const [workgroups, merge] = this.finalizeGrid(mode === 'batch' || mode === 'batch-and-running' || mode === 'shard');
    const size = merge ? this.tuning.workgroupSize : this.partition.featureColumnThreads;
    const pipeline = this.pipeline(`finalize ${mode}`, () => [this.stages.finalize, 'finalize', { MODE: FINALIZE_MODE[mode], WORKGROUP_MERGE: merge, WG_SIZE: size }]);
    dispatch(this.device, pass, pipeline, group, mode === 'tick' ? 1 : workgroups);
  }

  /**
   * Records a forward pass: 3 dispatches with batch statistics (1 on a one-pass plan); with running ones 1,
   * bn-apply computing the constants itself (2 with a residual: finalize, then
   * apply). With `given` statistics (data-parallel), their finalize and apply, and a
   * count of the batch first when the running statistics take it in.
   */
  encodeForward(pass: GPUComputePassEncoder, x: GPUBuffer, mode: StatisticsMode, given: Given, z?: GPUBuffer): void {
    if (mode === 'running' && !given && !this.residual) {
      this.encodeApplyRunning(pass, x);
      return;
    }
    if (mode !== 'running' && !given && this.onePass) {
      this.encodeOnePassForward(pass, this.onePass, x, mode === 'batch-and-running');
      return;
    }
    const [stats, finalize, apply] = this.forwardBindGroups(x, given ?? this.buffers.statistics, z);
    if (given) {
      if (mode === 'batch-and-running') this.encodeFinalize(pass, finalize, 'tick');
      this.encodeFinalize(pass, finalize, mode === 'batch-and-running' ? 'given-and-running' : 'given');
    } else {
      if (mode !== 'running') this.encodeReduce(pass, stats, 'stats');
      this.encodeFinalize(pass, finalize, mode);
    }
    this.encodeApply(pass, apply, false);
  }

  /** Records this batch's split statistics into the BatchNorm's statistics buffer: 2 dispatches. */
  encodeStatistics(pass: GPUComputePassEncoder, x: GPUBuffer): void {
    const [stats, finalize] = this.forwardBindGroups(x, this.buffers.statistics);
    this.encodeReduce(pass, stats, 'stats');
    this.encodeFinalize(pass, finalize, 'shard');
  }

  private encodeGradFinalize(pass: GPUComputePassEncoder, group: GPUBindGroup, mode: keyof typeof GRAD_FINALIZE_MODE): void {
    const [workgroups, merge] = this.finalizeGrid(mode !== 'given-sums');
    const pipeline = this.pipeline(`grad finalize ${mode}`, () => [this.stages.gradFinalize, 'grad_finalize', { MODE: GRAD_FINALIZE_MODE[mode], WORKGROUP_MERGE: merge }]);
    dispatch(this.device, pass, pipeline, group, workgroups);
  }

  /**
   * Records a backward pass for a forward over x: 3 dispatches (1 on a one-pass plan). With `given` sums
   * (data-parallel), 2: their finalize and dx (with ReLU, a dx pass that masks dy
   * itself); 3 with ReLU and a residual, whose dy' (dresidual) bn-grad-reduce writes
   * from this dy (its sums go unused).
   */
  encodeBackward(pass: GPUComputePassEncoder, x: GPUBuffer, dy: GPUBuffer, batchStatistics: boolean, given: Given): void {
    if (!given && this.onePass) {
      this.encodeOnePassBackward(pass, this.onePass, x, dy, batchStatistics);
      return;
    }
    const [reduce, finalize, apply, masking] = this.backwardBindGroups(x, dy, given ?? this.buffers.sums);
    if (given) {
      if (this.relu && !this.masksInDx) this.encodeReduce(pass, reduce, 'grad');
      this.encodeGradFinalize(pass, finalize, 'given-sums');
      this.encodeApply(pass, this.masksInDx ? masking : apply, true, this.masksInDx);
      return;
    }
    this.encodeReduce(pass, reduce, 'grad');
    this.encodeGradFinalize(pass, finalize, batchStatistics ? 'batch' : 'running');
    this.encodeApply(pass, apply, true);
  }

  /** Records this batch's gradient sums into the BatchNorm's sums buffer: 2 dispatches. */
  encodeGradientSums(pass: GPUComputePassEncoder, x: GPUBuffer, dy: GPUBuffer): void {
    const [reduce, finalize] = this.backwardBindGroups(x, dy, this.buffers.sums);
    this.encodeReduce(pass, reduce, 'grad');
    this.encodeGradFinalize(pass, finalize, 'sums');
  }

  /** bn-apply: y, or dx (`grad`), from dy or bn-grad-reduce's dy', or (`masking`) from dy masked here. */
  private encodeApply(pass: GPUComputePassEncoder, group: GPUBindGroup, grad: boolean, masking = false): void {
    const pipeline = this.pipeline(grad ? `grad input${masking ? ' masking' : ''}` : 'apply', () => {
      const epilogue: Constants = grad ? { RELU: masking } : { RESIDUAL: this.residual, RELU: this.relu };
      return [this.stages.apply, `apply_${this.partition.apply}`, { GRAD: grad, ...epilogue }];
    });
    dispatch(this.device, pass, pipeline, group, this.applyWorkgroups);
  }

  /** Eval in one pass: bn-apply with the constants from the running statistics (apply-running.wgsl). */
  private encodeApplyRunning(pass: GPUComputePassEncoder, x: GPUBuffer): void {
    const group = this.runningGroups.get([x], () => {
      const b = this.buffers;
      return this.pipelines.bindGroup(this.stages.applyRunning, `${this.label} apply running`, {
        params: { buffer: this.params }, ...this.views(x, 'x'), gamma: { buffer: b.gamma }, beta: { buffer: b.beta },
        runningMean: { buffer: b.runningMean }, runningVar: { buffer: b.runningVar }, out4: { buffer: this.y },
        feature: { buffer: b.feature },
      });
    });
    const pipeline = this.pipeline('apply running', () => [this.stages.applyRunning, `apply_${this.partition.apply}`, { RELU: this.relu }]);
    dispatch(this.device, pass, pipeline, group, this.applyWorkgroups);
  }

  /**
   * A one-pass stage's pipeline; `flag` is the constant a call chooses (the forward's
   * UPDATE_RUNNING, the backward's BATCH_STATISTICS), so the key stays a short string.
   */
  private onePassPipeline(o: OnePass, direction: 'forward' | 'backward', flag: boolean): GPUComputePipeline {
    return this.pipeline(`one-pass ${direction} ${flag}`, () => {
      const constants: Constants = direction === 'forward' ? { UPDATE_RUNNING: flag } : { BATCH_STATISTICS: flag, GRAD: true };
      const stage = direction === 'forward' ? this.stages.onePassForward : this.stages.onePassBackward;
      return [stage, `${direction}_${o.traversal}`, { ...constants, RELU: this.relu, SHARED_ROWS: o.sharedRows, EXACT_SUMS: !this.tuning.contiguousItems }];
    });
  }

  /** A training forward in one dispatch (one-pass-forward.wgsl), folding into the running statistics where `running`. */
  private encodeOnePassForward(pass: GPUComputePassEncoder, o: OnePass, x: GPUBuffer, running: boolean): void {
    const group = this.onePassForwardGroups.get([x], () => {
      const b = this.buffers;
      return this.pipelines.bindGroup(this.stages.onePassForward, `${this.label} one-pass forward`, {
        params: o.params, x4: this.views(x, 'x').x4, gamma: { buffer: b.gamma }, beta: { buffer: b.beta },
        runningMean: { buffer: b.runningMean }, runningVar: { buffer: b.runningVar }, batches: { buffer: b.batches },
        feature: { buffer: b.feature }, out4: { buffer: this.y },
      });
    });
    dispatch(this.device, pass, this.onePassPipeline(o, 'forward', running), group, o.workgroups);
  }

  /** A backward in one dispatch (one-pass-backward.wgsl), through batch statistics or running ones. */
  private encodeOnePassBackward(pass: GPUComputePassEncoder, o: OnePass, x: GPUBuffer, dy: GPUBuffer, batchStatistics: boolean): void {
    const group = this.onePassBackwardGroups.get([x, dy], () => {
      const b = this.buffers;
      const x4 = this.views(x, 'x').x4;
      return this.pipelines.bindGroup(this.stages.onePassBackward, `${this.label} one-pass backward`, {
        params: o.params, x4, dy4: this.views(dy, 'dy').dy4, feature: { buffer: b.feature },
        gamma: { buffer: b.gamma }, gradGamma: { buffer: b.gradGamma }, gradBeta: { buffer: b.gradBeta },
        out4: { buffer: this.dx }, y4: this.relu ? { buffer: this.y } : x4, // y for the ReLU's mask; x stands in
      });
    });
    dispatch(this.device, pass, this.onePassPipeline(o, 'backward', batchStatistics), group, o.workgroups);
  }

  /** bn-apply's workgroups, in the partition's traversal. */
  private get applyWorkgroups(): number {
    const p = this.partition;
    return { periodic: p.periodicWorkgroups, planes: p.planeWorkgroups, flat: p.flatWorkgroups }[p.apply];
  }

  destroy(): void {
    this.owned.destroy();
  }
}
