// Every repository path the documentation and the source comments name exists:
// README.md, docs/*.md, bench/README.md, CHANGELOG.md's latest entry, and the
// comments of the .ts, .mts, .mjs and .wgsl files under the source folders. Pure
// Node fs, no GPU.
//
// A path is a token that starts with one of the repository's top-level folders
// (src/, shaders/, tests/, ...) and ends in a file extension or a slash, e.g.
// `src/gpu/wgsl.ts`, shaders/batchnorm/ or bench/README.md, read from the
// project root; in Markdown, a relative link's target too, read from the file's
// own folder, and its #anchor, which must be a heading of the target (GitHub's
// slugs). Left out: URLs, globs and placeholders (a token followed by `*`,
// `<`, `{`, `$`, or with a name such as X or NAME), a relative token (`../x`,
// `./x`), and build outputs (a `dist` folder anywhere in the path).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../support/aliases.mjs';

const root = projectRoot();

/** The top-level folders a path may start with. */
export const TOP_LEVEL = ['src', 'shaders', 'tests', 'bench', 'support', 'scripts', 'demo', 'examples', 'docs'];
/** The folders whose source comments are read. */
const SOURCE_FOLDERS = ['src', 'shaders', 'tests', 'bench', 'support', 'scripts', 'demo', 'examples'];
const SOURCE_EXTENSIONS = /\.(ts|mts|mjs|wgsl)$/;
const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', 'results', 'fixtures']);

const PLACEHOLDER = /^([A-Z]|NAME|FILE|DIR|PATH)$/;
const PATH = new RegExp(`(?<![\\w./@:~-])((?:${TOP_LEVEL.join('|')})/[\\w./-]*)`, 'g');

/** A place a path was named, and the path as written. */
export interface Mention {
  file: string;
  line: number;
  path: string;
  /** What existence is checked on, relative to the project root. */
  target: string;
  /** A Markdown link's #anchor, to be found among the target's headings. */
  anchor?: string;
}

/** The paths named in a piece of text (line numbers from `firstLine`). */
export function pathsIn(text: string, file: string, firstLine = 1): Mention[] {
  const found: Mention[] = [];
  text.split('\n').forEach((lineText, i) => {
    for (const m of lineText.matchAll(PATH)) {
      let path = m[1];
      while (path.endsWith('.')) path = path.slice(0, -1);
      const next = lineText[m.index + m[1].length] ?? '';
      if ('*<{$['.includes(next) && next !== '') continue; // a glob or a placeholder
      if (path.split('/').includes('dist')) continue; // a build output
      if (path.includes('..') || path.includes('//')) continue;
      if (path.split('/').some((segment) => PLACEHOLDER.test(segment.split('.')[0]))) continue;
      const last = path.slice(path.lastIndexOf('/') + 1);
      if (!path.endsWith('/') && !/^[^.]+(\.[A-Za-z0-9-]+)+$/.test(last)) continue; // neither a folder nor a file
      found.push({ file, line: firstLine + i, path, target: path });
    }
  });
  return found;
}

/** Markdown's relative links, read from the file's folder. */
export function linksIn(text: string, file: string, firstLine = 1): Mention[] {
  const found: Mention[] = [];
  text.split('\n').forEach((lineText, i) => {
    for (const m of lineText.matchAll(/\]\(([^)\s]+)\)/g)) {
      const [link, anchor] = m[1].split('#');
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // a URL
      const target = link ? relative(root, join(root, dirname(file), link)) + (link.endsWith('/') ? '/' : '') : file;
      if (target.split('/').includes('dist')) continue;
      found.push({ file, line: firstLine + i, path: m[1], target, ...(anchor ? { anchor } : {}) });
    }
  });
  return found;
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings (outside code blocks). */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) anchors.add(slug(heading[1]));
  }
  return anchors;
}

/**
 * The comments of a TypeScript, JavaScript or WGSL source, with the text between
 * them blanked (newlines kept, so line numbers hold). Strings, template literals
 * and regular-expression literals are skipped, so `'//'` in code is no comment.
 */
export function commentsOf(source: string): string {
  let out = '';
  let i = 0;
  let lastCode = '';
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  while (i < source.length) {
    const c = source[i];
    const two = source.slice(i, i + 2);
    if (two === '//') {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? source.length : end;
      out += source.slice(i, stop);
      i = stop;
    } else if (two === '/*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? source.length : end + 2;
      out += source.slice(i, stop);
      i = stop;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) {
        if (source[j] === '\\') j++;
        else if (c !== '`' && source[j] === '\n') break;
        j++;
      }
      out += blank(source.slice(i, j + 1));
      i = j + 1;
      lastCode = c;
    } else if (c === '/' && (lastCode === '' || '(,=:[!&|?{};+-*%<>~^'.includes(lastCode) || /\b(return|typeof|case|of|in)\s*$/.test(source.slice(Math.max(0, i - 8), i)))) {
      // a regular-expression literal
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== '\n') {
        if (source[j] === '\\') j++;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        else if (source[j] === '/' && !inClass) break;
        j++;
      }
      out += blank(source.slice(i, j + 1));
      i = j + 1;
      lastCode = '/';
    } else {
      out += c === '\n' ? '\n' : ' ';
      if (!/\s/.test(c)) lastCode = c === ')' || c === ']' || /\w/.test(c) ? 'x' : c;
      i++;
    }
  }
  return out;
}

