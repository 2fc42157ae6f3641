// Types for system.mjs, so TypeScript callers (the browser harness) can import it.

/** A Chrome-family binary: $CHROME_PATH, $PUPPETEER_EXECUTABLE_PATH, the usual system paths, then puppeteer's cache. */
export function findBrowser(): Promise<string | undefined>;

/** True when the Vulkan loader libvulkan.so.1 is present. */
export function hasVulkanLoader(): boolean;

/** Makes sure a browser and the Vulkan loader are present; returns the browser's path. */
export function ensureSystem(): Promise<string>;
