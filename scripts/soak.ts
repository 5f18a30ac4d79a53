// `npm run soak [-- --minutes N] [-- --mix throttle|faults] [-- --out FILE]` (default 10 minutes, the throttle
// mix): a mix of work for N minutes against the emulators, with the connector as its own process (as in production)
// SIGKILLed and restarted at 1/5 and 2/5 of the run.
// - `throttle` (default): the throttle mix of test/faults/throttle-mix.ts at 5 documents a second — new smart
//   invoices, quotes and classic invoices, contact edits, payments coming back from Xero by webhook and stage moves —
//   against Bitrix24's standard leaky bucket (50, drained 2 a second) with other apps of the portal filling it, and
//   Xero's own limits (60 calls a minute per organisation).
// - `faults`: the fault campaign's mix — a smart invoice created every second (a classic one every fifth), approvals
//   and payments in Xero, Xero faults (5xx, 429s, lost answers, slow answers), Bitrix24 QUERY_LIMIT_EXCEEDED bursts and
//   expired tokens.
// It prints documents, Xero calls, retries, 429s, Bitrix24 calls, errors and the connector's memory (from its /metrics)
// over time (counters summed across the restarts); at the end it checks the end state, and that memory stayed flat:
// over the last process's life after warm-up (from half the run on), the last half's mean RSS and heap may not exceed
// the first half's by more than 25 % + 8 MB. With --out, the table and the verdict are also written to FILE.
// Exit 1 when either check fails.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { approveAndPay, assertExactlyOnce, assertNothingStuck, assertPaidBack, createMix, type MixDoc } from '../test/faults/mix.js';
import { startProcessBed, type ProcessBed } from '../test/faults/process-bed.js';
import { assertLanded, MIX_KINDS, notLanded, standardBucketWithOthers, ThrottleMix, type MixSide } from '../test/faults/throttle-mix.js';
import { everyEach } from '../app/async-lists.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const minutes = Number(arg('minutes') ?? 10);
const outFile = arg('out');
const mixName = arg('mix') ?? 'throttle';
if (!(minutes > 0) || (mixName !== 'throttle' && mixName !== 'faults')) {
  process.stderr.write('Usage: npm run soak -- --minutes N [--mix throttle|faults] [--out FILE]\n');
  process.exit(2);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Memory may grow by this share plus this many bytes between the halves of the judged window. */
const MEMORY_GROWTH = { ratio: 1.25, bytes: 8 * 1024 * 1024 };

async function scrape(url: string): Promise<Record<string, number>> {
  const lines = (await (await fetch(`${url}/metrics`)).text()).split('\n');
  const sum = (name: string, label = '') => lines.filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    calls: sum('connector_xero_calls_total'), retries: sum('connector_xero_retries_total'), r429: sum('connector_xero_rate_limited_total'),
    b24: sum('connector_bitrix24_calls_total'),
    errors: sum('connector_sync_outcomes_total', 'outcome="retry"') + sum('connector_sync_outcomes_total', 'outcome="attention"'),
    rss: sum('connector_process_resident_memory_bytes'), heap: sum('connector_nodejs_heap_size_used_bytes'),
    attention: sum('connector_jobs', 'state="needs_attention"'),
  };
}

