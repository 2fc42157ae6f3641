// requestDevice() in Node through Dawn.
import { describe, expect, it } from 'vitest';
import { deviceDescriptor, vulkanDrivers } from '../src/gpu/dawn.js';
import { adapterName, requestDevice, swiftShaderCandidates } from '../src/node.js';

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
});
