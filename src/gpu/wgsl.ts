// What the host reads out of WGSL: bind-group layouts, uniform structs and
// constants are parsed from the shaders, so the shaders stay the one place where
// they are written down.
import grid from '../../shaders/gpu/grid.wgsl?raw';

/** A WGSL module the host compiles: a name for labels and the full source. */
export interface StageSource {
  readonly name: string;
  readonly source: string;
}

const withoutComments = (source: string) => source.replace(/\/\/[^\n]*/g, '');

/** The directives a file starts with (`enable f16;`), and the rest of it. */
function splitDirectives(file: string): { directives: string[]; body: string } {
  const head = /^(?:\s*(?:enable|requires)\s[^;]*;)*/.exec(file)![0];
  const body = file.slice(head.length);
  const late = /\b(?:enable|requires)\s[^;]*;/.exec(withoutComments(body));
  if (late) throw new Error(`WGSL directive "${late[0]}" must start its file, before any comment or declaration`);
  return { directives: head.split(';').map((d) => d.trim().replace(/\s+/g, ' ')).filter(Boolean).map((d) => `${d};`), body };
}

/**
 * A module: grid.wgsl (WG_SIZE and the workgroup-index helpers) first, then the
 * given files in order. WGSL takes directives only before every declaration, so
 * those the files start with come first, each once.
 */
export function stageSource(name: string, ...files: string[]): StageSource {
  const parts = [grid, ...files].map(splitDirectives);
  const directives = [...new Set(parts.flatMap((p) => p.directives))];
  return { name, source: [...directives.map((d) => `${d}\n`), ...parts.map((p) => p.body)].join('') };
}

export type Constants = Record<string, number | boolean>;

/** WGSL's spelling of a scalar of `type`: `true`, `64u`, `-3i`, `0.5f`. */
function scalarLiteral(name: string, type: string, value: number | boolean): string {
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw new Error(`override ${name}: bool, given ${String(value)}`);
    return String(value);
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`override ${name}: ${type}, given ${String(value)}`);
  if (type === 'f32') return `${value}f`;
  if (!Number.isInteger(value) || (type === 'u32' && value < 0)) throw new Error(`override ${name}: ${type}, given ${value}`);
  return type === 'u32' ? `${value}u` : `${value}i`;
}

/**
 * The source with every pipeline-overridable constant written in as a module
 * constant: `override NAME: T = default;` becomes `const NAME: T = value;`, the value
 * from `constants` or else the default. Pipelines are built from this text with no
 * override left, because wgpu (Firefox 153) panics creating a pipeline where
 * WG_SIZE and another override both remain overridable (see docs/design.md).
 */
export function specializeOverrides(source: string, constants: Constants): string {
  const re = /\boverride\s+(\w+)\s*:\s*(bool|u32|i32|f32)\s*=\s*([^;]+);/g;
  const declared = new Set<string>();
  const out = source.replace(re, (_all, name: string, type: string, fallback: string) => {
    declared.add(name);
    const value = constants[name];
    return `const ${name}: ${type} = ${value === undefined ? fallback.trim() : scalarLiteral(name, type, value)};`;
  });
  const unknown = Object.keys(constants).filter((k) => !declared.has(k));
  if (unknown.length) throw new Error(`not override constants of the module: ${unknown.join(', ')}`);
  if (/\boverride\b/.test(withoutComments(out))) throw new Error('an override declaration without a bool, u32, i32 or f32 type and default is left');
  return out;
}

export type BindingKind = 'uniform' | 'read-only-storage' | 'storage';

export interface Binding {
  binding: number;
  name: string;
  kind: BindingKind;
}

/** The @group(0) resources a module declares, in binding order. */
export function parseBindings(source: string): Binding[] {
  const re = /@group\(0\)\s*@binding\((\d+)\)\s*var<([^>]+)>\s*(\w+)\s*:/g;
  const out: Binding[] = [];
  for (const [, binding, space, name] of withoutComments(source).matchAll(re)) {
    const parts = space.split(',').map((s) => s.trim());
    const kind: BindingKind =
      parts[0] === 'uniform' ? 'uniform' : parts[1] === 'read_write' ? 'storage' : 'read-only-storage';
    out.push({ binding: Number(binding), name, kind });
  }
  return out.sort((a, b) => a.binding - b.binding);
}

export interface StructField {
  name: string;
  type: 'u32' | 'f32';
}

/** Fields of a struct made only of u32 and f32 members (4 bytes each, no padding). */
export function parseStruct(source: string, struct: string): StructField[] {
  const body = new RegExp(`struct\\s+${struct}\\s*\\{([^}]*)\\}`).exec(withoutComments(source));
  if (!body) throw new Error(`struct ${struct} not found in WGSL source`);
  return body[1]
    .split(',')
    .map((member) => member.trim())
    .filter(Boolean)
    .map((member) => {
      const [name, type] = member.split(':').map((s) => s.trim());
      if (type !== 'u32' && type !== 'f32') throw new Error(`${struct}.${name}: unsupported type ${type}`);
      return { name, type };
    });
}

/** The value of a module-scope `const NAME = 123u;`. */
export function parseConst(source: string, name: string): number {
  const m = new RegExp(`const\\s+${name}\\s*=\\s*(\\d+)u?\\s*;`).exec(source);
  if (!m) throw new Error(`const ${name} not found in WGSL source`);
  return Number(m[1]);
}

/** Packs values into the bytes of a struct parsed by parseStruct; every field needs a value. */
export function packStruct(fields: StructField[], values: Record<string, number>): ArrayBuffer {
  const bytes = new ArrayBuffer(fields.length * 4);
  const view = new DataView(bytes);
  const unknown = Object.keys(values).filter((k) => !fields.some((f) => f.name === k));
  if (unknown.length) throw new Error(`not fields of the struct: ${unknown.join(', ')}`);
  fields.forEach(({ name, type }, i) => {
    const v = values[name];
    if (v === undefined) throw new Error(`struct field ${name} has no value`);
    if (type === 'u32') view.setUint32(i * 4, v, true);
    else view.setFloat32(i * 4, v, true);
  });
  return bytes;
}
