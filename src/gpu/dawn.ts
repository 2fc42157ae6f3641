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
 * A GPUDevice with the adapter's largest buffer limits. Destroy it when done:
 * Node does not exit while a Dawn device is alive.
 */
export async function requestDevice(options: RequestDeviceOptions = {}): Promise<GPUDevice> {
  const want = options.adapter ?? 'auto';
  const d = await loadDawn();
  let found: { gpu: GPU; adapter: GPUAdapter; via: string } | undefined;

  if (want !== 'swiftshader') {
    const first = await adapterFrom(d);
    if (first && !isCpuAdapter(first.adapter.info)) found = { ...first, via: 'Vulkan' };
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
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    label: 'webgpu-batchnorm node device',
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
    },
  });
  instances.set(device, gpu);
  void device.lost.then(() => instances.delete(device));
  const line = `webgpu-batchnorm: ${adapterName(device)} via ${found.via}`;
  if (typeof options.log === 'function') options.log(line);
  else if (options.log) console.log(line);
  return device;
}
