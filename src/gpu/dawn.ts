// A GPUDevice in Node through Dawn (npm `webgpu`). Prefers a real GPU; else a
// software Vulkan driver: SwiftShader (ships with Chromium and Chrome) or Mesa's
// lavapipe (mesa-vulkan-drivers).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { adapterName, isCpuAdapter } from './adapter.js';

type DawnModule = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };

/**
 * The software Vulkan drivers requestDevice knows, in the order 'auto' and 'software'
 * try them: lavapipe first where it is installed, as it runs this package's stages
 * 3-4x faster than SwiftShader on the same cores and has `shader-f16`
 * (docs/performance.md); SwiftShader, which every Chromium and Chrome ships, else.
 */
export const SOFTWARE_ADAPTERS = ['lavapipe', 'swiftshader'] as const;
export type SoftwareAdapter = (typeof SOFTWARE_ADAPTERS)[number];
export type AdapterChoice = 'auto' | 'gpu' | 'software' | SoftwareAdapter;
export const ADAPTER_CHOICES: readonly AdapterChoice[] = ['auto', 'gpu', 'software', ...SOFTWARE_ADAPTERS];

export interface RequestDeviceOptions {
  /**
   * 'auto' (default): a GPU, else a software adapter; 'gpu': a hardware adapter only;
   * 'software': lavapipe, else SwiftShader (SOFTWARE_ADAPTERS); 'lavapipe' or
   * 'swiftshader': that driver only.
   */
  adapter?: AdapterChoice;
  /** Log the adapter chosen (default: false). A function receives the line instead. */
  log?: boolean | ((line: string) => void);
}

// Dawn's instance must outlive its device: if it is garbage-collected while work
// is in flight, the process crashes. Held here until the device is destroyed.
const instances = new Map<GPUDevice, GPU>();

let dawn: DawnModule | undefined;
async function loadDawn(): Promise<DawnModule> {
  if (!dawn) {
    try {
      dawn = (await import('webgpu')) as unknown as DawnModule;
    } catch (e) {
      throw new Error(`webgpu-batchnorm/node needs the npm package "webgpu" (Dawn): npm install webgpu\n${String(e)}`);
    }
    // GPUBufferUsage, GPUShaderStage, GPUMapMode ... as a browser has them
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) Object.assign(globalThis, { [k]: v });
  }
  return dawn;
}

/** Where a SwiftShader Vulkan ICD may be: next to a Chromium or Chrome binary. */
export function swiftShaderCandidates(): string[] {
  const dirs = [
    ...[process.env.CHROME_PATH, process.env.PUPPETEER_EXECUTABLE_PATH].filter((p): p is string => !!p).map((p) => dirname(p)),
    '/usr/lib/chromium',
    '/usr/lib/chromium-browser',
    '/usr/lib64/chromium-browser',
    '/opt/google/chrome',
    '/opt/google/chrome-beta',
    '/opt/google/chrome-unstable',
    '/snap/chromium/current/usr/lib/chromium-browser',
  ];
  // browsers downloaded by @puppeteer/browsers: ~/.cache/puppeteer/<browser>/<platform-version>/<folder>/
  const cache = process.env.PUPPETEER_CACHE_DIR ?? join(homedir(), '.cache', 'puppeteer');
  for (const browser of ['chrome', 'chrome-headless-shell']) {
    const root = join(cache, browser);
    if (!existsSync(root)) continue;
    for (const version of readdirSync(root)) {
      const vdir = join(root, version);
      for (const sub of readdirSync(vdir)) dirs.push(join(vdir, sub));
    }
  }
  return dirs.map((d) => join(d, 'vk_swiftshader_icd.json')).filter((f) => existsSync(f));
}

/**
 * The Vulkan drivers (ICD manifests) the Vulkan loader would find on Linux, as
 * the loader searches for them: $VK_DRIVER_FILES or $VK_ICD_FILENAMES when set
 * (files or folders), else the icd.d folders under the XDG config and data dirs,
 * /etc and /usr/local/etc, plus $VK_ADD_DRIVER_FILES. Without any, Dawn's probe
 * for a GPU can only fail, and it prints "vkCreateInstance: Found no drivers!"
 * on stderr while doing so; requestDevice skips that probe.
 */