/** The latest entry of CHANGELOG.md: from its first "## " heading to the next. */
export function latestEntry(changelog: string): { text: string; firstLine: number } {
  const lines = changelog.split('\n');
  const start = lines.findIndex((l) => l.startsWith('## '));
  if (start < 0) return { text: '', firstLine: 1 };
  const next = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return { text: lines.slice(start, next < 0 ? undefined : next).join('\n'), firstLine: start + 1 };
}

function sourceFiles(folder: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name) && !entry.name.startsWith('.')) walk(path);
      } else if (SOURCE_EXTENSIONS.test(entry.name)) files.push(path);
    }
  };
  if (existsSync(join(root, folder))) walk(folder);
  return files;
}

function exists(target: string): boolean {
  const at = join(root, target);
  if (!existsSync(at)) return false;
  return target.endsWith('/') ? statSync(at).isDirectory() : true;
}

/** Whether a mention's target exists, and its anchor, if any, is a heading there. */
function found(m: Mention): boolean {
  if (!exists(m.target)) return false;
  if (!m.anchor) return true;
  return m.target.endsWith('.md') && anchorsOf(readFileSync(join(root, m.target), 'utf8')).has(m.anchor);
}

function report(missing: Mention[]): string {
  return missing.map((m) => `  ${m.file}:${m.line}: ${m.path}${m.target !== m.path.split('#')[0] ? ` (${m.target})` : ''}`).join('\n');
}

const read = (file: string) => readFileSync(join(root, file), 'utf8');

function documentMentions(): Mention[] {
  const docs = ['README.md', 'bench/README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const mentions = docs.flatMap((file) => [...pathsIn(read(file), file), ...linksIn(read(file), file)]);
  const { text, firstLine } = latestEntry(read('CHANGELOG.md'));
  return [...mentions, ...pathsIn(text, 'CHANGELOG.md', firstLine), ...linksIn(text, 'CHANGELOG.md', firstLine)];
}

function commentMentions(): { files: number; mentions: Mention[] } {
  const files = SOURCE_FOLDERS.flatMap(sourceFiles);
  return { files: files.length, mentions: files.flatMap((file) => pathsIn(commentsOf(read(file)), file)) };
}

describe('the paths the documentation and the comments name', () => {
  it('finds paths as written, and leaves out URLs, globs, placeholders and build outputs', () => {
    const text = [
      'See `src/gpu/wgsl.ts`, shaders/batchnorm/ and tests/cases/training.ts.',
      'https://example.com/src/x.ts bench/results/*-chrome-2026-11-30.* bench/results/<adapter>.json',
      'bench/dist/node.js, ../support/readme.ts, src/gpu (no extension), webgpu-batchnorm/node, bench/results/X.json',
    ].join('\n');
    expect(pathsIn(text, 'x.md').map((m) => `${m.line}:${m.path}`)).toEqual(['1:src/gpu/wgsl.ts', '1:shaders/batchnorm/', '1:tests/cases/training.ts']);
    const links = linksIn('[a](bench/README.md) [b](#api) [c](https://x.org/y) [d](../README.md#install)', 'docs/x.md');
    expect(links.map((m) => [m.target, m.anchor])).toEqual([['docs/bench/README.md', undefined], ['docs/x.md', 'api'], ['README.md', 'install']]);
    expect(slug('Use with TensorFlow.js')).toBe('use-with-tensorflowjs');
    expect(slug('Fused epilogues, float16 and data-parallel')).toBe('fused-epilogues-float16-and-data-parallel');
    expect(slug('NVIDIA H200 in Node through Dawn, 2026-11-30')).toBe('nvidia-h200-in-node-through-dawn-2026-11-30');
  });

  it('reads comments only, not strings or regular expressions', () => {
    const source = [
      "const a = '// src/not-a-comment.ts'; // src/in-a-comment.ts",
      'const r = /```(?:ts|js)\\n/; /* shaders/block.wgsl',
      ' * tests/jsdoc.ts */ const t = `src/template.ts`;',
    ].join('\n');
    expect(pathsIn(commentsOf(source), 'x.ts').map((m) => `${m.line}:${m.path}`)).toEqual(['1:src/in-a-comment.ts', '2:shaders/block.wgsl', '3:tests/jsdoc.ts']);
  });

  it('fails on a path that does not exist, and on a link to a heading that does not', () => {
    const mentions = pathsIn('see src/gpu/wgsl.ts and src/gpu/no-such-file.ts', 'x.md');
    expect(mentions.filter((m) => !found(m)).map((m) => m.path)).toEqual(['src/gpu/no-such-file.ts']);
    const links = linksIn('[a](README.md#install) [b](README.md#no-such-heading) [c](docs/none.md)', 'x.md');
    expect(links.filter((m) => !found(m)).map((m) => m.path)).toEqual(['README.md#no-such-heading', 'docs/none.md']);
  });

  it('every path in README.md, docs/*.md, bench/README.md and the latest CHANGELOG entry exists', () => {
    const mentions = documentMentions();
    const missing = mentions.filter((m) => !found(m));
    console.log(`doc paths: ${mentions.length} named in the documents, ${missing.length} missing`);
    expect(mentions.length).toBeGreaterThan(20);
    expect(missing.length, `paths (or #headings) named in the documents that do not exist:\n${report(missing)}\n`).toBe(0);
  });

  it('every path in the comments of src/, shaders/, tests/, bench/, support/, scripts/, demo/ and examples/ exists', () => {
    const { files, mentions } = commentMentions();
    const missing = mentions.filter((m) => !found(m));
    console.log(`comment paths: ${mentions.length} named in ${files} source files, ${missing.length} missing`);
    expect(files).toBeGreaterThan(50);
    expect(missing.length, `paths named in source comments that do not exist:\n${report(missing)}\n`).toBe(0);
  });
});
