// Bind-group layouts, shader modules and pipelines, created once per device.
import { parseBindings, specializeOverrides, type Binding, type Constants, type StageSource } from './wgsl.js';

export type { Constants };

interface Stage {
  bindings: Binding[];
  layout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
}

export class DevicePipelines {
  private readonly stages = new Map<StageSource, Stage>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(readonly device: GPUDevice) {}

  stage(source: StageSource): Stage {
    let stage = this.stages.get(source);
    if (!stage) {
      const { name } = source;
      const bindings = parseBindings(source.source);
      const layout = this.device.createBindGroupLayout({
        label: `${name} layout`,
        entries: bindings.map(({ binding, kind }) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: kind },
        })),
      });
      stage = {
        bindings,
        layout,
        pipelineLayout: this.device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] }),
      };
      this.stages.set(source, stage);
    }
    return stage;
  }

  /**
   * The pipeline for one entry point of a stage, its override constants written into
   * the module's text (specializeOverrides): one shader module per pipeline, and no
   * implementation ever sees a pipeline-overridable constant.
   */
  pipeline(source: StageSource, entryPoint: string, constants: Constants): GPUComputePipeline {
    const key = `${source.name}/${entryPoint}/${JSON.stringify(constants)}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const stage = this.stage(source);
      const module = this.device.createShaderModule({ label: key, code: specializeOverrides(source.source, constants) });
      pipeline = this.device.createComputePipeline({ label: key, layout: stage.pipelineLayout, compute: { module, entryPoint } });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** A bind group for a stage, its resources named as in the WGSL source. */
  bindGroup(source: StageSource, label: string, resources: Record<string, GPUBufferBinding>): GPUBindGroup {
    const stage = this.stage(source);
    const missing = stage.bindings.filter((b) => !(b.name in resources)).map((b) => b.name);
    const extra = Object.keys(resources).filter((k) => !stage.bindings.some((b) => b.name === k));
    if (missing.length || extra.length) {
      throw new Error(`bind group ${label}: missing [${missing.join(', ')}], unknown [${extra.join(', ')}]`);
    }
    return this.device.createBindGroup({
      label,
      layout: stage.layout,
      entries: stage.bindings.map((b) => ({ binding: b.binding, resource: resources[b.name] })),
    });
  }
}

const cache = new WeakMap<GPUDevice, DevicePipelines>();

export function pipelinesFor(device: GPUDevice): DevicePipelines {
  let p = cache.get(device);
  if (!p) {
    p = new DevicePipelines(device);
    cache.set(device, p);
  }
  return p;
}