export function vulkanDrivers(env: Record<string, string | undefined> = process.env): string[] {
  const list = (v: string | undefined) => (v ?? '').split(':').filter(Boolean);
  const manifests = (path: string): string[] => {
    try {
      if (!existsSync(path)) return [];
      if (path.endsWith('.json')) return [path];
      return readdirSync(path)
        .filter((f) => f.endsWith('.json'))
        .map((f) => join(path, f));
    } catch {
      return [];
    }
  };
  const override = list(env.VK_DRIVER_FILES).length ? list(env.VK_DRIVER_FILES) : list(env.VK_ICD_FILENAMES);
  const home = homedir();
  const configDirs = [env.XDG_CONFIG_HOME || join(home, '.config'), ...(list(env.XDG_CONFIG_DIRS).length ? list(env.XDG_CONFIG_DIRS) : ['/etc/xdg'])];
  const dataDirs = [env.XDG_DATA_HOME || join(home, '.local', 'share'), ...(list(env.XDG_DATA_DIRS).length ? list(env.XDG_DATA_DIRS) : ['/usr/local/share', '/usr/share'])];
  const searched = override.length
    ? override
    : [...configDirs, '/usr/local/etc', '/etc', ...dataDirs].map((d) => join(d, 'vulkan', 'icd.d'));
  return [...new Set([...searched, ...list(env.VK_ADD_DRIVER_FILES)].flatMap(manifests))];
}

/** The library an ICD manifest names, or '' when it cannot be read. */
function driverLibrary(manifest: string): string {
  try {
    return String(JSON.parse(readFileSync(manifest, 'utf8')).ICD?.library_path ?? '');
  } catch {
    return '';
  }
}

const isLavapipe = (manifest: string) => /libvulkan_lvp\.so/.test(driverLibrary(manifest));
const isSwiftShader = (manifest: string) => /swiftshader/i.test(driverLibrary(manifest));

/**
 * Where Mesa's lavapipe ICD may be: among the drivers the loader finds
 * (vulkanDrivers, so $VK_DRIVER_FILES and $VK_ADD_DRIVER_FILES count) and in the
 * system's icd.d folders, which mesa-vulkan-drivers installs it into.
 */
export function lavapipeCandidates(): string[] {
  const system = vulkanDrivers({ HOME: process.env.HOME, XDG_DATA_DIRS: process.env.XDG_DATA_DIRS, XDG_CONFIG_DIRS: process.env.XDG_CONFIG_DIRS });
  return [...new Set([...vulkanDrivers(), ...system])].filter(isLavapipe);
}

const softwareCandidates: Record<SoftwareAdapter, () => string[]> = { swiftshader: swiftShaderCandidates, lavapipe: lavapipeCandidates };

const hasVulkanLoader = () =>
  ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'].some((d) =>
    existsSync(join(d, 'libvulkan.so.1')),
  );

async function adapterFrom(dawnModule: DawnModule): Promise<{ gpu: GPU; adapter: GPUAdapter } | undefined> {
  const gpu = dawnModule.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  return adapter ? { gpu, adapter } : undefined;
}

/**
 * The adapter of one ICD manifest alone: the loader reads $VK_DRIVER_FILES (and,
 * older ones, $VK_ICD_FILENAMES) when Dawn creates its instance, so both name the
 * manifest for that moment and are restored after.
 */
async function adapterOfDriver(dawnModule: DawnModule, manifest: string): Promise<{ gpu: GPU; adapter: GPUAdapter } | undefined> {
  const names = ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES'] as const;
  const previous = names.map((n) => process.env[n]);
  for (const n of names) process.env[n] = manifest;
  try {
    return await adapterFrom(dawnModule);
  } finally {
    names.forEach((n, i) => {
      if (previous[i] === undefined) delete process.env[n];
      else process.env[n] = previous[i];
    });
  }
}

