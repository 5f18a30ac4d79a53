// `npm run soak [-- --minutes N]` (default 10): the fault campaign's realistic mix for N minutes against the
// emulators, with the connector as its own process: smart and classic invoices created in Bitrix24 every second,
// approvals and payments in Xero, Xero faults (5xx, 429s, lost answers, slow answers), Bitrix24 QUERY_LIMIT_EXCEEDED
// bursts and expired tokens, and a SIGKILL + restart every few minutes. Every 30 s it prints documents, Xero calls,
// retries, 429s, errors and the connector's memory (from its /metrics); at the end it checks the end state and
// that memory stayed flat. Exit 1 when either check fails.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { approveAndPay, assertExactlyOnce, assertNothingStuck, assertPaidBack, createMix, type MixDoc } from '../test/faults/mix.js';
import { startProcessBed } from '../test/faults/process-bed.js';

const i = process.argv.indexOf('--minutes');
const minutes = Number(i >= 0 ? process.argv[i + 1] : 10);
if (!(minutes > 0)) {
  process.stderr.write('Usage: npm run soak -- --minutes N\n');
  process.exit(2);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scrape(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sum = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const jobs = (state: string) => text.split('\n').filter((l) => l.startsWith('connector_jobs{') && l.includes(`state="${state}"`)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    calls: sum('connector_xero_calls_total'), retries: sum('connector_xero_retries_total'), r429: sum('connector_xero_rate_limited_total'),
    b24: sum('connector_bitrix24_calls_total'), rss: sum('connector_process_resident_memory_bytes'), heap: sum('connector_nodejs_heap_size_used_bytes'),
    attention: jobs('needs_attention'), pending: jobs('pending'),
  };
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'connector-soak-'));
const bed = await startProcessBed(dataDir);
const { b24, xero, tenantId } = bed;
const docs: MixDoc[] = [];
const paid: MixDoc[] = [];
const heapSamples: number[] = [];
let round = 0;
let kills = 0;
const started = Date.now();
const endAt = started + minutes * 60_000;
const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
process.stdout.write(`soak: ${minutes} min; connector ${bed.url}\n`);
process.stdout.write('elapsed  documents  inXero  xeroCalls  retries  429s  b24Calls  needsAttention  rss  heap\n');
let nextReport = started + 30_000;
let paidUpTo = 0;
try {
  while (Date.now() < endAt) {
    round += 1;
    // Faults change every round: mostly calm, sometimes stormy.
    xero.setFaults(round % 5 === 0 ? { errorRate: 0.2, statuses: [500, 503, 429], dropResponseRate: 0.05, latencyMs: 50 } : { latencyMs: 10 });
    if (round % 7 === 0) b24.setFaults({ burst503: 5 });
    if (round % 11 === 0) b24.expireAccessTokens();
    docs.push(...createMix(b24, `S${round}`, { smart: 3, classic: round % 3 === 0 ? 1 : 0, customers: 2 }));
    await b24.flushEvents().catch(() => undefined);
    // Payments for documents pushed a while ago.
    if (round % 10 === 0) {
      const ready = bed.withStore((s) => docs.slice(paidUpTo).filter((d) => s.links.find(b24.memberId, d.b24Type, d.b24Id)));
      paid.push(...bed.withStore((s) => approveAndPay(xero, tenantId, s, b24.memberId, ready)));
      paidUpTo = docs.indexOf(ready.at(-1) ?? docs[paidUpTo]!) + 1;
    }
    if (round % 180 === 0) { await bed.killAndRestart(); kills += 1; }
    if (Date.now() >= nextReport) {
      nextReport += 30_000;
      const m = await scrape(bed.url);
      heapSamples.push(m.heap);
      const inXero = xero.invoices(tenantId).length;
      process.stdout.write(`${String(Math.round((Date.now() - started) / 1000)).padStart(6)}s  ${String(docs.length).padStart(9)}  ${String(inXero).padStart(6)}  ${String(m.calls).padStart(9)}  ${String(m.retries).padStart(7)}  ${String(m.r429).padStart(4)}  ${String(m.b24).padStart(8)}  ${String(m.attention).padStart(14)}  ${MB(m.rss)}  ${MB(m.heap)}\n`);
    }
    await sleep(1000);
  }
  xero.setFaults({});
  b24.setFaults({});
  process.stdout.write(`settling (kills: ${kills})…\n`);
  const until = Date.now() + 5 * 60_000;
  while (Date.now() < until) {
    const allIn = bed.withStore((s) => docs.every((d) => s.links.find(b24.memberId, d.b24Type, d.b24Id)) && paid.every((d) => s.links.find(b24.memberId, d.b24Type, d.b24Id)?.xeroStatus === 'PAID'));
    if (allIn && (await bed.idle())) break;
    await sleep(1000);
  }
  bed.withStore((s) => {
    assertExactlyOnce(xero, tenantId, s, b24.memberId, docs);
    assertPaidBack(b24, s, b24.memberId, paid);
    assertNothingStuck(s);
  });
  // Flat memory: the heap of the last third of the run is within 1.5× of the first third's (after warm-up).
  const third = Math.max(1, Math.floor(heapSamples.length / 3));
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const first = avg(heapSamples.slice(0, third));
  const last = avg(heapSamples.slice(-third));
  process.stdout.write(`end state right: ${docs.length} documents exactly once in Xero, ${paid.length} paid statuses back; heap ${MB(first)} → ${MB(last)}\n`);
  if (heapSamples.length >= 3 && last > first * 1.5) throw new Error(`memory grew: ${MB(first)} → ${MB(last)}`);
  await bed.close();
  process.exit(0);
} catch (err) {
  process.stderr.write(`soak failed: ${(err as Error).stack ?? String(err)}\n`);
  await bed.close().catch(() => undefined);
  process.exit(1);
}
