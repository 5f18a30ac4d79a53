/**
 * Bench part `startup` (issue: production runs compiled JavaScript): the connector started as before, TypeScript
 * through tsx (`node --import tsx app/main.ts`), and as `npm start` runs it now, the built files
 * (`node scripts/start.mjs main`, build fresh) → time from spawn to the first `/health` 200 and the resident memory
 * (VmRSS, and the peak VmHWM) one second after, the median of BENCH_STARTUP_RUNS runs each (default 5), each on an
 * empty DATA_DIR and a free port. Also: how long `npm run build` takes from nothing. Only node's process is measured
 * (npm's own wrapper process, about 50 MB more, is left out: a service manager runs node directly).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, ensureBuilt } from '../scripts/build.mjs';
import { freePort } from '../test/helpers/process.js';
import { row } from './report.js';

type Say = (s?: string) => void;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};

interface Sample {
  healthMs: number;
  rssMb: number;
  peakMb: number;
}

/** Reads a `VmX:  1234 kB` line of /proc/PID/status in MB. */
function procMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function once200(url: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no 200 from ${url} in time`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function sample(args: string[]): Promise<Sample> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), DATA_DIR: tempDir('connector-bench-startup-'), LOG_LEVEL: 'warn', ALLOW_INSECURE_LOOPBACK: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  try {
    await once200(`http://127.0.0.1:${port}/health`, Date.now() + 60_000);
    const healthMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    return { healthMs, rssMb: procMb(child.pid!, 'VmRSS'), peakMb: procMb(child.pid!, 'VmHWM') };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function startup(say: Say): Promise<void> {
  try {
    await measure(say);
  } finally {
    for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(say: Say): Promise<void> {
  const runs = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
  const buildStarted = performance.now();
  await build({ outDir: path.join(tempDir('connector-bench-build-'), 'dist') });
  const buildMs = performance.now() - buildStarted;
  await ensureBuilt();
  const variants: [string, string[]][] = [
    ['before: `node --import tsx app/main.ts`', ['--import', 'tsx', 'app/main.ts']],
    ['after: `npm start` = `node scripts/start.mjs main` (build fresh)', ['scripts/start.mjs', 'main']],
    ['after, as a service: `node --enable-source-maps dist/app/main.js`', ['--enable-source-maps', 'dist/app/main.js']],
    ['after, without source maps: `node dist/app/main.js`', ['dist/app/main.js']],
  ];
  const results: [string, Sample][] = [];
  // Interleaved, so a slower moment of the machine falls on every variant alike.
  const samples = new Map<string, Sample[]>(variants.map(([name]) => [name, []]));
  for (let i = 0; i < runs; i++) for (const [name, args] of variants) samples.get(name)!.push(await sample(args));
  for (const [name] of variants) {
    const s = samples.get(name)!;
    results.push([name, { healthMs: median(s.map((x) => x.healthMs)), rssMb: median(s.map((x) => x.rssMb)), peakMb: median(s.map((x) => x.peakMb)) }]);
  }
  say(`## Start-up: spawn → first /health 200, resident memory 1 s after (median of ${runs} runs)`);
  say();
  say('| how it runs | first /health 200 | RSS after start | peak RSS |');
  say('|---|---|---|---|');
  for (const [name, r] of results) say(`| ${name} | ${r.healthMs.toFixed(0)} ms | ${r.rssMb.toFixed(0)} MB | ${r.peakMb.toFixed(0)} MB |`);
  say();
  say(`\`npm run build\` from nothing: ${(buildMs / 1000).toFixed(1)} s (esbuild, one file per source file).`);
  say();
  const [before, after] = [results[0]![1], results[1]![1]];
  row({ benchmark: 'startup', measure: 'first /health 200: tsx → built', value: `${before.healthMs.toFixed(0)} → ${after.healthMs.toFixed(0)} ms`, met: after.healthMs < before.healthMs });
  row({ benchmark: 'startup', measure: 'RSS after start: tsx → built', value: `${before.rssMb.toFixed(0)} → ${after.rssMb.toFixed(0)} MB`, met: after.rssMb < before.rssMb });
}
