#!/usr/bin/env node
// What the tests and benchmarks need from outside npm: a Chromium or Chrome binary
// (its folder also holds SwiftShader, the CPU Vulkan driver that WebGPU uses on
// machines without a GPU), the Vulkan loader that Dawn opens in Node, and for the
// tests Firefox ESR (WebGPU through wgpu) and Mesa's lavapipe (the other CPU Vulkan
// driver). Finds them, installs them where it can (Debian's packages as root, else
// a Chrome download through @puppeteer/browsers), or says exactly what to run.
//   node scripts/system.mjs [chromium] [firefox] [lavapipe]   (default: chromium)
// Lavapipe is unpacked into the project's .cache/lavapipe, never the system's
// icd.d, so what Dawn picks by default stays as it was: the processes that want it
// are pointed at LAVAPIPE_ICD (VK_DRIVER_FILES, or VK_ADD_DRIVER_FILES).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

const SYSTEM_FIREFOXES = ['/usr/bin/firefox-esr', '/usr/bin/firefox', '/usr/lib/firefox-esr/firefox-esr', '/snap/bin/firefox'];

/** A Firefox binary: $FIREFOX_PATH, else the usual system paths. */
export function findFirefox() {
  const own = process.env.FIREFOX_PATH;
  if (own) {
    if (!existsSync(own)) throw new Error(`firefox ${own} (from FIREFOX_PATH) does not exist`);
    return own;
  }
  return SYSTEM_FIREFOXES.find((p) => existsSync(p));
}

/** The project's lavapipe: a Vulkan ICD manifest whose library lies in .cache/lavapipe. */
export const LAVAPIPE_DIR = join(dirname(dirname(fileURLToPath(import.meta.url))), '.cache', 'lavapipe');
export const LAVAPIPE_ICD = join(LAVAPIPE_DIR, 'lvp_icd.json');

/** LAVAPIPE_ICD when it is there and names a library that exists. */
export function findLavapipe() {
  try {
    const { ICD } = JSON.parse(readFileSync(LAVAPIPE_ICD, 'utf8'));
    return existsSync(ICD.library_path) ? LAVAPIPE_ICD : undefined;
  } catch {
    return undefined;
  }
}

const osRelease = () => (existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '');

const canApt = () => process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');

function apt(packages) {
  console.error(`system: apt-get install -y ${packages.join(' ')} (one time, a minute or two)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

/**
 * Mesa's lavapipe from Debian, unpacked into LAVAPIPE_DIR with an ICD manifest naming
 * its library by absolute path. Dawn needs Mesa 24 or newer: on Debian 12 (bookworm)
 * that is bookworm-backports' mesa-vulkan-drivers, whose libraries it depends on
 * (LLVM, libdrm) are installed as usual; the driver itself is not.
 */
function installLavapipe() {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  let release = [];
  if (/^VERSION_CODENAME=bookworm$/m.test(osRelease())) {
    const list = '/etc/apt/sources.list.d/bookworm-backports.sources';
    if (!existsSync(list)) {
      writeFileSync(list, 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n');
    }
    release = ['-t', 'bookworm-backports'];
  }
  console.error('system: unpacking Mesa\'s lavapipe into .cache/lavapipe (one time)');
  run('apt-get', ['update']);
  const pkg = release.length ? 'mesa-vulkan-drivers/bookworm-backports' : 'mesa-vulkan-drivers';
  const depends = run('apt-cache', ['depends', '--no-recommends', '--no-suggests', '--no-pre-depends', pkg])
    .split('\n')
    .map((l) => /^\s+Depends: ([^<\s]+)/.exec(l)?.[1])
    .filter((d) => d && d !== 'libvulkan1');
  run('apt-get', ['install', '-y', '--no-install-recommends', ...release, 'libvulkan1', ...depends]);
  mkdirSync(dirname(LAVAPIPE_DIR), { recursive: true });
  const work = mkdtempSync(join(dirname(LAVAPIPE_DIR), 'lavapipe-'));
  try {
    run('apt-get', ['download', pkg], work);
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    rmSync(LAVAPIPE_DIR, { recursive: true, force: true });
    run('dpkg-deb', ['-x', join(work, deb), LAVAPIPE_DIR]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const icdDir = join(LAVAPIPE_DIR, 'usr', 'share', 'vulkan', 'icd.d');
  const manifest = readdirSync(icdDir).find((f) => f.startsWith('lvp_icd'));
  const shipped = JSON.parse(readFileSync(join(icdDir, manifest), 'utf8'));
  const library = run('find', [LAVAPIPE_DIR, '-name', 'libvulkan_lvp.so']).trim().split('\n')[0];
  if (!library) throw new Error(`no libvulkan_lvp.so in ${pkg}`);
  writeFileSync(LAVAPIPE_ICD, JSON.stringify({ ...shipped, ICD: { ...shipped.ICD, library_path: library } }, null, 2));
}

async function downloadChrome() {
  const { install, Browser, detectBrowserPlatform, resolveBuildId } = await import('@puppeteer/browsers');
  const platform = detectBrowserPlatform();
  const buildId = await resolveBuildId(Browser.CHROME, platform, 'stable');
  console.error(`system: downloading Chrome for Testing ${buildId} into ${puppeteerCache()}`);
  const b = await install({ browser: Browser.CHROME, buildId, cacheDir: puppeteerCache() });
  return b.executablePath;
}

/**
 * Makes sure Firefox and the project's lavapipe are present, as far as `needs`
 * asks for them; returns their paths.
 */
export function ensureTestDrivers(needs = { firefox: true, lavapipe: true }) {
  if (needs.firefox && !findFirefox() && canApt()) apt(['firefox-esr']);
  if (needs.lavapipe && !findLavapipe() && canApt()) installLavapipe();
  const firefox = findFirefox();
  const lavapipe = findLavapipe();
  if (needs.firefox && !firefox) throw new Error('No Firefox found: apt-get install -y firefox-esr, or set FIREFOX_PATH');
  if (needs.lavapipe && !lavapipe) throw new Error('No lavapipe in .cache/lavapipe: run `node scripts/system.mjs lavapipe` as root on Debian or Ubuntu');
  return { firefox, lavapipe };
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

async function main(args) {
  const needs = new Set(args.length ? args : ['chromium']);
  const unknown = [...needs].filter((n) => !['chromium', 'firefox', 'lavapipe'].includes(n));
  if (unknown.length) throw new Error(`system.mjs: unknown need ${unknown.join(', ')} (chromium, firefox, lavapipe)`);
  const lines = [];
  if (needs.has('chromium')) lines.push(`browser ${await ensureSystem()}; Vulkan loader ${process.platform === 'linux' ? 'present' : 'n/a'}`);
  if (needs.has('firefox') || needs.has('lavapipe')) {
    const { firefox, lavapipe } = ensureTestDrivers({ firefox: needs.has('firefox'), lavapipe: needs.has('lavapipe') });
    if (firefox) lines.push(`firefox ${firefox}`);
    if (lavapipe) lines.push(`lavapipe ${lavapipe}`);
  }
  console.error(`system: ${lines.join('; ')}`);
}

// Run as a script, not when bundled into another one (bench/dist/chrome.js imports it)
if (import.meta.url === `file://${process.argv[1]}` && import.meta.url.endsWith('/scripts/system.mjs')) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}
