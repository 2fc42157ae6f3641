// What the host reads out of the WGSL sources.
import { describe, expect, it } from 'vitest';
import { packStruct, parseBindings, parseConst, parseStruct, specializeOverrides, stageSource } from '../src/gpu/wgsl.js';
import { FEATURE_SECTIONS, forcePackedHalves, halfPathOf, halfStages, PARAMS_FIELDS, paramsFields, stages, stagesOf } from '../src/batchnorm/stages.js';
import paramsSource from '../shaders/batchnorm/params.wgsl?raw';

describe('parseStruct and packStruct', () => {
  const source = `struct P {\n  a: u32, // count\n  b: f32,\n  c: u32,\n}`;
  it('reads fields in order, ignoring comments', () => {
    expect(parseStruct(source, 'P')).toEqual([
      { name: 'a', type: 'u32' },
      { name: 'b', type: 'f32' },
      { name: 'c', type: 'u32' },
    ]);
  });
  it('packs values by name, little-endian, 4 bytes each', () => {
    const bytes = packStruct(parseStruct(source, 'P'), { a: 7, b: 1.5, c: 4_000_000_000 });
    const view = new DataView(bytes);
    expect([view.getUint32(0, true), view.getFloat32(4, true), view.getUint32(8, true)]).toEqual([7, 1.5, 4_000_000_000]);
  });
  it('refuses a missing or unknown field', () => {
    const fields = parseStruct(source, 'P');
    expect(() => packStruct(fields, { a: 1, b: 2 })).toThrow(/struct field c has no value/);
    expect(() => packStruct(fields, { a: 1, b: 2, c: 3, d: 4 })).toThrow(/not fields of the struct: d/);
  });
  it('refuses types it cannot pack', () => {
    expect(() => parseStruct('struct Q { v: vec4f }', 'Q')).toThrow(/Q\.v: unsupported type vec4f/);
  });
  it('finds the batch-norm Params struct with only u32 and f32 fields', () => {
    expect(paramsFields.length).toBeGreaterThan(20);
    expect(paramsFields.map((f) => f.name)).toContain('eps');
    expect(paramsFields.find((f) => f.name === 'eps')!.type).toBe('f32');
  });
  it('types Params as params.wgsl declares it: PARAMS_FIELDS is its field list, in order', () => {
    // a field added, renamed or moved in the WGSL must be so in PARAMS_FIELDS (src/batchnorm/stages.ts) too
    expect(parseStruct(paramsSource, 'Params').map((f) => f.name)).toEqual([...PARAMS_FIELDS]);
    expect(paramsFields.map((f) => f.name)).toEqual([...PARAMS_FIELDS]);
  });
});

describe('stage bindings', () => {
  it.each([...new Set([stages, halfStages.packed, halfStages.f16].flatMap((set) => Object.values(set)))].map((s) => [s.name, s] as const))('%s: params at binding 0, unique bindings, storage kinds', (_name, stage) => {
    const bindings = parseBindings(stage.source);
    expect(bindings[0]).toEqual({ binding: 0, name: 'params', kind: 'uniform' });
    expect(new Set(bindings.map((b) => b.binding)).size).toBe(bindings.length);
    expect(bindings.length).toBeLessThanOrEqual(9); // 8 storage buffers per stage is WebGPU's default limit
    for (const b of bindings.slice(1)) expect(['read-only-storage', 'storage']).toContain(b.kind);
  });
  it('reads constants', () => {
    const last = parseConst(stages.apply.source, 'GRAD_SHIFT'); // the last per-feature section
    expect(FEATURE_SECTIONS).toBe(last + 1);
    expect(parseConst('const X = 12u;', 'X')).toBe(12);
    expect(() => parseConst('const X = 12u;', 'Y')).toThrow(/const Y not found/);
  });
});

