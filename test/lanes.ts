/**
 * Which lane of `npm test` runs each test file (scripts/test.ts runs them; docs/development.md#test-lanes).
 *
 * - fast: everything not named below. In-process (the emulators and the connector in the test's own process), run
 *   several files at once, so a file must be safe beside others: free ports (listen on 0), its own temp folders
 *   (test/helpers/tmp.ts), nothing shared but its process (app/clock.ts is per process, and each file is one).
 * - process: files whose point is real processes (SIGKILL campaigns, spawned connectors or CLIs, restarts of a
 *   process mid-work): one at a time, beside the fast lane (they mostly wait on their processes and sockets).
 * - timed: files whose assertions bound real time (the throttle mix's settling, waits measured against the clock):
 *   one at a time, after the fast lane, beside the browser lane only.
 * - browser: headless Chromium driving the pages (test/browser/).
 *
 * An entry is a file or a folder (ending in '/'), relative to the repository. A new test file lands in fast by
 * default; test/lanes.test.ts fails when an entry names no file or a file would be in two lanes.
 */
export const LANES = {
  process: [
    // SIGKILL of the connector at each step of its work, then a restart that must finish exactly once.
    'test/faults/crash.test.ts',
    'test/faults/crash-import.test.ts',
    // Pushes through a connector process SIGKILLed under a backlog and restarted.
    'test/push-resilience.test.ts',
    // app/main.ts as a process: start-up refusals, signals, graceful shutdown.
    'test/process.test.ts',
    // `npm run import` as a process, killed mid-import and run again.
    'test/import/import-kill.test.ts',
    'test/import/import-cli.test.ts',
    // The connector and `npm run import` (a child process) renewing one portal's tokens.
    'test/import/token-renewal.test.ts',
    // `npm run backup` / `npm run restore` as processes against a running connector's store.
    'test/operate/backup-restore.test.ts',
    // npm start's build-then-run as processes: missing, stale and fresh builds, two starts at once, symlinked installs.
    'test/operate/build.test.ts',
  ],
  timed: [
    // The throttle mix: every kind of work at 5 documents a second for half a minute against Bitrix24's bucket; its
    // settling bound is about the connector's pace, so it runs beside no in-process suite.
    'test/faults/throttle-mix.test.ts',
    // The fault campaigns on Bitrix24's operating limit and Xero's day: waits measured against real time.
    'test/faults/bitrix-faults.test.ts',
    'test/faults/xero-faults.test.ts',
    // Instances on PostgreSQL taking turns: how long another key waits, how full a minute's window gets.
    'test/cluster/single-flight.test.ts',
    'test/cluster/xero-call-limits.test.ts',
  ],
  browser: ['test/browser/'],
} as const;

export type Lane = 'fast' | keyof typeof LANES;
export const LANE_NAMES: readonly Lane[] = ['fast', 'process', 'timed', 'browser'];

/** The lane of `file` (a path relative to the repository, with '/'): the first entry that names it, else fast. */
export function laneOf(file: string): Lane {
  for (const lane of ['process', 'timed', 'browser'] as const) if (LANES[lane].some((entry) => names(entry, file))) return lane;
  return 'fast';
}

/** True when the manifest entry `entry` (a file, or a folder ending in '/') names `file`. */
export function names(entry: string, file: string): boolean {
  return entry.endsWith('/') ? file.startsWith(entry) : file === entry;
}
