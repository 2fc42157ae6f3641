// requestDevice() in Node through Dawn.
import { describe, expect, it } from 'vitest';
import { deviceDescriptor, vulkanDrivers } from '../src/gpu/dawn.js';
import { adapterName, lavapipeCandidates, requestDevice, swiftShaderCandidates } from '../src/node.js';
import { SOFTWARE_ADAPTERS } from '../src/gpu/dawn.js';
import { ensureTestDrivers } from '../scripts/system.mjs';

/** Runs body with environment variables set (undefined: removed), then puts them back. */
async function withEnv<T>(vars: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return await body();
  } finally {
    set(before);
  }
}

describe('requestDevice', () => {
  it('returns a device with the adapter’s largest storage binding, and names the adapter', async () => {
    const lines: string[] = [];
    const device = await requestDevice({ log: (line) => lines.push(line) });
    try {
      expect(device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
      expect(adapterName(device)).not.toBe('unknown adapter');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(adapterName(device));
    } finally {
      device.destroy();
    }
  });

  it('asks for shader-f16 where the adapter has it (float16 storage then binds WGSL f16), and only there', () => {
    const limits = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 31 } as GPUSupportedLimits;
    const adapter = (features: string[]) => ({ features: new Set(features) as unknown as GPUSupportedFeatures, limits });
    expect(deviceDescriptor(adapter(['shader-f16', 'timestamp-query'])).requiredFeatures).toEqual(['shader-f16']);
    expect(deviceDescriptor(adapter(['timestamp-query'])).requiredFeatures).toEqual([]);
    expect(deviceDescriptor(adapter([])).requiredLimits).toEqual(limits);
  });

  it("finds SwiftShader beside the machine's Chromium or Chrome", async () => {
    expect(swiftShaderCandidates().length).toBeGreaterThan(0);
    const device = await requestDevice({ adapter: 'swiftshader' });
    try {
      expect(device.adapterInfo.architecture).toBe('swiftshader');
    } finally {
      device.destroy();
    }
  });

  it("asked for 'gpu' only, gives a hardware adapter or says there is none", async () => {
    const result = await requestDevice({ adapter: 'gpu' }).then(
      (device) => {
        const fallback = device.adapterInfo.isFallbackAdapter;
        device.destroy();
        return fallback ? 'a fallback adapter' : 'hardware';
      },
      (e: Error) => e.message,
    );
    if (result !== 'hardware') expect(result).toMatch(/no WebGPU adapter found through Dawn \(asked for: gpu\)/);
  });

  it('looks for Vulkan drivers where the loader does, so it probes for a GPU only when one may exist', () => {
    const icd = swiftShaderCandidates()[0];
    expect(vulkanDrivers({ VK_DRIVER_FILES: icd, VK_ICD_FILENAMES: '/nowhere.json' })).toEqual([icd]);
    expect(vulkanDrivers({ VK_ICD_FILENAMES: `/nowhere.json:${icd}` })).toEqual([icd]);
    expect(vulkanDrivers({ VK_ICD_FILENAMES: '/nowhere.json' })).toEqual([]);
    const none = { HOME: '/nowhere', XDG_CONFIG_HOME: '/nowhere', XDG_CONFIG_DIRS: '/nowhere', XDG_DATA_HOME: '/nowhere', XDG_DATA_DIRS: '/nowhere' };
    expect(vulkanDrivers(none).every((f) => f.startsWith('/etc/vulkan/icd.d/') || f.startsWith('/usr/local/etc/vulkan/icd.d/'))).toBe(true);
  });

  it("asked for 'lavapipe', finds Mesa's lavapipe where the loader would ($VK_ADD_DRIVER_FILES here), and leaves the loader's variables as they were", async () => {
    const { lavapipe } = ensureTestDrivers({ firefox: false, lavapipe: true });
    await withEnv({ VK_ADD_DRIVER_FILES: lavapipe, VK_DRIVER_FILES: undefined, VK_ICD_FILENAMES: undefined }, async () => {
      expect(lavapipeCandidates()).toContain(lavapipe);
      const lines: string[] = [];
      const device = await requestDevice({ adapter: 'lavapipe', log: (line) => lines.push(line) });
      try {
        expect(device.adapterInfo.vendor).toBe('mesa');
        expect(lines[0]).toMatch(/llvmpipe.* via lavapipe /);
        expect([process.env.VK_DRIVER_FILES, process.env.VK_ICD_FILENAMES]).toEqual([undefined, undefined]);
        // and SwiftShader after it, in the same process: each driver alone
        const other = await requestDevice({ adapter: 'swiftshader' });
        expect(other.adapterInfo.architecture).toBe('swiftshader');
        other.destroy();
      } finally {
        device.destroy();
      }
    });
  });

  it("with lavapipe the only Vulkan driver, as on a Linux machine with Mesa and no GPU, requestDevice() gives lavapipe", async () => {
    const { lavapipe } = ensureTestDrivers({ firefox: false, lavapipe: true });
    await withEnv({ VK_DRIVER_FILES: lavapipe, VK_ADD_DRIVER_FILES: undefined, VK_ICD_FILENAMES: undefined }, async () => {
      const device = await requestDevice();
      try {
        expect(device.adapterInfo.vendor).toBe('mesa');
      } finally {
        device.destroy();
      }
    });
  });

  it(`asked for 'software', takes ${SOFTWARE_ADAPTERS[0]} first where both are installed`, async () => {
    const { lavapipe } = ensureTestDrivers({ firefox: false, lavapipe: true });
    await withEnv({ VK_ADD_DRIVER_FILES: lavapipe }, async () => {
      const device = await requestDevice({ adapter: 'software' });
      try {
        const isLavapipe = device.adapterInfo.vendor === 'mesa';
        expect(isLavapipe ? 'lavapipe' : 'swiftshader').toBe(SOFTWARE_ADAPTERS[0]);
      } finally {
        device.destroy();
      }
    });
  });

  it('says how to get the software adapter asked for when it is not installed, and refuses a name it does not know', async () => {
    await withEnv({ VK_ADD_DRIVER_FILES: undefined, VK_DRIVER_FILES: undefined, VK_ICD_FILENAMES: undefined }, async () => {
      if (lavapipeCandidates().length === 0) {
        await expect(requestDevice({ adapter: 'lavapipe' })).rejects.toThrow(/no WebGPU adapter found through Dawn \(asked for: lavapipe\)[\s\S]*No lavapipe: .*mesa-vulkan-drivers/);
      }
    });
    await expect(requestDevice({ adapter: 'llvmpipe' as never })).rejects.toThrow(/adapter must be one of auto, gpu, software, lavapipe, swiftshader; got "llvmpipe"/);
  });
});
