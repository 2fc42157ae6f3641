// A GPUDevice in Node through Dawn (npm `webgpu`). Prefers a real GPU; falls back
// to SwiftShader, the CPU Vulkan driver that ships with Chromium and Chrome.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { adapterName, isCpuAdapter } from './adapter.js';

type DawnModule = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };

export interface RequestDeviceOptions {
  /** 'gpu': a hardware adapter only; 'swiftshader': SwiftShader only; 'auto' (default): a GPU, else SwiftShader. */
  adapter?: 'auto' | 'gpu' | 'swiftshader';
  /** Log the adapter chosen (default: false). A function receives the line instead. */
  log?: boolean | ((line: string) => void);
}

// Dawn's instance must outlive its device: if it is garbage-collected while work
// is in flight, the process crashes. Held here until the device is destroyed.
const instances = new Map<GPUDevice, GPU>();
// SwiftShader ICDs this module put in VK_ICD_FILENAMES: not a GPU on a later probe.
const swiftShaderIcds = new Set<string>();

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
  const d = await loadDawn();
  let found: { gpu: GPU; adapter: GPUAdapter; via: string } | undefined;

  // On Linux Dawn finds a GPU through a Vulkan driver; with none installed, skip the
  // probe, which would only print the Vulkan loader's warnings. A driver that is
  // installed but fails still prints them: that is worth seeing.
  const drivers = process.platform === 'linux' ? vulkanDrivers().filter((f) => !swiftShaderIcds.has(f)) : undefined;
  if (want !== 'swiftshader' && (!drivers || drivers.length > 0)) {
    const first = await adapterFrom(d);
    if (first && !isCpuAdapter(first.adapter.info)) found = { ...first, via: drivers ? 'Vulkan' : 'Dawn' };
  }
  const tried: string[] = [];
  if (!found && want !== 'gpu') {
    // Dawn reads VK_ICD_FILENAMES when it creates an instance, so set it before create().
    const previous = process.env.VK_ICD_FILENAMES;
    for (const icd of swiftShaderCandidates()) {
      tried.push(icd);
      process.env.VK_ICD_FILENAMES = icd;
      const next = await adapterFrom(d);
      if (next) {
        swiftShaderIcds.add(icd);
        found = { ...next, via: `VK_ICD_FILENAMES=${icd}` };
        break;
      }
    }
    if (!found) {
      if (previous === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = previous;
    }
  }
  if (!found) {
    const lines = [`webgpu-batchnorm: no WebGPU adapter found through Dawn (asked for: ${want}).`];
    if (!hasVulkanLoader()) lines.push('The Vulkan loader libvulkan.so.1 is missing: apt-get install -y libvulkan1');
    if (drivers?.length === 0 && want !== 'swiftshader') {
      lines.push('No Vulkan driver (ICD manifest) is installed for a GPU: none in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d or $VK_DRIVER_FILES.');
    }
    if (want !== 'gpu') {
      lines.push(
        tried.length
          ? `SwiftShader ICDs tried: ${tried.join(', ')}`
          : 'No SwiftShader Vulkan driver found: it ships with Chromium (apt-get install -y chromium) or Chrome; ' +
              'set CHROME_PATH to a Chrome binary that has vk_swiftshader_icd.json beside it.',
      );
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
