// @ts-check
/**
 * `npm run build`: the connector's TypeScript (app/, placements/, the operator's scripts) compiled to JavaScript in dist/, one file per
 * source file (esbuild, bundle: false), so dist/ mirrors the tree: dist/app/main.js, dist/app/import-cli.js, …
 * The compiled modules find views/, views/i18n and install.json from the project root (app/project-root.ts),
 * whether they run from app/ (tsx, tests, the demo) or from dist/app/ (production). `npm run typecheck` stays the
 * type check (esbuild only strips types).
 *
 * dist/.stamp.json records each source's size, mtime and SHA-256 at build time: the build is fresh while every
 * source has its size and either its mtime or its content (a checkout that only touched mtimes is still fresh),
 * and no source was added or removed. `ensureBuilt()` (scripts/start.mjs) builds only when it is not.
 *
 * Plain JavaScript with no dependency but esbuild, which is loaded only when a build is needed: a production
 * install without devDependencies (`npm ci --omit=dev`) starts from a build made at deploy time.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: this file is scripts/build.mjs. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Folders whose .ts files are compiled (everything app/main.ts and app/import-cli.ts import lives there). */
const SOURCE_DIRS = ['app', 'placements'];
/** The operator's commands, run in production too (`npm run backup|restore|portal`, cron); they import app/ only. */
const OPERATOR_SCRIPTS = ['scripts/backup.ts', 'scripts/restore.ts', 'scripts/portal.ts'];
/** Files besides the sources that change the output. */
const CONFIG_FILES = ['scripts/build.mjs', 'tsconfig.json'];
const STAMP = '.stamp.json';
const STAMP_VERSION = 1;
/** A lock older than this is left by a build that died (a build takes about a second). */
const LOCK_STALE_MS = 5 * 60_000;
const LOCK_WAIT_MS = 3 * 60_000;

/**
 * @typedef {{ size: number, mtimeMs: number, sha256: string }} FileStamp
 * @typedef {{ version: number, files: Record<string, FileStamp> }} Stamp
 * @typedef {{ root?: string, outDir?: string, log?: (line: string) => void }} BuildOptions
 */

/** The files the build reads, relative to the root, sorted. */
export function buildInputs(root = ROOT) {
  /** @type {string[]} */
  const files = [];
  const walk = (/** @type {string} */ rel) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(child);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(path.join(root, dir))) walk(dir);
  files.push(...OPERATOR_SCRIPTS.filter((f) => existsSync(path.join(root, f))));
  return { sources: files.sort(), config: CONFIG_FILES.filter((f) => existsSync(path.join(root, f))) };
}

const sha256 = (/** @type {string} */ file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * Why the build in outDir is not fresh, or null when it is.
 * @param {BuildOptions} [options]
 * @returns {string | null}
 */
export function staleReason(options = {}) {
  const root = options.root ?? ROOT;
  const outDir = options.outDir ?? path.join(root, 'dist');
  /** @type {Stamp} */
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(path.join(outDir, STAMP), 'utf8'));
  } catch {
    return `${path.relative(root, outDir) || outDir}/ has no build`;
  }
  if (stamp.version !== STAMP_VERSION) return 'the build was made by another version of the build script';
  const { sources, config } = buildInputs(root);
  const inputs = [...sources, ...config];
  const known = new Set(Object.keys(stamp.files));
  for (const rel of inputs) {
    const was = stamp.files[rel];
    if (!was) return `${rel} was added`;
    known.delete(rel);
    const st = statSync(path.join(root, rel));
    if (st.size !== was.size) return `${rel} changed`;
    if (st.mtimeMs !== was.mtimeMs && sha256(path.join(root, rel)) !== was.sha256) return `${rel} changed`;
  }
  for (const rel of known) return `${rel} was removed`;
  for (const rel of sources) if (!existsSync(path.join(outDir, rel.replace(/\.ts$/, '.js')))) return `${rel.replace(/\.ts$/, '.js')} is missing from the build`;
  return null;
}

/**
 * Compiles the sources into outDir (default dist/): into a fresh folder beside it first, which then takes its
 * place, so a process starting meanwhile never loads half of one build and half of another. Returns what each built
 * file imports (esbuild's metafile), by its path in outDir. The caller holds the lock (ensureBuilt, `npm run build`).
 * @param {BuildOptions} [options]
 */
