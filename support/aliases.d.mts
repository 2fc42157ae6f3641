export function projectRoot(): string;
export const packageAliases: { find: RegExp; replacement: string }[];
