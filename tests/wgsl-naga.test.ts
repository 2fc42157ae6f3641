// Every WGSL module the package compiles, validated offline by naga (wgpu's shader
// compiler, as WebAssembly): types, bindings, entry points, override constants and
// `enable f16`. The float16 stages of the f16 path need a device with shader-f16
// to compile, which SwiftShader is not: here they are checked on every machine.
import { describe, expect, it } from 'vitest';
import { NagaError, nagaVersion, parseWgsl, validate } from 'naga-wasm';
import { floatOrderStage, halfStages, stages } from '../src/batchnorm/stages.js';
import { nnStages } from '../src/nn/stages.js';
import { specializeOverrides, type StageSource } from '../src/gpu/wgsl.js';

/** naga's report on a module, or null when it is valid. */
function nagaErrors(source: string): string | null {
  try {
    const module = parseWgsl(source);
    try {
      validate(module).free();
    } finally {
      module.free();
    }
    return null;
  } catch (e) {
    if (e instanceof NagaError) return `${e.kind}: ${e.formatted}`;
    throw e;
  }
}

const modules: StageSource[] = [...new Set([stages, halfStages.packed, halfStages.f16, nnStages].flatMap((set) => Object.values(set))), floatOrderStage];

describe(`naga ${nagaVersion} validates`, () => {
  it.each(modules.map((m) => [m.name, m] as const))('%s, with its overrides and specialized as pipelines get it', (_name, { source }) => {
    expect(nagaErrors(source)).toBeNull();
    expect(nagaErrors(specializeOverrides(source, {}))).toBeNull();
  });

  it('and rejects a broken f16 module, so the checks above can fail', () => {
    const apply = halfStages.f16.apply.source;
    expect(nagaErrors(apply.replace('return vec4f(v);', 'return v;'))).toMatch(/vec4<f16>|f16/); // f16 returned as f32
    expect(nagaErrors(apply.replace('enable f16;\n', ''))).toMatch(/enable/);
    expect(nagaErrors(apply.replace('return packHalves(v);', 'return vec4<f16>(v);'))).toMatch(/vec4<f16>|f16|return/); // an f16 vector where the output's u32s go
  });
});
