// The package as a user gets it: the built dist/ (types, names, messages), and the
// tarball `npm pack` makes, installed into a scratch project outside the repository.
// Needs a fresh dist/: .ci/run builds before the tests; locally, `npm run build`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readmeSnippet } from '../support/readme.js';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Dawn's complaints when it looks for a Vulkan driver that is not there. */
const DRIVER_WARNINGS = /vkCreateInstance|VK_ERROR|CheckVkSuccessImpl/;

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));


function node(args: string[], cwd: string, timeout = 60_000) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout });
  // what a failure message shows: stderr, or how the process ended when it wrote nothing
  const why = r.stderr || `no stderr; signal ${r.signal}, error ${r.error?.message ?? 'none'}`;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error, why };
}

beforeAll(() => {
  const built = join(dist, 'index.js');
  if (!existsSync(built) || !existsSync(join(dist, 'index.d.ts'))) {
    throw new Error('dist/ is missing: run `npm run build` first (.ci/run does)');
  }
  const newestSource = Math.max(...['src', 'shaders'].flatMap((d) => files(join(root, d))).map((f) => statSync(f).mtimeMs));
  if (statSync(built).mtimeMs < newestSource) throw new Error('dist/ is older than src/ or shaders/: run `npm run build` first');
});

describe('package.json', () => {
  it('is publishable: not private, prepack builds, ships dist with its maps, README and CHANGELOG', () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.scripts.prepack).toMatch(/npm run build/);
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'README.md', 'CHANGELOG.md']));
    expect(existsSync(join(root, 'CHANGELOG.md'))).toBe(true);
    for (const [entry, target] of Object.entries<Record<string, string>>(pkg.exports)) {
      if (typeof target === 'string') continue; // e.g. "./package.json"
      expect(existsSync(join(root, target.types)), `${entry} types`).toBe(true);
      expect(existsSync(join(root, target.default ?? target.import)), `${entry} code`).toBe(true);
    }
  });

  it('ships self-contained source maps, so src/ and shaders/ need not ship', () => {
    for (const map of files(dist).filter((f) => f.endsWith('.js.map'))) {
      const m = JSON.parse(readFileSync(map, 'utf8'));
      expect(m.sourcesContent?.length, map).toBe(m.sources.length);
      expect(m.sourcesContent.every((s: unknown) => typeof s === 'string'), map).toBe(true);
    }
  });
});

describe('declarations', () => {
  it('reference no WGSL (?raw) module', () => {
    const bad = files(dist)
      .filter((f) => f.endsWith('.d.ts'))
      .filter((f) => /(?:from|import)\s*\(?\s*['"][^'"]*(?:\.wgsl|\?raw)['"]/.test(readFileSync(f, 'utf8')));
    expect(bad).toEqual([]);
  });
});

describe('dist at run time', () => {
  it('keeps class names, names BatchNorm in stack traces, keeps messages short, and requestDevice is quiet', () => {
    const script = `
      import { BatchNorm } from ${JSON.stringify(join(dist, 'index.js'))};
      import { requestDevice } from ${JSON.stringify(join(dist, 'node.js'))};
      const out = {};
      try { new BatchNorm({}, { numFeatures: 0, layout: 'NC' }); } catch (e) {
        out.name = e.constructor.name; out.errName = e.name; out.stack = e.stack;
      }
      const device = await requestDevice();
      const bn = new BatchNorm(device, { numFeatures: 4, layout: 'NC' });
      try { await bn.forwardArray(Array.from({ length: 100000 }, (_, i) => i), [25000, 4]); } catch (e) { out.message = e.message; }
      bn.destroy();
      // Dawn (npm webgpu 0.6) may crash at exit when a device is destroyed with writes still queued
      await device.queue.onSubmittedWorkDone();
      device.destroy();
      console.log(JSON.stringify(out));
    `;
    const r = node(['--input-type=module', '-e', script], root);
    expect(r.stderr).not.toMatch(DRIVER_WARNINGS);
    expect(r.status, r.why).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.name).toBe('BatchNormError');
    expect(out.errName).toBe('BatchNormError');
    expect(out.stack).toMatch(/at new BatchNorm /);
    expect(out.message).toMatch(/x/);
    expect(out.message.length).toBeLessThan(300);
  });
});

