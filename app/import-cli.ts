/**
 * `npm run import -- --what companies,contacts,products [--dry-run] [--include-archived] [--portal MEMBER_ID]`
 *
 * Runs the same import job as the "Import from Xero" slider, in this process, on the connector's store (DATA_DIR,
 * APP_SECRET and the rest of the environment as for `npm start`); it may run while the connector does: token renewal
 * and the run itself are guarded by leases in the shared SQLite store. A run left unfinished by a crash or Ctrl+C is
 * resumed by the next invocation. Prints progress and the summary; exits 0 when the import (or the preview) finished.
 */
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig, prepareDataDir, resolveAppSecret } from './config.js';
import { AppError, LimitReached } from './errors.js';
import { isEntryPoint } from './entry-point.js';
import { createLogger } from './log.js';
import { createServices } from './services.js';
import { openConfiguredStore, StoreError, type Store } from './store/index.js';
import type { ImportWhat } from './store/imports.js';
import type { ImportFromXero, ImportSummary } from './sync/import/import-from-xero.js';

const WHATS: readonly ImportWhat[] = ['companies', 'contacts', 'products'];

/**
 * Node flags the import process runs with (package.json "import", and whoever spawns it): a small young generation
 * and an old-space ceiling make V8 collect the garbage of each Xero page and Bitrix24 batch instead of growing its
 * heap first. What the import keeps is flat (one page, one batch; the plan and the matching directory are in the
 * store), so a ceiling it reached would be a defect, not a size limit.
 */
export const IMPORT_NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=128'] as const;

export interface CliOptions { what: ImportWhat[]; dryRun: boolean; includeArchived: boolean; portal: string | undefined }

/** Parses the arguments; throws a message naming the problem. */
export function parseCliArgs(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: { what: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'include-archived': { type: 'boolean' }, portal: { type: 'string' } },
    strict: true,
  });
  const what = (values.what ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (what.length === 0) throw new CliError('--what is required: a comma-separated list of companies, contacts, products.');
  const unknown = what.filter((w) => !WHATS.includes(w as ImportWhat));
  if (unknown.length) throw new CliError(`--what names unknown record types (${unknown.join(', ')}); use companies, contacts, products.`);
  return { what: what as ImportWhat[], dryRun: Boolean(values['dry-run']), includeArchived: Boolean(values['include-archived']), portal: values.portal };
}

export class CliError extends Error {}

/** The portal to import into: the one named, else the only installed one. */
export async function choosePortal(store: Store, named: string | undefined): Promise<string> {
  const installed = (await store.portals.list()).filter((p) => p.state === 'installed');
  if (named) {
    if (!installed.some((p) => p.memberId === named)) throw new CliError(`No installed portal has the member id ${named}. Installed: ${installed.map((p) => p.memberId).join(', ') || 'none'}.`);
    return named;
  }
  if (installed.length === 1) return installed[0]!.memberId;
  if (installed.length === 0) throw new CliError('No portal has the app installed; install it from the Bitrix24 Applications menu first.');
  throw new CliError(`Several portals are installed; choose one with --portal (${installed.map((p) => `${p.memberId} (${p.domain})`).join(', ')}).`);
}

