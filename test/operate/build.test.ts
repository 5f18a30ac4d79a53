// Production runs compiled JavaScript: `npm run build` (scripts/build.mjs) and the start script that builds when the
// build is missing or stale and then runs the built files (scripts/start.mjs). Each test works on its own copy of
// the project (sources, views, package.json; node_modules linked), so building there never touches the dist/ the
// rest of the suite uses.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build, staleReason } from '../../scripts/build.mjs';
import { spawnConnector, type RunningConnector } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** A copy of the project without dist/, its node_modules the repository's (or `modules`, a folder of links). */
function projectCopy(modules = path.join(ROOT, 'node_modules')): string {
  const dir = tempDir('connector-build-');
  for (const item of ['app', 'placements', 'views', 'scripts', 'install.json', 'package.json', 'tsconfig.json']) {
    cpSync(path.join(ROOT, item), path.join(dir, item), { recursive: true });
  }
  symlinkSync(modules, path.join(dir, 'node_modules'), 'dir');
  return dir;
}

/** node_modules as `npm ci --omit=dev` leaves it: links to the production dependencies only (no tsx, no esbuild). */
function productionModules(): string {
  const dir = tempDir('connector-prod-modules-');
  const top = path.join(ROOT, 'node_modules');
  const listed = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
  const names = new Set<string>();
  for (const line of listed.split('\n')) {
    const rel = path.relative(top, line.trim());
    if (!line.trim() || rel.startsWith('..') || !rel) continue;
    // Top-level packages only; nested node_modules come along with their parent.
    const parts = rel.split(path.sep);
    names.add(parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  for (const name of names) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    symlinkSync(path.join(top, name), path.join(dir, name), 'dir');
  }
  return dir;
}

const startArgs = ['scripts/start.mjs', 'main'];
const connectorEnv = () => ({ DATA_DIR: tempDir(), LOG_LEVEL: 'info' });

/** Runs one start-script command to its end (`npm run portal -- list`, `npm run import -- …`). */
async function runCommand(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | string; output: string }> {
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: tempDir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  return { code: code ?? signal ?? 'unknown', output };
}

async function healthAndStop(running: RunningConnector): Promise<void> {
  try {
    const res = await fetch(`${running.url}/health`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status: string }).status, 'ok');
  } finally {
    running.child.kill('SIGTERM');
  }
  assert.equal(await running.exited, 0, running.output.join('\n'));
}

