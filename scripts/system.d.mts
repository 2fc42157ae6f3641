// Types for system.mjs, so TypeScript callers (the browser harness) can import it.

/** A Chrome-family binary: $CHROME_PATH, $PUPPETEER_EXECUTABLE_PATH, the usual system paths, then puppeteer's cache. */
export function findBrowser(): Promise<string | undefined>;

/** True when the Vulkan loader libvulkan.so.1 is present. */
export function hasVulkanLoader(): boolean;

/** Makes sure a browser and the Vulkan loader are present; returns the browser's path. */
export function ensureSystem(): Promise<string>;

/** A Firefox binary: $FIREFOX_PATH, else the usual system paths. */
export function findFirefox(): string | undefined;

/** The project's lavapipe ICD manifest (in .cache/lavapipe), written by `node scripts/system.mjs lavapipe`. */
export const LAVAPIPE_ICD: string;

/** LAVAPIPE_ICD when it is there and names a library that exists. */
export function findLavapipe(): string | undefined;

/** Makes sure Firefox and the project's lavapipe are present, as far as `needs` asks; returns their paths. */
export function ensureTestDrivers(needs?: { firefox?: boolean; lavapipe?: boolean }): { firefox?: string; lavapipe?: string };