/** Runs (or resumes) one import; `print` gets each line. Returns the process exit code. */
export async function runImport(svc: ImportFromXero, store: Store, memberId: string, opts: CliOptions, print: (line: string) => void): Promise<number> {
  const live = await store.imports.liveRun(memberId);
  let runId: number;
  if (live?.state === 'running') {
    print(`Resuming import ${live.id} (${live.what.join(', ')}), left unfinished by an earlier stop.`);
    runId = live.id;
  } else {
    runId = (await svc.requestPreview({ memberId, what: opts.what, includeArchived: opts.includeArchived, startedBy: 'cli' }, { enqueue: false })).id;
    const showProgress = async (id: number) => {
      if (id !== runId) return;
      const p = (await store.imports.run(id))?.progress;
      if (p?.phase) print(`${p.phase}: ${p.pagesRead ?? 0} Xero page(s) read, ${p.planned ?? 0} record(s) planned`);
    };
    // A progress line whose read failed is only left out (the run itself meets the same fault and says so).
    const onProgress = (id: number) => void showProgress(id).catch(() => undefined);
    svc.events.on('progress', onProgress);
    try {
      await svc.work(runId, 'preview');
    } finally {
      svc.events.off('progress', onProgress);
    }
    const preview = await svc.summary(memberId, runId);
    print(`Preview: ${counts(preview.planned)}`);
    for (const f of preview.failures) print(`  will fail: ${f.kind} "${f.name}": ${f.reason}`);
    if (opts.dryRun) return preview.run.state === 'previewed' ? 0 : 1;
    await svc.requestRun(memberId, runId, { enqueue: false });
  }
  let last = 0;
  const showBatch = async (id: number) => {
    if (id !== runId || Date.now() - last < 1000) return;
    last = Date.now();
    const o = await store.imports.outcomeCounts(id);
    print(`Writing: ${counts(o)}, ${o.remaining} to go`);
  };
  const onBatch = (id: number) => void showBatch(id).catch(() => undefined);
  svc.events.on('progress', onBatch);
  try {
    for (;;) {
      try {
        await svc.work(runId, 'run');
        break;
      } catch (err) {
        // A Bitrix24 method blocked for now (OPERATION_TIME_LIMIT): the run waits for it here and goes on.
        if (!(err instanceof LimitReached)) throw err;
        print(`Waiting: ${err.message}`);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, err.retryAt - Date.now())));
      }
    }
  } finally {
    svc.events.off('progress', onBatch);
  }
  const summary = await svc.summary(memberId, runId);
  printSummary(summary, print);
  return summary.run.state === 'done' ? 0 : 1;
}

function counts(c: Record<string, number>): string {
  return `${c.create ?? 0} to create/created, ${c.link ?? 0} linked, ${c.update ?? 0} updated, ${c.skip ?? 0} skipped, ${c.fail ?? 0} failed`;
}

function printSummary(s: ImportSummary, print: (line: string) => void): void {
  const o = s.outcome;
  print(`Import ${s.run.id} ${s.run.state}: ${o.create} created, ${o.link} linked, ${o.update} updated, ${o.skip} skipped, ${o.fail} failed${o.remaining ? `, ${o.remaining} not written` : ''}.`);
  for (const f of s.failures) print(`  failed: ${f.kind} "${f.name}": ${f.reason}`);
  if (s.run.error) print(`  ${s.run.error}`);
}

/** The command: `argv` are its arguments (`node dist/app/import-cli.js ARGS`, or scripts/start.mjs after building). */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  let code = 1;
  const memory = process.env.IMPORT_REPORT_RSS ? sampleMemory() : null;
  const print = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const opts = parseCliArgs(argv);
    const config = parseConfig(process.env);
    prepareDataDir(config.dataDir);
    const appSecret = resolveAppSecret(config);
    const store = await openConfiguredStore(config, appSecret);
    try {
      const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
      const services = createServices({ config, store, logger, appSecret });
      code = await runImport(services.importFromXero, store, await choosePortal(store, opts.portal), opts, print);
    } finally {
      await store.close();
    }
  } catch (err) {
    if (err instanceof CliError || err instanceof ConfigError || err instanceof StoreError || err instanceof AppError) process.stderr.write(`The import cannot run.\n${err.message}\n`);
    else if (err instanceof TypeError && /Unknown option|argument/i.test(err.message)) process.stderr.write(`${err.message}\n`);
    else throw err;
  }
  // For the benchmark: the process's peak resident memory.
  if (memory) process.stdout.write(`${memory()}\n`);
  process.exit(code);
}

/** For the benchmark: samples memory while the import runs; the result names the peak and what filled it then. */
function sampleMemory(): () => string {
  const mb = (n: number) => Math.round(n / 1048576);
  let peak = process.memoryUsage();
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    if (m.rss > peak.rss) peak = m;
  }, 50);
  timer.unref();
  return () => {
    clearInterval(timer);
    return `peak RSS: ${Math.round(process.resourceUsage().maxRSS / 1024)} MB (sampled peak ${mb(peak.rss)} MB: heap ${mb(peak.heapUsed)} of ${mb(peak.heapTotal)} MB, external ${mb(peak.external)} MB)`;
  };
}

if (isEntryPoint(import.meta.url)) void main();
