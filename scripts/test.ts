// `npm test` and its lanes: `tsx scripts/test.ts [all|fast|process|browser] [--list] [-- FILE...]`.
// The lanes and what goes in each are in test/lanes.ts (docs/development.md#test-lanes). `all` (npm test, what CI
// runs) runs every lane and fails when any fails; each lane is `node --test` over its files, the fast lane several
// files at once (TEST_CONCURRENCY, default 4: its files mostly wait on sockets, so 4 keep 2 cores busy), the process
// and browser lanes one file at a time. At the end one line counts the tests of every lane run
// ("tests: N passed, N failed, N skipped") and each lane's wall time.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LANE_NAMES, laneOf, type Lane } from '../test/lanes.js';

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
  const lanes: Record<Lane, string[]> = { fast: [], process: [], browser: [] };
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
  fast: Math.max(1, Number(process.env.TEST_CONCURRENCY) || 4),
  process: 1,
  browser: 1,
};

/** Runs one lane's files with `node --test`, its output passed through; the counts read from the spec summary. */
function runLane(lane: Lane, files: string[]): Promise<LaneResult> {
  const started = Date.now();
  if (files.length === 0) return Promise.resolve({ lane, code: 0, pass: 0, fail: 0, skipped: 0, ms: 0 });
  process.stdout.write(`\n=== ${lane} lane: ${files.length} files, ${concurrency[lane]} at a time\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency[lane]}`, '--test-reporter=spec', ...files], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const counts = { pass: 0, fail: 0, skipped: 0 };
  let tail = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    const text = tail + chunk.toString('utf8');
    const lines = text.split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) count(line, counts);
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      count(tail, counts);
      resolve({ lane, code: code ?? (signal ? 1 : 0), ...counts, ms: Date.now() - started });
    });
  });
}

/** The spec reporter's closing lines: "ℹ pass 12", "ℹ fail 0", "ℹ skipped 1". */
function count(line: string, counts: { pass: number; fail: number; skipped: number }): void {
  const m = /^ℹ (pass|fail|skipped) (\d+)\s*$/.exec(line);
  if (m) counts[m[1] as 'pass' | 'fail' | 'skipped'] += Number(m[2]);
}

async function main(): Promise<void> {
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
  const results: LaneResult[] = [];
  for (const lane of chosen) results.push(await runLane(lane, lanes[lane]));
  const sum = (k: 'pass' | 'fail' | 'skipped') => results.reduce((n, r) => n + r[k], 0);
  process.stdout.write(`\n${results.map((r) => `${r.lane} lane: ${(r.ms / 1000).toFixed(1)} s, ${r.pass} passed, ${r.fail} failed${r.code ? ' (FAILED)' : ''}`).join('\n')}\n`);
  process.stdout.write(`tests: ${sum('pass')} passed, ${sum('fail')} failed, ${sum('skipped')} skipped\n`);
  process.exitCode = results.some((r) => r.code !== 0) ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
