#!/usr/bin/env node
// What the tests and benchmarks need from outside npm: a Chromium or Chrome binary
// (its folder also holds SwiftShader, the CPU Vulkan driver that WebGPU uses on
// machines without a GPU) and the Vulkan loader that Dawn opens in Node.
// Finds them, installs them where it can (Debian's packages as root, else a
// Chrome download through @puppeteer/browsers), or says exactly what to run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const SYSTEM_BROWSERS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/opt/google/chrome/chrome',
  '/snap/bin/chromium',
];

const LOADER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];

const puppeteerCache = () => process.env.PUPPETEER_CACHE_DIR ?? join(homedir(), '.cache', 'puppeteer');

/** A Chrome-family binary: $CHROME_PATH, $PUPPETEER_EXECUTABLE_PATH, the usual system paths, then puppeteer's cache. */
export async function findBrowser() {
  for (const candidate of [process.env.CHROME_PATH, process.env.PUPPETEER_EXECUTABLE_PATH]) {
    if (candidate) {
      if (!existsSync(candidate)) throw new Error(`browser ${candidate} (from the environment) does not exist`);
      return candidate;
    }
  }
  const system = SYSTEM_BROWSERS.find((p) => existsSync(p));
  if (system) return system;
  const { getInstalledBrowsers } = await import('@puppeteer/browsers');
  const installed = await getInstalledBrowsers({ cacheDir: puppeteerCache() }).catch(() => []);
  return installed.find((b) => existsSync(b.executablePath))?.executablePath;
}

export const hasVulkanLoader = () => LOADER_DIRS.some((d) => existsSync(join(d, 'libvulkan.so.1')));

const canApt = () => process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');

function apt(packages) {
  console.error(`system: apt-get install -y ${packages.join(' ')} (one time, a minute or two)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

async function downloadChrome() {
  const { install, Browser, detectBrowserPlatform, resolveBuildId } = await import('@puppeteer/browsers');
  const platform = detectBrowserPlatform();
  const buildId = await resolveBuildId(Browser.CHROME, platform, 'stable');
  console.error(`system: downloading Chrome for Testing ${buildId} into ${puppeteerCache()}`);
  const b = await install({ browser: Browser.CHROME, buildId, cacheDir: puppeteerCache() });
  return b.executablePath;
}

/** Makes sure a browser and the Vulkan loader are present; returns the browser's path. */
export async function ensureSystem() {
  let browser = await findBrowser();
  const missing = [];
  if (!browser) missing.push('chromium');
  if (process.platform === 'linux' && !hasVulkanLoader()) missing.push('libvulkan1');
  if (missing.length && canApt()) {
    apt(missing);
    browser = await findBrowser();
  }
  if (!browser) {
    try {
      browser = await downloadChrome();
    } catch (e) {
      throw new Error(
        'No Chromium or Chrome found, and none could be installed.\n' +
          '  Debian/Ubuntu (as root): apt-get install -y chromium libvulkan1\n' +
          '  or point CHROME_PATH at a Chrome or Chromium binary\n' +
          '  or, with internet access: npx @puppeteer/browsers install chrome@stable\n' +
          `(the download failed: ${e instanceof Error ? e.message : e})`,
      );
    }
  }
  if (process.platform === 'linux' && !hasVulkanLoader()) {
    throw new Error('The Vulkan loader libvulkan.so.1 is missing (Dawn needs it in Node): apt-get install -y libvulkan1');
  }
  return browser;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureSystem().then(
    (browser) => console.error(`system: browser ${browser}; Vulkan loader ${process.platform === 'linux' ? 'present' : 'n/a'}`),
    (e) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