describe('stageSource', () => {
  it('puts the directives the files start with first, each once', () => {
    const { source } = stageSource('t', 'enable f16;\n// a\nfn a() {}\n', 'enable  f16;\nrequires packed_4x8_integer_dot_product;\nfn b() {}\n');
    expect(source.startsWith('enable f16;\nrequires packed_4x8_integer_dot_product;\n')).toBe(true);
    expect(source.match(/enable/g)).toHaveLength(1);
    expect(source).toContain('fn a() {}');
    expect(source).toContain('fn b() {}');
  });
  it('refuses a directive after the start of its file', () => {
    expect(() => stageSource('t', 'fn a() {}\nenable f16;\n')).toThrow(/WGSL directive "enable f16;" must start its file/);
    expect(() => stageSource('t', '// f16\nenable f16;\n')).toThrow(/must start its file/);
  });
  it('the f16 stages enable f16 once, at the top; the others never', () => {
    const code = (source: string) => source.replace(/\/\/[^\n]*/g, '');
    for (const stage of Object.values(halfStages.f16)) {
      if (stage === stages.gradFinalize || stage === stages.merge) continue; // they touch no tensors
      expect(stage.source.startsWith('enable f16;\n'), stage.name).toBe(true);
      expect(code(stage.source).match(/\benable\b/g), stage.name).toHaveLength(1);
    }
    for (const stage of [...Object.values(stages), ...Object.values(halfStages.packed)]) expect(code(stage.source), stage.name).not.toMatch(/\benable\b/);
  });
});

describe('float16 path', () => {
  const device = (features: string[]) => ({ features: new Set(features) }) as unknown as GPUDevice;
  it('is f16 on a device with shader-f16, packed on one without, and packed where the tests force it', () => {
    const f16 = device(['shader-f16']);
    expect(halfPathOf(f16)).toBe('f16');
    expect(halfPathOf(device([]))).toBe('packed');
    expect(stagesOf('float16', f16)).toBe(halfStages.f16);
    expect(stagesOf('float16', device([]))).toBe(halfStages.packed);
    expect(stagesOf('float32', f16)).toBe(stages);
    forcePackedHalves(f16, true);
    expect(halfPathOf(f16)).toBe('packed');
    expect(halfPathOf(device(['shader-f16']))).toBe('f16'); // per device
    forcePackedHalves(f16, false);
    expect(halfPathOf(f16)).toBe('f16');
  });
});

describe('specializeOverrides', () => {
  const source = 'override WG_SIZE: u32 = 64u;\n// override in a comment stays\noverride RELU: bool = false;\noverride SCALE: f32 = 1.0;\noverride SHIFT: i32 = -2i;\n';
  it('writes each override in as a const: the given value, else its default', () => {
    const out = specializeOverrides(source, { WG_SIZE: 16, RELU: true, SCALE: 0.5 });
    expect(out).toContain('const WG_SIZE: u32 = 16u;');
    expect(out).toContain('const RELU: bool = true;');
    expect(out).toContain('const SCALE: f32 = 0.5f;');
    expect(out).toContain('const SHIFT: i32 = -2i;');
    expect(out.replace(/\/\/[^\n]*/g, '')).not.toMatch(/\boverride\b/);
  });
  it('refuses a constant the module does not declare, or a value of the wrong type', () => {
    expect(() => specializeOverrides(source, { WG_SZE: 16 })).toThrow(/not override constants of the module: WG_SZE/);
    expect(() => specializeOverrides(source, { RELU: 1 })).toThrow(/override RELU: bool, given 1/);
    expect(() => specializeOverrides(source, { WG_SIZE: -1 })).toThrow(/override WG_SIZE: u32, given -1/);
    expect(() => specializeOverrides(source, { WG_SIZE: 1.5 })).toThrow(/override WG_SIZE: u32, given 1.5/);
  });
  it('leaves no override in any stage the package compiles', () => {
    for (const stage of [...new Set([stages, halfStages.packed, halfStages.f16].flatMap((set) => Object.values(set)))]) {
      expect(specializeOverrides(stage.source, {}).replace(/\/\/[^\n]*/g, ''), stage.name).not.toMatch(/\boverride\b/);
    }
  });
});