/**
 * What requestDevice asks of the adapter: its largest buffers, and `shader-f16`
 * where it has it (float16 BatchNorms then bind their tensors as WGSL f16).
 */
export function deviceDescriptor(adapter: Pick<GPUAdapter, 'features' | 'limits'>): GPUDeviceDescriptor {
  return {
    label: 'webgpu-batchnorm node device',
    requiredFeatures: adapter.features.has('shader-f16') ? ['shader-f16'] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  };
}

/**
 * A GPUDevice with the adapter's largest buffer limits, and `shader-f16` where the
 * adapter has it. Destroy it when done to
 * free its memory (a script still exits when it ends with the device alive).
 */
export async function requestDevice(options: RequestDeviceOptions = {}): Promise<GPUDevice> {
  const want = options.adapter ?? 'auto';
  if (!ADAPTER_CHOICES.includes(want)) throw new Error(`requestDevice: adapter must be one of ${ADAPTER_CHOICES.join(', ')}; got ${JSON.stringify(want)}`);
  const d = await loadDawn();
  let found: { gpu: GPU; adapter: GPUAdapter; via: string } | undefined;

  // On Linux Dawn finds a GPU through a Vulkan driver; with none but software ones
  // installed, skip the probe, which would only print the Vulkan loader's warnings.
  // A driver that is installed but fails still prints them: that is worth seeing.
  const drivers = process.platform === 'linux' ? vulkanDrivers().filter((f) => !isLavapipe(f) && !isSwiftShader(f)) : undefined;
  if ((want === 'auto' || want === 'gpu') && (!drivers || drivers.length > 0)) {
    const first = await adapterFrom(d);
    if (first && !isCpuAdapter(first.adapter.info)) found = { ...first, via: drivers ? 'Vulkan' : 'Dawn' };
  }
  const software = want === 'auto' || want === 'software' ? SOFTWARE_ADAPTERS : want === 'gpu' ? [] : [want];
  const tried: string[] = [];
  for (const kind of software) {
    for (const icd of found ? [] : softwareCandidates[kind]()) {
      tried.push(icd);
      const next = await adapterOfDriver(d, icd);
      if (next) found = { ...next, via: `${kind} ${icd}` };
      if (found) break;
    }
  }
  if (!found) {
    const lines = [`webgpu-batchnorm: no WebGPU adapter found through Dawn (asked for: ${want}).`];
    if (!hasVulkanLoader()) lines.push('The Vulkan loader libvulkan.so.1 is missing: apt-get install -y libvulkan1');
    if (drivers?.length === 0 && (want === 'auto' || want === 'gpu')) {
      lines.push('No Vulkan driver (ICD manifest) is installed for a GPU: none in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d or $VK_DRIVER_FILES.');
    }
    if (tried.length) lines.push(`Software drivers tried: ${tried.join(', ')}`);
    if (software.includes('swiftshader') && !tried.some(isSwiftShader)) {
      lines.push('No SwiftShader: it ships with Chromium (apt-get install -y chromium) or Chrome; set CHROME_PATH to a Chrome binary that has vk_swiftshader_icd.json beside it.');
    }
    if (software.includes('lavapipe') && !tried.some(isLavapipe)) {
      lines.push("No lavapipe: it is Mesa's mesa-vulkan-drivers, version 24 or newer (Debian 13, Ubuntu 24.04; on Debian 12 from bookworm-backports); or point VK_ADD_DRIVER_FILES at its lvp_icd.json.");
    }
    throw new Error(lines.join('\n'));
  }

  const { gpu, adapter } = found;
  const device = await adapter.requestDevice(deviceDescriptor(adapter));
  instances.set(device, gpu);
  void device.lost.then(() => instances.delete(device));
  const line = `webgpu-batchnorm: ${adapterName(device)} via ${found.via}`;
  if (typeof options.log === 'function') options.log(line);
  else if (options.log) console.log(line);
  return device;
}