/** Process counters restart at zero after a SIGKILL: what each had before is carried over. */
class Totals {
  readonly #last = new Map<string, number>();
  readonly #carry = new Map<string, number>();
  total(name: string, now: number): number {
    if (now < (this.#last.get(name) ?? 0)) this.#carry.set(name, (this.#carry.get(name) ?? 0) + this.#last.get(name)!);
    this.#last.set(name, now);
    return (this.#carry.get(name) ?? 0) + now;
  }
}

/** One mix of work the soak runs: a second's worth at a time, then whether it all landed, then the end check. */
interface SoakMix {
  /** What this second brings (documents created, statuses changed in Xero, faults changed). */
  tick(round: number): Promise<void>;
  /** Faults off, for the settling. */
  calm(): void;
  documents(): number;
  inXero(): number;
  /** One second of settling: passes on what is still owed (Xero's webhooks) and says whether everything landed. */
  landed(): Promise<boolean>;
  /** Throws when the end state is wrong; the line that says it is right. */
  check(): Promise<string>;
}

/** The fault campaign's mix (test/faults/mix.ts) with Xero's and Bitrix24's faults changing as it goes. */
function faultsMix(bed: ProcessBed): SoakMix {
  const { b24, xero, tenantId } = bed;
  const docs: MixDoc[] = [];
  const paid: MixDoc[] = [];
  let paidUpTo = 0;
  return {
    async tick(round) {
      // Faults change every round: mostly calm, sometimes stormy.
      xero.setFaults(round % 5 === 0 ? { errorRate: 0.2, statuses: [500, 503, 429], dropResponseRate: 0.05, latencyMs: 50 } : { latencyMs: 10 });
      // Bitrix24 throttles now and then (a burst every minute), tokens expire every 90 s: a bad day, not a siege.
      if (round % 60 === 0) b24.setFaults({ burst503: 3 });
      if (round % 90 === 0) b24.expireAccessTokens();
      docs.push(...createMix(b24, `S${round}`, { smart: 1, classic: round % 5 === 0 ? 1 : 0, customers: 1 }));
      await b24.flushEvents().catch(() => undefined);
      // Payments for documents pushed a while ago.
      if (round % 10 === 0) {
        const ready = await bed.withStore((s) => docs.slice(paidUpTo).filter((d) => s.links.find(b24.memberId, d.b24Type, d.b24Id)));
        paid.push(...(await bed.withStore((s) => approveAndPay(xero, tenantId, s, b24.memberId, ready))));
        paidUpTo = docs.indexOf(ready.at(-1) ?? docs[paidUpTo]!) + 1;
      }
    },
    calm() {
      xero.setFaults({});
      b24.setFaults({});
    },
    documents: () => docs.length,
    inXero: () => xero.invoices(tenantId).length,
    landed: () => bed.withStore(async (s) => (await everyEach(docs, async (d) => Boolean(await s.links.find(b24.memberId, d.b24Type, d.b24Id)))) && everyEach(paid, async (d) => (await s.links.find(b24.memberId, d.b24Type, d.b24Id))?.xeroStatus === 'PAID')),
    async check() {
      await bed.withStore(async (s) => {
        await assertExactlyOnce(xero, tenantId, s, b24.memberId, docs);
        await assertPaidBack(b24, s, b24.memberId, paid);
        await assertNothingStuck(s);
      });
      return `end state right: ${docs.length} documents exactly once in Xero, ${paid.length} paid statuses back in Bitrix24, nothing stuck`;
    },
  };
}

/**
 * The throttle mix (test/faults/throttle-mix.ts): every kind of work at 5 documents a second against Bitrix24's
 * standard bucket with other apps of the portal sending 10 requests every 10 s, and Xero's own limits.
 */
async function throttleMix(bed: ProcessBed): Promise<SoakMix> {
  const { b24, xero, tenantId } = bed;
  const saved = await bed.api('/api/settings', { method: 'PUT', body: { approveInXero: true, quoteSync: true } });
  if (saved.status !== 200) throw new Error(`settings failed: ${saved.status} ${await saved.text()}`);
  xero.configureWebhook({ url: `${bed.url}/xero/webhooks` });
  const side: MixSide = { b24, xero, tenantId, memberId: b24.memberId, withStore: (fn) => bed.withStore(fn) };
  const mix = new ThrottleMix(side, 'SOAK');
  b24.setLeakyBucket(standardBucketWithOthers());
  return {
    async tick() {
      await mix.next(5);
      await b24.flushEvents().catch(() => undefined);
      await xero.flushWebhooks().catch(() => undefined);
    },
    calm() {},
    documents: () => mix.docs.length,
    inXero: () => xero.invoices(tenantId).length + xero.quotes(tenantId).length,
    async landed() {
      void xero.flushWebhooks().catch(() => undefined);
      const missing = await notLanded(side, mix.docs);
      return MIX_KINDS.every((k) => missing[k].length === 0);
    },
    async check() {
      await assertLanded(side, mix.docs);
      await bed.withStore((s) => assertNothingStuck(s));
      const counts = MIX_KINDS.map((k) => `${mix.count(k)} ${k}`).join(', ');
      return `end state right: ${mix.docs.length} documents (${counts}) each landed once, nothing stuck`;
    },
  };
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'connector-soak-'));
const bed = await startProcessBed(dataDir);
const mix = mixName === 'throttle' ? await throttleMix(bed) : faultsMix(bed);
const samples: Array<{ at: number; rss: number; heap: number }> = [];
const totals = new Totals();
const report: string[] = [];
const say = (line: string) => {
  process.stdout.write(`${line}\n`);
  report.push(line);
};
let round = 0;
let kills = 0;
const started = Date.now();
const endAt = started + minutes * 60_000;
// Restarts early, so the second half of the run is one process's life: the window memory is judged over.
const killAt = [started + minutes * 12_000, started + minutes * 24_000];
const judgeFrom = started + minutes * 30_000;
const every = Math.min(30_000, Math.max(5_000, minutes * 2_000));
const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const elapsed = () => String(Math.round((Date.now() - started) / 1000)).padStart(6);
process.stdout.write(`connector ${bed.url}\n`);
say(`soak (${mixName} mix): ${minutes} min, a sample every ${every / 1000} s; SIGKILL + restart at ${killAt.map((t) => `${Math.round((t - started) / 1000)} s`).join(' and ')}; memory judged from ${Math.round((judgeFrom - started) / 1000)} s on`);
say('elapsed  documents  inXero  xeroCalls  retries  429s  b24Calls  errors  needsAttention       rss      heap');
let nextReport = started + every;
const sample = async () => {
  const m = await scrape(bed.url);
  const t = (name: string) => totals.total(name, m[name]!);
  samples.push({ at: Date.now(), rss: m.rss, heap: m.heap });
  say(`${elapsed()}s  ${String(mix.documents()).padStart(9)}  ${String(mix.inXero()).padStart(6)}  ${String(t('calls')).padStart(9)}  ${String(t('retries')).padStart(7)}  ${String(t('r429')).padStart(4)}  ${String(t('b24')).padStart(8)}  ${String(t('errors')).padStart(6)}  ${String(m.attention).padStart(14)}  ${MB(m.rss).padStart(8)}  ${MB(m.heap).padStart(8)}`);
};
try {
  while (Date.now() < endAt) {
    round += 1;
    const tickStart = Date.now();
    await mix.tick(round);
    if (kills < killAt.length && Date.now() >= killAt[kills]!) {
      await bed.killAndRestart();
      kills += 1;
      say(`${elapsed()}s  SIGKILL, restarted`);
    }
    if (Date.now() >= nextReport) {
      nextReport = Date.now() + every;
      await sample();
    }
    await sleep(Math.max(0, tickStart + 1000 - Date.now()));
  }
  mix.calm();
  const lastEvent = Date.now();
  say(`settling (kills: ${kills})…`);
  const until = Date.now() + 5 * 60_000;
  while (Date.now() < until) {
    if ((await mix.landed()) && (await bed.idle())) break;
    await sleep(1000);
  }
  const settleS = ((Date.now() - lastEvent) / 1000).toFixed(1);
  await sample();
  say(await mix.check());
  say(`settled ${settleS} s after the last event`);
  // Flat memory: over the last process's life after warm-up, the last half's mean against the first half's.
  const judged = samples.filter((x) => x.at >= judgeFrom && x.at <= lastEvent);
  const half = Math.floor(judged.length / 2);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const verdicts = (['rss', 'heap'] as const).map((k) => {
    const first = mean(judged.slice(0, half).map((x) => x[k]));
    const last = mean(judged.slice(half).map((x) => x[k]));
    const bound = first * MEMORY_GROWTH.ratio + MEMORY_GROWTH.bytes;
    return { k, first, last, bound, ok: last <= bound };
  });
  if (half < 2) say(`memory: too few samples after warm-up (${judged.length}) to judge; run longer`);
  else for (const v of verdicts) say(`memory ${v.k}: first half ${MB(v.first)}, last half ${MB(v.last)} (bound ${MB(v.bound)}): ${v.ok ? 'flat' : 'GROWS'}`);
  const grew = half >= 2 && verdicts.some((v) => !v.ok);
  say(grew ? 'soak: FAILED (memory grows)' : 'soak: passed');
  if (outFile) writeFileSync(outFile, `${report.join('\n')}\n`);
  await bed.close();
  process.exit(grew ? 1 : 0);
} catch (err) {
  say(`soak failed: ${(err as Error).message}`);
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  if (outFile) writeFileSync(outFile, `${report.join('\n')}\n`);
  await bed.close().catch(() => undefined);
  process.exit(1);
}
