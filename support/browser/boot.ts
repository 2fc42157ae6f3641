// The harness page: gets a WebGPU device with the adapter's largest buffer limits
// (and shader-f16 where it has it), watches it for loss and uncaptured errors,
// loads the page module named in the URL, and runs its functions when the driver
// asks (see protocol.ts).
import { adapterName } from 'webgpu-batchnorm';
import { LOG_BINDING, MODULE_PARAM, type BootInfo, type HarnessApi, type PageContext, type PageFunction } from './protocol.js';

declare global {
  interface Window {
    harness: HarnessApi;
  }
}

/** GPU failures seen outside any call's own error handling; reported by the next call. */
const failures: string[] = [];
/** Set once the device is lost: every later call fails with it. */
let lost: string | undefined;

async function requestDevice(): Promise<GPUDevice> {
  if (!window.isSecureContext) throw new Error(`${location.origin} is not a secure context: serve the page from http://localhost`);
  if (!navigator.gpu) throw new Error('navigator.gpu is missing: start Chrome with --enable-unsafe-webgpu (WebGPU is off on this browser)');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() found no adapter');
  const device = await adapter.requestDevice({
    label: 'harness page device',
    // float16 cases run on both paths where the adapter has f16 (see tests/cases/half.ts)
    requiredFeatures: adapter.features.has('shader-f16') ? ['shader-f16'] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  void device.lost.then((info) => {
    lost = `device lost (${info.reason}): ${info.message}`;
    failures.push(lost);
  });
  device.addEventListener('uncapturederror', (e) => failures.push(`uncaptured GPU error: ${(e as GPUUncapturedErrorEvent).error.message}`));
  return device;
}

function log(line: string) {
  const send = (window as unknown as Record<string, ((line: string) => Promise<void>) | undefined>)[LOG_BINDING];
  if (send) void send(line);
  else console.log(line);
}

async function boot(): Promise<{ context: PageContext; module: Record<string, unknown>; info: BootInfo }> {
  const path = new URLSearchParams(location.search).get(MODULE_PARAM);
  if (!path) throw new Error(`the page URL names no module (?${MODULE_PARAM}=/path/from/root.ts)`);
  const device = await requestDevice();
  const module = (await import(/* @vite-ignore */ path)) as Record<string, unknown>;
  return { context: { device, log }, module, info: { adapter: adapterName(device), userAgent: navigator.userAgent } };
}

const booted = boot();

function takeFailures() {
  if (failures.length) throw new Error(failures.splice(0).join('\n'));
}

window.harness = {
  ready: booted.then((b) => b.info),
  async call(name, args) {
    const { context, module } = await booted;
    const fn = module[name];
    if (typeof fn !== 'function') throw new Error(`the page module has no function ${name}`);
    takeFailures();
    if (lost) throw new Error(`${lost} (earlier); nothing more can run on this page`);
    let result: unknown;
    try {
      result = await (fn as PageFunction)(context, ...(args as never[]));
    } finally {
      // let a loss or uncaptured error raised by the call's last submit arrive first
      await context.device.queue.onSubmittedWorkDone().catch(() => undefined);
    }
    takeFailures();
    return result;
  },
};
