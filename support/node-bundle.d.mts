import type { UserConfig } from 'vite';
export function nodeBundle(outDir: string, input: Record<string, string>): UserConfig;