/** TypeScript's compiler by its package's own bin path, not node_modules/.bin/tsc (the `typescript7` alias declares a `tsc` bin too). */
function typescript(name: 'typescript' | 'typescript7') {
  const manifest = createRequire(join(root, 'package.json')).resolve(`${name}/package.json`);
  const { version, bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  return { version: version as string, tsc: join(dirname(manifest), bin.tsc) };
}

/** A TypeScript consumer of every entry: gamma/dgamma typed non-null with affine (the default), null without. */
const CONSUMER = `import { BatchNorm, BatchNormError, Sequential, Linear, Sigmoid, type Gradients } from 'webgpu-batchnorm';
import { requestDevice } from 'webgpu-batchnorm/node';
import { useWebGPUBatchNorm, type TfjsModules } from 'webgpu-batchnorm/tfjs';

const device: GPUDevice = await requestDevice({ adapter: 'auto' });
const bn = new BatchNorm(device, { numFeatures: 4, layout: 'NC' });
const grads = await bn.backwardArray(new Float32Array(8));
const dgamma: Float32Array = grads.dgamma;
const state = await bn.getState();
const gamma: Float32Array = state.gamma;
const beta: GPUBuffer = bn.parameters.beta;
const dbeta: GPUBuffer = bn.gradients.dbeta;
const onGpu: Gradients<GPUBuffer> = bn.backward(device.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE }));

const plain = new BatchNorm(device, { numFeatures: 4, layout: 'NC', affine: false });
const none: null = plain.parameters;
// @ts-expect-error without affine there is no dgamma
const missing: Float32Array = (await plain.backwardArray(new Float32Array(8))).dgamma;

const flag: boolean = Math.random() > 0.5;
const either = new BatchNorm(device, { numFeatures: 4, layout: 'NC', affine: flag });
// @ts-expect-error affine only known at run time: gamma may be null
const maybe: Float32Array = (await either.getState()).gamma;

const model = new Sequential(device, [new Linear(device, { inFeatures: 4, outFeatures: 4, bias: false }), bn, new Sigmoid(device)]);
const err: BatchNormError | undefined = undefined;
const tf: TfjsModules | undefined = undefined;
console.log(dgamma, gamma, beta, dbeta, onGpu, none, missing, maybe, model, err, tf, useWebGPUBatchNorm);
`;

/**
 * TypeScript 7.0.2's DOM lib declares the WebGPU interfaces and navigator.gpu but not WebGPU's flag
 * namespaces (GPUBufferUsage, GPUMapMode, ...; microsoft/TypeScript-DOM-lib-generator#2465), and
 * @webgpu/types cannot be added beside it (duplicate identifiers). So with its DOM lib alone, code that
 * names a flag (the README's browser snippet, the consumer above) fails there, and only there.
 */
const DOM_LIB_GAP = /^(?:consumer|browser|node-snippet)\.ts\(\d+,\d+\): error TS2304: Cannot find name 'GPU(?:BufferUsage|MapMode|ShaderStage|TextureUsage|ColorWrite)'\.$/;

describe('npm pack', () => {
  let scratch: string;
  let project: string;
  let packed: { filename: string; files: { path: string }[] };

  // One tarball, installed once into a project outside the repository; the tests below share it.
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'bn-pack-'));
    // dist/ is fresh (checked above); prepack would rebuild it, which .ci/run has just done.
    packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' }),
    )[0];
    project = join(scratch, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(scratch, packed.filename), `webgpu@${pkg.devDependencies.webgpu}`], {
      cwd: project,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
    });
  }, 120_000);
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('ships dist with its maps, README and CHANGELOG, and nothing else', () => {
    const shipped: string[] = packed.files.map((f) => f.path);
    expect(shipped).toEqual(expect.arrayContaining(['package.json', 'README.md', 'CHANGELOG.md', 'dist/index.js', 'dist/index.js.map', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'dist/tfjs.js', 'dist/tfjs.d.ts']));
    expect(shipped.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'].includes(f))).toEqual([]);
  });

  it('installs into a project outside the repository, and the README Node snippet runs quietly and exits', () => {
    writeFileSync(join(project, 'main.mjs'), readmeSnippet('Use in Node'));
    const run = node(['main.mjs'], project);
    expect(run.stderr).not.toMatch(DRIVER_WARNINGS);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/1\.2247/);

    // The same without device.destroy(): the script still ends.
    writeFileSync(join(project, 'alive.mjs'), readmeSnippet('Use in Node').replace('device.destroy();', ''));
    const alive = node(['alive.mjs'], project, 30_000);
    expect(alive.error).toBeUndefined();
    expect(alive.status).toBe(0);

    // CommonJS: require() of an ES module package, Node 20.19 and later.
    const cjs = node(['-e', "const { BatchNorm } = require('webgpu-batchnorm'); console.log(typeof BatchNorm)"], project);
    expect(cjs.stdout.trim()).toBe('function');

    // The TF.js entry loads without TF.js installed (its packages are optional peers, never bundled).
    const tfjs = node(['--input-type=module', '-e', "const m = await import('webgpu-batchnorm/tfjs'); console.log(typeof m.useWebGPUBatchNorm)"], project);
    expect(tfjs.stderr).toBe('');
    expect(tfjs.stdout.trim()).toBe('function');
  });

  describe('declarations compile in a strict consumer with skipLibCheck false (the README snippets and every entry)', () => {
    /** What `npm install --save-dev <name>` gives the consumer: the repository's own copy, linked into the scratch project. */
    function devDependency(name: string) {
      const target = join(project, 'node_modules', name);
      mkdirSync(dirname(target), { recursive: true });
      if (!existsSync(target)) symlinkSync(join(root, 'node_modules', name), target, 'dir');
    }

    /** Compiles the consumer and the README snippets in the installed project; returns tsc's output. */
    function compile(name: 'typescript' | 'typescript7', major: number, types: string[], lib = ['ES2022', 'DOM']) {
      const { version, tsc } = typescript(name);
      expect(version.split('.')[0], `${name} ${version}`).toBe(String(major));
      writeFileSync(join(project, 'consumer.ts'), CONSUMER);
      writeFileSync(join(project, 'browser.ts'), `export {};\n${readmeSnippet('Use in a browser page')}`);
      writeFileSync(join(project, 'node-snippet.ts'), `export {};\n${readmeSnippet('Use in Node')}`);
      const config = `tsconfig.ts${major}.json`;
      writeFileSync(
        join(project, config),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            lib,
            types,
            strict: true,
            skipLibCheck: false,
            noEmit: true,
          },
          files: ['consumer.ts', 'browser.ts', 'node-snippet.ts'],
        }),
      );
      const r = node([tsc, '-p', config, '--pretty', 'false'], project);
      return { status: r.status, output: (r.stdout + r.stderr).trim(), why: r.why };
    }

    it('TypeScript 5 with @webgpu/types in types', () => {
      devDependency('@webgpu/types');
      const r = compile('typescript', 5, ['@webgpu/types']);
      expect(r.output).toBe('');
      expect(r.status, r.why).toBe(0);
    });

    it('TypeScript 7 with its DOM lib alone (nothing added); only code naming a WebGPU flag namespace misses it there', () => {
      const r = compile('typescript7', 7, []);
      // every error is the DOM lib's gap, in the consumer's own code; none in the package's declarations
      const other = r.output.split('\n').filter((line) => line && !DOM_LIB_GAP.test(line));
      expect(other).toEqual([]);
      // it ran to its end (not killed), and exits cleanly when it has nothing to say
      expect(r.status, r.why).not.toBeNull();
      if (!r.output) expect(r.status, r.why).toBe(0);
    });

    // The README's advice to TypeScript 7 users whose code names a flag: @types/web in place of the DOM
    // lib (it declares the flag namespaces too). It must leave nothing to report, under 5 as under 7.
    for (const [name, major] of [['typescript', 5], ['typescript7', 7]] as const) {
      it(`TypeScript ${major} with @types/web in types in place of the DOM lib (lib ES2022 alone): no errors at all`, () => {
        devDependency('@types/web');
        const r = compile(name, major, ['@types/web'], ['ES2022']);
        expect(r.output).toBe('');
        expect(r.status, r.why).toBe(0);
      });
    }
  });
});
