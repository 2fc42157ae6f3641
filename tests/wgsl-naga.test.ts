// Every WGSL module the package compiles, validated offline by naga (wgpu's shader
// compiler, as WebAssembly): types, bindings, entry points, override constants and
// `enable f16`. The float16 stages of the f16 path need a device with shader-f16
// to compile, which SwiftShader is not: here they are checked on every machine.
import { describe, expect, it } from 'vitest';
import { NagaError, nagaVersion, parseWgsl, validate } from 'naga-wasm';
import { floatOrderStage, halfStages, stages } from '../src/batchnorm/stages.js';
import { nnStages } from '../src/nn/stages.js';
import { specializeOverrides, type StageSource } from '../src/gpu/wgsl.js';

/**
 * WGSL bitcasts naga does not implement (between 32-bit words and f16 vectors:
 * gfx-rs/wgpu issue 8896), and for naga only, a function of the same signature in
 * their place: naga still checks the argument's type and the result's use. A module
 * with any other such bitcast fails here until it is added.
 */
const NAGA_BITCASTS: [call: string, shim: string][] = [
  ['bitcast<vec4<f16>>(', 'fn naga_bitcast_vec4h(w: vec2u) -> vec4<f16> { return vec4<f16>(vec4f(unpack2x16float(w.x), unpack2x16float(w.y))); }'],
];

/** The source naga reads: the module with NAGA_BITCASTS's shims. */
function forNaga(source: string): string {
  let out = source;
  for (const [call, shim] of NAGA_BITCASTS) {
    const name = /^fn (\w+)/.exec(shim)![1];
    if (out.includes(call)) out = `${out.split(call).join(`${name}(`)}\n${shim}\n`;
  }
  return out;
}

/** naga's report on a module, or null when it is valid. */
function nagaErrors(source: string): string | null {
  try {
    const module = parseWgsl(forNaga(source));
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
    expect(nagaErrors(apply.replace('bitcast<vec4<f16>>(packHalves(v))', 'bitcast<vec4<f16>>(halfBits(v))'))).toMatch(/naga_bitcast_vec4h|vec4<u32>/); // a vec4u is no bitcast to vec4<f16>
  });
});