export async function build(options = {}) {
  const root = options.root ?? ROOT;
  const outDir = options.outDir ?? path.join(root, 'dist');
  const log = options.log ?? (() => {});
  /** @type {typeof import('esbuild')} */
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error(
      'The connector is not built (or its build is older than its sources) and esbuild is not installed, as after ' +
        '`npm ci --omit=dev`. Build it where the devDependencies are installed: `npm ci && npm run build`.',
    );
  }
  const started = Date.now();
  const { sources, config } = buildInputs(root);
  // Read the stamp before compiling: a source edited during the build then makes the next start build again.
  /** @type {Stamp} */
  const stamp = { version: STAMP_VERSION, files: {} };
  for (const rel of [...sources, ...config]) {
    const file = path.join(root, rel);
    const st = statSync(file);
    stamp.files[rel] = { size: st.size, mtimeMs: st.mtimeMs, sha256: sha256(file) };
  }
  // What a build killed midway left beside outDir (the caller holds the lock: no other build is running).
  const base = path.basename(outDir);
  for (const left of readdirSync(path.dirname(outDir))) {
    if (left.startsWith(`${base}.next-`) || left.startsWith(`${base}.old-`)) rmSync(path.join(path.dirname(outDir), left), { recursive: true, force: true });
  }
  const next = `${outDir}.next-${process.pid}`;
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: sources,
      outdir: next,
      outbase: '.',
      bundle: false,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Stack traces name the TypeScript lines when node runs with --enable-source-maps (scripts/start.mjs sets it).
      sourcemap: 'linked',
      sourcesContent: false,
      metafile: true,
      logLevel: 'silent',
    });
    writeFileSync(path.join(next, STAMP), `${JSON.stringify(stamp)}\n`);
    const old = `${outDir}.old-${process.pid}`;
    if (existsSync(outDir)) renameSync(outDir, old);
    renameSync(next, outDir);
    rmSync(old, { recursive: true, force: true });
    log(`Built ${sources.length} files into ${path.relative(root, outDir) || outDir}/ in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    /** @type {Record<string, { path: string, kind: string }[]>} */
    const imports = {};
    for (const [output, { imports: list }] of Object.entries(result.metafile.outputs)) {
      if (output.endsWith('.js')) imports[path.relative(next, path.resolve(root, output)).split(path.sep).join('/')] = list.map(({ path: p, kind }) => ({ path: p, kind }));
    }
    return imports;
  } catch (err) {
    rmSync(next, { recursive: true, force: true });
    throw err;
  } finally {
    // esbuild's service process would otherwise stay beside the connector.
    await esbuild.stop();
  }
}

/**
 * Builds when the build is missing or stale, under a lock (outDir + '.lock') so that two starts at once build once:
 * the second waits for the first and finds the build fresh. Returns whether it built.
 * @param {BuildOptions} [options]
 */
export async function ensureBuilt(options = {}) {
  const root = options.root ?? ROOT;
  const outDir = options.outDir ?? path.join(root, 'dist');
  const log = options.log ?? (() => {});
  if (staleReason({ root, outDir }) === null) return false;
  const release = await lock(`${outDir}.lock`, log);
  try {
    const reason = staleReason({ root, outDir });
    if (reason === null) return false;
    log(`Building the connector: ${reason}.`);
    await build({ root, outDir, log });
    return true;
  } finally {
    release();
  }
}

/**
 * An exclusive lock file holding the builder's pid. A lock whose process is gone, or older than LOCK_STALE_MS, is
 * taken over.
 * @param {string} file
 * @param {(line: string) => void} log
 * @returns {Promise<() => void>}
 */
async function lock(file, log) {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
    }
    if (lockIsAbandoned(file)) {
      try {
        unlinkSync(file);
      } catch {
        // another waiter took it over first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`Another build has held ${file} for over ${LOCK_WAIT_MS / 60_000} minutes; if none is running, delete the file.`);
    if (!told) log('Waiting for the build another start is making.');
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function lockIsAbandoned(/** @type {string} */ file) {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Date.now() - statSync(file).mtimeMs > LOCK_STALE_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
    process.kill(pid, 0);
    return false;
  } catch (err) {
    const code = /** @type {NodeJS.ErrnoException} */ (err).code;
    return code === 'ESRCH'; // no such process; ENOENT: released meanwhile, try again
  }
}

/** Whether this module is the script node was started with (compared by real path: installs may be symlinked). */
function isEntryPoint() {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`);
  const release = await lock(path.join(ROOT, 'dist.lock'), log);
  try {
    await build({ log });
  } catch (err) {
    process.stderr.write(`The build failed.\n${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    release();
  }
}