const builtLines = (output: string | string[]) => (Array.isArray(output) ? output : output.split('\n')).filter((l) => /^Built \d+ files into dist\//.test(l));

describe('npm start runs the built connector', () => {
  it('when the build is missing, then npm start\'s script builds it and the connector serves /health from dist/', async () => {
    const dir = projectCopy();
    assert.equal(existsSync(path.join(dir, 'dist')), false);
    const running = await spawnConnector(connectorEnv(), 30_000, { cwd: dir, args: startArgs });
    assert.ok(running.output.includes('Building the connector: dist/ has no build.'), running.output.join('\n'));
    assert.equal(builtLines(running.output).length, 1);
    assert.ok(existsSync(path.join(dir, 'dist/app/main.js')));
    await healthAndStop(running);
  });

  it('when the build is fresh, then it starts without building; when a source changes, then it builds again and runs the change', async () => {
    const dir = projectCopy();
    await build({ root: dir });
    const stamp = path.join(dir, 'dist/.stamp.json');
    const builtAt = statSync(stamp).mtimeMs;

    const fresh = await spawnConnector(connectorEnv(), 30_000, { cwd: dir, args: startArgs });
    assert.equal(fresh.output.some((l) => l.startsWith('Build')), false, fresh.output.join('\n'));
    await healthAndStop(fresh);
    assert.equal(statSync(stamp).mtimeMs, builtAt);

    writeFileSync(path.join(dir, 'app/main.ts'), `${readFileSync(path.join(dir, 'app/main.ts'), 'utf8')}\nprocess.stderr.write('built from the edited main.ts\\n');\n`);
    const changed = await spawnConnector(connectorEnv(), 30_000, { cwd: dir, args: startArgs });
    assert.ok(changed.output.includes('Building the connector: app/main.ts changed.'), changed.output.join('\n'));
    assert.ok(changed.output.includes('built from the edited main.ts'), changed.output.join('\n'));
    await healthAndStop(changed);
  });

  it('when only the sources\' mtimes change (a fresh checkout), then the build is still fresh; when a source is added or removed, then it is stale', async () => {
    const dir = projectCopy();
    await build({ root: dir });
    assert.equal(staleReason({ root: dir }), null);
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(dir, 'app/config.ts'), later, later);
    assert.equal(staleReason({ root: dir }), null);

    writeFileSync(path.join(dir, 'app/added.ts'), 'export const added = 1;\n');
    assert.equal(staleReason({ root: dir }), 'app/added.ts was added');
    rmSync(path.join(dir, 'app/added.ts'));
    rmSync(path.join(dir, 'app/own-keys.ts'));
    assert.equal(staleReason({ root: dir }), 'app/own-keys.ts was removed');
  });

  it('when two starts find the build missing at once, then one builds and the other waits for it', async () => {
    const dir = projectCopy();
    const [a, b] = await Promise.all([runCommand(dir, ['scripts/start.mjs', 'portal', 'list']), runCommand(dir, ['scripts/start.mjs', 'portal', 'list'])]);
    for (const r of [a, b]) {
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /No portals\./);
    }
    assert.equal(builtLines(a.output).length + builtLines(b.output).length, 1, `${a.output}\n----\n${b.output}`);
    assert.equal(existsSync(path.join(dir, 'dist.lock')), false);
  });

  it('when npm run import runs, then node runs the built import CLI in its own process, with its arguments', async () => {
    const dir = projectCopy();
    await build({ root: dir });
    const [node, ...flags] = PKG.scripts.import!.split(' ');
    assert.equal(node, 'node');
    // The import's memory flags apply to the import itself: the start script runs it in the process node started.
    assert.deepEqual(flags.slice(-2), ['scripts/start.mjs', 'import-cli']);
    assert.ok(flags.includes('--max-old-space-size=128'));
    const rejected = await runCommand(dir, [...flags, '--what', 'invoices']);
    assert.equal(rejected.code, 1, rejected.output);
    assert.match(rejected.output, /--what names unknown record types \(invoices\)/);
    // The built file ran: remove it and the same command cannot run until it is built again.
    rmSync(path.join(dir, 'dist/app/import-cli.js'));
    const rebuilt = await runCommand(dir, [...flags, '--what', 'invoices']);
    assert.match(rebuilt.output, /Building the connector: app\/import-cli\.js is missing from the build\./);
    assert.match(rebuilt.output, /--what names unknown record types/);
  });

  it('when the devDependencies are not installed (npm ci --omit=dev), then a fresh build starts and a stale one is refused with the command that builds it', async () => {
    const dir = projectCopy(productionModules());
    assert.equal(existsSync(path.join(dir, 'node_modules/esbuild')), false);
    assert.equal(existsSync(path.join(dir, 'node_modules/tsx')), false);
    const missing = await runCommand(dir, startArgs);
    assert.equal(missing.code, 1, missing.output);
    assert.match(missing.output, /esbuild is not installed[^]*npm ci && npm run build/);

    // Built where esbuild is installed (this test's own scripts/build.mjs), as at deploy time; run without it.
    await build({ root: dir });
    const running = await spawnConnector(connectorEnv(), 30_000, { cwd: dir, args: startArgs });
    assert.equal(running.output.some((l) => l.startsWith('Build')), false, running.output.join('\n'));
    await healthAndStop(running);
  });

  it('when the install is reached through a symlink, then node dist/app/main.js starts the connector', async () => {
    const dir = projectCopy();
    await build({ root: dir });
    const link = path.join(tempDir(), 'current');
    symlinkSync(dir, link, 'dir');
    const running = await spawnConnector(connectorEnv(), 30_000, { cwd: link, args: [path.join(link, 'dist/app/main.js')] });
    await healthAndStop(running);
  });
});

describe('the build', () => {
  it('when it is built, then every file it holds imports only files it holds, node\'s modules and production dependencies', async () => {
    const outDir = path.join(tempDir(), 'dist');
    const built = await build({ outDir });
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const problems: string[] = [];
    for (const [file, imports] of Object.entries(built)) {
      for (const { path: spec } of imports) {
        if (spec.startsWith('.')) {
          const target = path.posix.join(path.posix.dirname(file), spec);
          if (!(target in built) || !existsSync(path.join(outDir, target))) problems.push(`${file} imports ${spec}, which is not in the build`);
        } else if (!builtins.has(spec)) {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          if (!(name in PKG.dependencies)) problems.push(`${file} imports ${spec}, which is not a production dependency`);
        }
      }
    }
    assert.deepEqual(problems, []);
    for (const entry of ['app/main.js', 'app/import-cli.js', 'scripts/backup.js', 'scripts/restore.js', 'scripts/portal.js']) {
      assert.ok(entry in built && existsSync(path.join(outDir, entry)), `${entry} is built`);
    }
  });

  it('when the package is installed for production, then tsx is not among its dependencies and no command it runs there loads TypeScript', () => {
    assert.equal('tsx' in PKG.dependencies, false);
    assert.ok('tsx' in PKG.devDependencies && 'esbuild' in PKG.devDependencies);
    for (const script of ['start', 'import', 'backup', 'restore', 'portal']) {
      assert.match(PKG.scripts[script]!, /^node (--[\w-]+=\d+ )*scripts\/start\.mjs [\w-]+$/, `npm run ${script}`);
    }
    assert.equal(PKG.scripts.build, 'node scripts/build.mjs');
  });
});
