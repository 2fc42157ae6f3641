// Drives the harness page (index.html + boot.ts) in headless Chrome or Firefox:
// serves the project with Vite on http://localhost (WebGPU needs a secure context),
// launches the browser that scripts/system.mjs finds with the flags or prefs WebGPU
// needs there, and calls the page module's functions. Used by the browser test suites and by the
// benchmark, so all see the same browser, flags and device; servePage() opens any
// other page of the project the same way (the demo's screenshot).
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, type Browser, type Page } from 'puppeteer-core';
import { createServer, type ViteDevServer } from 'vite';
import { ensureSystem, ensureTestDrivers, findBrowser } from '../../scripts/system.mjs';
import { packageAliases, projectRoot } from '../aliases.mjs';
import { LOG_BINDING, MODULE_PARAM, type BootInfo } from './protocol.js';

export { projectRoot };

/** Headless Chromium with WebGPU on a machine with no network (docs/design.md). */
export const CHROME_FLAGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Firefox with WebGPU: the first pref turns it on where it is not yet by default
 * (Linux, Firefox 153); without the second, a software adapter is blocklisted.
 */
export const FIREFOX_PREFS = { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true };

export type BrowserName = 'chrome' | 'firefox';

/**
 * Vite's page client failing to reach the dev server's websocket, which the harness
 * turns off (ws: false): Firefox reports it as an error of the page; it is none of the page's.
 */
const VITE_SOCKET = /establish a connection to the server at ws:\/\//;

export interface BrowserOptions {
  /** Which browser: Chromium or Chrome (Dawn), or Firefox (wgpu). Default: chrome. */
  browser?: BrowserName;
  /** A Vulkan ICD manifest the browser alone is to use (VK_DRIVER_FILES), e.g. lavapipe's. */
  vulkanDriver?: string;
  /** Show the browser window (needs a display). Default: headless. */
  headed?: boolean;
  /** Longest single call, in ms (puppeteer's default is 3 minutes). */
  callTimeoutMs?: number;
  /** npm packages the page imports, bundled by Vite before the page loads (a bundle found later would reload the page). */
  dependencies?: string[];
  /** The page's size in CSS pixels (default: puppeteer's 800 × 600). */
  viewport?: { width: number; height: number };
}

export interface OpenPageOptions extends BrowserOptions {
  /** The page module, as a path from the project root (e.g. 'bench/page.ts'). */
  module: string;
  /** Receives the page's log lines (default: printed to stderr). */
  log?: (line: string) => void;
}

/** Any page of the project, loaded in headless Chrome. */
export interface ServedPage {
  page: Page;
  /** The browser's version string, e.g. "Chrome/156.0.8078.79". */
  browserVersion: string;
  /** The page's uncaught errors since the last call, as messages. */
  takeErrors(): string[];
  close(): Promise<void>;
}

export interface PageSession extends BootInfo {
  /** The browser's version string, e.g. "Chrome/156.0.8078.79". */
  browserVersion: string;
  /** Runs the page module's exported function `name` with JSON arguments; returns its JSON result. */
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T>;
  close(): Promise<void>;
}

async function startServer(root: string, dependencies: string[]): Promise<{ server: ViteDevServer; origin: string }> {
  const server = await createServer({
    configFile: false,
    root,
    logLevel: 'warn',
    cacheDir: join(root, 'node_modules', '.vite', 'harness'),
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, ws: false, watch: null },
    optimizeDeps: { include: dependencies, noDiscovery: true },
    resolve: { alias: packageAliases },
  });
  await server.listen();
  const { port } = server.httpServer!.address() as AddressInfo;
  return { server, origin: `http://localhost:${port}` };
}

async function launchBrowser(options: BrowserOptions, userDataDir: string): Promise<Browser> {
  const common = { headless: !(options.headed ?? false), userDataDir, protocolTimeout: options.callTimeoutMs ?? 180_000 };
  const driver = options.vulkanDriver;
  const env = driver ? { ...process.env, VK_DRIVER_FILES: driver, VK_ICD_FILENAMES: driver } : undefined;
  if (options.browser === 'firefox') {
    const { firefox } = ensureTestDrivers({ firefox: true, lavapipe: false });
    return launch({ ...common, browser: 'firefox', executablePath: firefox, extraPrefsFirefox: FIREFOX_PREFS, env });
  }
  const executablePath = (await findBrowser()) ?? (await ensureSystem());
  return launch({ ...common, executablePath, args: CHROME_FLAGS, env });
}

/**
 * Serves the project, starts the browser with a fresh profile, and loads `path` (a
 * page from the project root, with its query, e.g. 'demo/index.html'); `beforeLoad`
 * can prepare the tab before the page loads.
 */
export async function servePage(path: string, options: BrowserOptions = {}, beforeLoad?: (page: Page) => Promise<void>): Promise<ServedPage> {
  const root = projectRoot();
  const userDataDir = await mkdtemp(join(tmpdir(), `webgpu-batchnorm-${options.browser ?? 'chrome'}-`));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(userDataDir, { recursive: true, force: true })];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const { server, origin } = await startServer(root, options.dependencies ?? []);
    cleanups.push(() => server.close());
    const browser = await launchBrowser(options, userDataDir);
    cleanups.push(() => browser.close());

    const page = await browser.newPage();
    if (options.viewport) await page.setViewport(options.viewport);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => {
      const message = e instanceof Error ? e.message : String(e);
      if (!VITE_SOCKET.test(message)) pageErrors.push(`uncaught error in the page: ${message}`);
    });
    await beforeLoad?.(page);
    await page.goto(`${origin}/${path}`, { waitUntil: 'load' });
    return { page, browserVersion: await browser.version(), takeErrors: () => pageErrors.splice(0), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Serves the project, opens the harness page on `module` in a fresh browser profile, and waits for its device. */
export async function openPage(options: OpenPageOptions): Promise<PageSession> {
  const log = options.log ?? ((line: string) => console.error(line));
  const path = `support/browser/index.html?${MODULE_PARAM}=${encodeURIComponent(`/${options.module}`)}`;
  const served = await servePage(path, options, (page) => page.exposeFunction(LOG_BINDING, (line: string) => log(line)));
  try {
    const info = await served.page.evaluate(() => window.harness.ready);
    return {
      ...info,
      browserVersion: served.browserVersion,
      async call<T>(name: string, ...args: unknown[]): Promise<T> {
        const result = await served.page.evaluate((n, a) => window.harness.call(n, a), name, args);
        const errors = served.takeErrors();
        if (errors.length) throw new Error(errors.join('\n'));
        return result as T;
      },
      close: served.close,
    };
  } catch (e) {
    await served.close();
    throw e;
  }
}
