// `npm test` and its lanes: `tsx scripts/test.ts [all|fast|process|timed|browser] [--list]`.
// The lanes and what goes in each are in test/lanes.ts (docs/development.md#test-lanes). Each lane is `node --test`
// over its files (the fast lane's compiled ahead by scripts/compile-tests.ts): the fast lane several files at once (TEST_CONCURRENCY, default 3: its files wait on sockets part of
// the time, so 3 keep 2 cores busy), the process, timed and browser lanes one file at a time. `all` (npm test, what CI
// runs) runs every lane and fails when any fails: the fast lane with the process lane beside it (its output printed
// when it ends), then the browser lane with the timed lane beside it.
// At the end one line per lane gives its wall time and counts, and one line counts every test run
// ("tests: N passed, N failed, N skipped").
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LANE_NAMES, laneOf, type Lane } from '../test/lanes.js';
import { compiledPath, compileTests } from './compile-tests.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every test file of the repository (test/**\/*.test.ts), relative with '/', sorted. */
export function testFiles(dir = 'test'): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (name === 'node_modules' || name === 'fixtures') continue;
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...testFiles(rel));
    else if (name.endsWith('.test.ts')) out.push(rel);
  }
  return out.sort();
}

/** The files of each lane. */
export function plan(files = testFiles()): Record<Lane, string[]> {
  const lanes: Record<Lane, string[]> = { fast: [], process: [], timed: [], browser: [] };
  for (const f of files) lanes[laneOf(f)].push(f);
  return lanes;
}

interface LaneResult {
  lane: Lane;
  code: number;
  pass: number;
  fail: number;
  skipped: number;
  ms: number;
}

const concurrency: Record<Lane, number> = {
  fast: Math.max(1, Number(process.env.TEST_CONCURRENCY) || 3),
  process: 1,
  timed: 1,
  browser: 1,
};

/**
 * Runs one lane's files with `node --test`; the counts are read from the spec reporter's summary. Its output is
 * passed through, or with `buffered` kept and printed whole when the lane ends (a lane running beside another).
 */
function runLane(lane: Lane, files: string[], buffered = false): Promise<LaneResult> {
  const started = Date.now();
  if (files.length === 0) return Promise.resolve({ lane, code: 0, pass: 0, fail: 0, skipped: 0, ms: 0 });
  const head = `\n=== ${lane} lane: ${files.length} files, ${concurrency[lane]} at a time\n`;
  const kept: Buffer[] = [];
  const out = (chunk: Buffer | string) => (buffered ? kept.push(Buffer.from(chunk)) : process.stdout.write(chunk));
  if (buffered) process.stdout.write(`\n=== ${lane} lane started beside the others; its output follows when it ends\n`);
  out(head);
  const child = spawn(process.execPath, [...loader(lane), '--test', `--test-concurrency=${concurrency[lane]}`, '--test-reporter=spec', ...files.map((f) => entry(lane, f))], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (chunk: Buffer) => (buffered ? kept.push(chunk) : process.stderr.write(chunk)));
  const counts = { pass: 0, fail: 0, skipped: 0 };
  let tail = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out(chunk);
    const text = tail + chunk.toString('utf8');
    const lines = text.split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) count(line, counts);
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      count(tail, counts);
      if (buffered) process.stdout.write(Buffer.concat(kept));
      resolve({ lane, code: code ?? (signal ? 1 : 0), ...counts, ms: Date.now() - started });
    });
  });
}

/**
 * The fast lane runs its files compiled ahead (scripts/compile-tests.ts: half the CPU of loading each file through
 * tsx); TEST_FROM_SOURCE=1 runs them through tsx like the other lanes. The other lanes spawn processes from source
 * and gain little.
 */
const compiled = (lane: Lane) => lane === 'fast' && !process.env.TEST_FROM_SOURCE;
const loader = (lane: Lane) => (compiled(lane) ? ['--enable-source-maps'] : ['--import', 'tsx']);
const entry = (lane: Lane, file: string) => (compiled(lane) ? path.relative(ROOT, compiledPath(file)) : file);

/** The spec reporter's closing lines: "ℹ pass 12", "ℹ fail 0", "ℹ skipped 1". */
function count(line: string, counts: { pass: number; fail: number; skipped: number }): void {
  const m = /^ℹ (pass|fail|skipped) (\d+)\s*$/.exec(line);
  if (m) counts[m[1] as 'pass' | 'fail' | 'skipped'] += Number(m[2]);
}

async function main(): Promise<void> {
  const started = Date.now();
  const args = process.argv.slice(2);
  const which = (args.find((a) => !a.startsWith('-')) ?? 'all') as Lane | 'all';
  if (which !== 'all' && !LANE_NAMES.includes(which)) {
    process.stderr.write(`Usage: tsx scripts/test.ts [all|${LANE_NAMES.join('|')}] [--list]\n`);
    process.exit(2);
  }
  const lanes = plan();
  const chosen = which === 'all' ? LANE_NAMES : [which];
  if (args.includes('--list')) {
    for (const lane of chosen) process.stdout.write(`${lane} (${lanes[lane].length}):\n${lanes[lane].map((f) => `  ${f}\n`).join('')}`);
    return;
  }
  if (chosen.some(compiled)) {
    const t = Date.now();
    const n = await compileTests();
    if (n > 0) process.stdout.write(`Compiled ${n} files for the fast lane in ${((Date.now() - t) / 1000).toFixed(1)} s.\n`);
  }
  const results: LaneResult[] = [];
  if (which === 'all') {
    // The fast lane keeps both cores busy; the process lane mostly waits on its processes, so it runs beside it. The
    // timed lane's assertions bound real time: it starts when the fast lane is done, beside the lighter browser lane.
    const processLane = runLane('process', lanes.process, true);
    results.push(await runLane('fast', lanes.fast));
    const timed = runLane('timed', lanes.timed, true);
    results.push(await runLane('browser', lanes.browser));
    results.push(await timed);
    results.push(await processLane);
  } else {
    results.push(await runLane(which, lanes[which]));
  }
  const wall = Date.now() - started;
  const sum = (k: 'pass' | 'fail' | 'skipped') => results.reduce((n, r) => n + r[k], 0);
  process.stdout.write(`\n${results.map((r) => `${r.lane} lane: ${(r.ms / 1000).toFixed(1)} s, ${r.pass} passed, ${r.fail} failed${r.code ? ' (FAILED)' : ''}`).join('\n')}\n`);
  process.stdout.write(`all lanes: ${(wall / 1000).toFixed(1)} s\n`);
  process.stdout.write(`tests: ${sum('pass')} passed, ${sum('fail')} failed, ${sum('skipped')} skipped\n`);
  process.exitCode = results.some((r) => r.code !== 0) ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
