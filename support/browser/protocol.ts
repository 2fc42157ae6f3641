// What the harness page and its Node driver agree on. The page (boot.ts) gets a
// device and loads one page module; the driver (harness.ts) calls that module's
// exported functions by name with JSON arguments and gets JSON results back.

/** What every page-module function receives first. */
export interface PageContext {
  device: GPUDevice;
  /** Sends a line to the driver (progress of a long run). */
  log(line: string): void;
}

/** A page module: exported functions the driver can call, each taking the context first. */
export type PageFunction = (context: PageContext, ...args: never[]) => unknown;

export interface BootInfo {
  /** adapterName(device), e.g. "SwiftShader Device (Subzero) (google swiftshader, CPU fallback)" */
  adapter: string;
  userAgent: string;
}

/** Installed on the page's window by boot.ts. */
export interface HarnessApi {
  /** Settles once the device exists and the page module is loaded. */
  ready: Promise<BootInfo>;
  /** Runs the page module's function `name`; rejects on its error, or on device loss or an uncaptured GPU error meanwhile. */
  call(name: string, args: unknown[]): Promise<unknown>;
}

/** Query parameter naming the page module, a path from the project root such as /bench/page.ts. */
export const MODULE_PARAM = 'module';

/** Name of the function the driver exposes on window for log lines. */
export const LOG_BINDING = 'harnessLog';
