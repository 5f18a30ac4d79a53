// The fast lane's files compiled to JavaScript before `node --test` loads them (docs/development.md#test-lanes).
//
// Loading a test file through tsx costs about 1.7 CPU-seconds (its loader hooks see every one of the hundreds of
// modules the SDKs and the connector load); the same file compiled ahead costs about half. So the fast lane runs
// JavaScript compiled here, one file per source file (esbuild's transform: types stripped, nothing bundled), into a
// mirror of the tree under node_modules/.cache/connector-tests/ — relative imports resolve inside the mirror,
// packages from the project's node_modules above it.
//
// Each compiled module keeps its source's `import.meta.url` (written into it as a literal), so a path a module
// computes from its own place (fixtures, views, the project root) is the same whether it runs from source or from
// the mirror. Inline source maps make stack traces name the TypeScript lines (node runs with --enable-source-maps).
// A file is compiled again only when its source's mtime is not its output's; the mirror is never committed.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transform, type TransformOptions } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the compiled tree of a project root goes. */
export const mirrorOf = (root: string): string => path.join(root, 'node_modules', '.cache', 'connector-tests');
/** The folders whose modules tests import (every .ts, .mts and .mjs file in them). */
const SOURCE_DIRS = ['app', 'placements', 'test', 'scripts', 'bench'];
const SKIP = new Set(['node_modules', 'fixtures', 'out']);
/** Kept in the mirror (file .version): a mirror made by another version of this script is made again. */
const VERSION = 'v1';

function sources(root: string, rel: string, out: string[] = []): string[] {
  for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = `${rel}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name)) sources(root, child, out);
    } else if (/\.(ts|mts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(child);
  }
  return out;
}

/** The mirror's path of a source (`app/x.ts` → `<mirror>/app/x.js`; `.mjs` keeps its name). */
export function compiledPath(rel: string, root = ROOT): string {
  return path.join(mirrorOf(root), rel.replace(/\.ts$/, '.js').replace(/\.mts$/, '.mjs'));
}

function options(file: string): TransformOptions {
  return {
    loader: file.endsWith('.mjs') ? 'js' : 'ts',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    sourcesContent: false,
    sourcefile: file,
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(file).href) },
    tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: false, useDefineForClassFields: true } },
  };
}

/**
 * Compiles every source whose output is missing or does not carry its mtime, and removes outputs whose source is gone. Returns how
 * many files it compiled.
 */
export async function compileTests(root = ROOT): Promise<number> {
  const mirror = mirrorOf(root);
  const stamp = path.join(mirror, '.version');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== VERSION) rmSync(mirror, { recursive: true, force: true });
  const all = SOURCE_DIRS.filter((d) => existsSync(path.join(root, d))).flatMap((d) => sources(root, d));
  const stale = all.filter((rel) => {
    const out = compiledPath(rel, root);
    // Within a millisecond: file systems keep mtimes at different precisions.
    return !existsSync(out) || Math.abs(statSync(out).mtimeMs - statSync(path.join(root, rel)).mtimeMs) >= 1;
  });
  await Promise.all(
    stale.map(async (rel) => {
      const file = path.join(root, rel);
      const { mtimeMs } = statSync(file);
      const { code } = await transform(readFileSync(file, 'utf8'), options(file));
      const out = compiledPath(rel, root);
      mkdirSync(path.dirname(out), { recursive: true });
      // A new file, never the old one written over: a worktree's node_modules may be hard links to another's.
      rmSync(out, { force: true });
      writeFileSync(out, code);
      // The output carries its source's mtime: any other mtime of the source (an edit, a checkout) means stale.
      utimesSync(out, mtimeMs / 1000, mtimeMs / 1000);
    }),
  );
  removeOrphans(new Set([...all.map((rel) => compiledPath(rel, root)), stamp]), mirror);
  mkdirSync(mirror, { recursive: true });
  rmSync(stamp, { force: true });
  writeFileSync(stamp, VERSION);
  return stale.length;
}

function removeOrphans(keep: Set<string>, dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) removeOrphans(keep, p);
    else if (!keep.has(p)) rmSync(p);
  }
}
