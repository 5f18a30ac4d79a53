/**
 * `npm run bench`: speed and cost targets of the connector, measured against the emulators at Xero's real limits,
 * written to bench/out/report.md (and printed). Not a test: it reports numbers, it asserts nothing.
 *
 * 1. Backlog: 2,000 invoices for 200 customers waiting in Bitrix24 → Xero calls used vs the lower bound
 *    (one per 50 invoices + one per 50 new contacts; target ≤ 1.1×), wall time, 429s received; the same for a
 *    500-quote backlog (`quotes`).
 * 2. Event intake: signed Bitrix24 events at 200/s to the connector in its own process (outbox working, the portal
 *    emulated in a third process), after one unmeasured warm-up second → latency p50/p99 (target p99 < 50 ms).
 * 3. Status poll: Xero calls per poll with 10,000 linked invoices of which N changed.
 * 4. Payment → Bitrix24 latency with Xero webhooks on (target < 5 s).
 * 5. Pages: render p95 with 10,000 links and 100,000 activity rows, the live endpoint, first-load size (bench/pages.ts).
 * Restart: a restart inside a busy Xero minute meets no 429 (bench/restart.ts).
 * Start-up: time to the first /health 200 and resident memory, TypeScript through tsx vs the build (bench/startup.ts).
 * Throttle: Bitrix24 requests per document for each kind of work and the mix's sustained rate under the standard
 *   leaky bucket with other apps (bench/throttle.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QUOTE, SMART_INVOICE } from '../test/emulators/bitrix24/index.js';
import { openStore } from '../app/store/index.js';
import { spawnConnector } from '../test/helpers/process.js';
import { startXeroEmulator, type XeroEmulator, type XeroEmulatorOptions } from '../test/emulators/xero/index.js';
import { startEnvironment, type Environment } from '../test/helpers/env.js';
import { row, summaryTable } from './report.js';
import { TEST_SECRET } from '../test/helpers/store.js';
import { pagesBench } from './pages.js';
import { burst, day } from './day.js';
import { restart } from './restart.js';
import { startup } from './startup.js';
import { throttle } from './throttle.js';
import { IMPORT_NODE_FLAGS } from '../app/import-cli.js';

const OUT = fileURLToPath(new URL('./out/', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const lines: string[] = [];
const say = (s = '') => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Runs a part against its own Xero emulator and a connector on it; both are closed however the part ends. */
async function withXero(opts: { xero: XeroEmulatorOptions; env?: Record<string, string> }, part: (xero: XeroEmulator, env: Environment) => Promise<void>): Promise<void> {
  const xero = await startXeroEmulator(opts.xero);
  const env = await startEnvironment({ xero, env: opts.env });
  try {
    await part(xero, env);
  } finally {
    await env.close();
    await xero.close();
  }
}

async function backlog(): Promise<void> {
  await documentBacklog('invoice', Number(process.env.BENCH_INVOICES ?? 2000), Number(process.env.BENCH_CUSTOMERS ?? 200), '1. Backlog');
}

async function quoteBacklog(): Promise<void> {
  await documentBacklog('quote', Number(process.env.BENCH_QUOTES ?? 500), Number(process.env.BENCH_QUOTE_CUSTOMERS ?? 50), '1b. Quote backlog');
}

/** A backlog of documents of one kind waiting in Bitrix24, found by the reconciliation sweep and pushed. */
async function documentBacklog(kind: 'invoice' | 'quote', count: number, customers: number, title: string): Promise<void> {
  const noun = `${kind}s`;
  await withXero({ xero: { specCheck: false } }, async (xero, env) => {
  env.b24.setEventDelivery(false);
  const user = env.b24.actAs(2);
  const companies = Array.from({ length: customers }, (_, i) => Number(user.createCompany({ title: `Bench ${kind} customer ${i + 1} Ltd` }).id));
  const prefix = kind === 'quote' ? 'BEQ' : 'BEN';
  for (let i = 0; i < count; i++) {
    const number = `${prefix}-${String(i + 1).padStart(5, '0')}`;
    const fields = { title: number, companyId: companies[i % customers], currencyId: 'NZD' };
    const doc = kind === 'quote' ? user.createQuote({ ...fields, quoteNumber: number }) : user.createSmartInvoice({ ...fields, accountNumber: number });
    user.setProductRows(kind === 'quote' ? QUOTE : SMART_INVOICE, Number(doc.id), [
      { productName: 'Consulting hour', price: 115, quantity: 1 + (i % 7), taxRate: 15, taxIncluded: 'Y' },
      { productName: 'Travel', price: 23 + (i % 5), quantity: 1, taxRate: 15, taxIncluded: 'Y' },
    ]);
  }
  env.b24.portal.offlineQueue = [];
  xero.resetCounters();
  const started = Date.now();
  await env.c.services.intakeSchedule.queue('reconcile');
  await env.settle();
  const wall = (Date.now() - started) / 1000;
  const inXero = kind === 'quote' ? xero.quotes(env.tenantId) : xero.invoices(env.tenantId);
  const pushed = inXero.filter((d) => String(d.Reference).startsWith(`${prefix}-`)).length;
  const calls = xero.counters.total;
  const bound = Math.ceil(count / 50) + Math.ceil(customers / 50);
  const gateway = env.c.services.gateways.for(env.connectionId).stats;
  say(`## ${title}: ${count} ${noun}, ${customers} customers (Xero limits: 5 concurrent, 60/min)`);
  say();
  say(`| measure | value |`);
  say(`|---|---|`);
  say(`| ${noun} in Xero | ${pushed} of ${count} |`);
  say(`| Xero API calls | ${calls} (${Object.entries(xero.counters.calls).map(([k, v]) => `${k}: ${v}`).join(', ')}) |`);
  say(`| lower bound (1 per 50 ${noun} + 1 per 50 new contacts) | ${bound} |`);
  say(`| ratio (target ≤ 1.1) | ${(calls / bound).toFixed(3)} |`);
  say(`| wall time | ${wall.toFixed(1)} s |`);
  say(`| 429s served / received | ${xero.counters.served429} / ${gateway.received429} |`);
  say(`| max in flight at Xero | ${xero.counters.maxInFlight} |`);
  say();
  const name = kind === 'quote' ? 'quote backlog' : 'backlog';
  row({ benchmark: name, measure: `Xero calls for ${count} ${noun} / ${customers} new customers`, value: `${calls} (${(calls / bound).toFixed(3)}×)`, target: '≤ 1.1× the lower bound', lowerBound: String(bound), met: calls / bound <= 1.1 && pushed === count });
  row({ benchmark: name, measure: `wall time of the ${noun} backlog`, value: `${wall.toFixed(1)} s` });
  row({ benchmark: name, measure: '429s received', value: String(gateway.received429), target: '0', met: gateway.received429 === 0 });
  });
}

/**
 * The connector runs as its own process (as in production), with its outbox working; this process only sends the
 * events, so the load generator does not share the connector's event loop.
 */
async function intake(): Promise<void> {
  const RATE = Number(process.env.BENCH_RATE ?? 200);
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
  // The portal runs in its own process too (npm run emulate:bitrix24), with the app installed.
  const emulator = spawn(process.execPath, ['--import', 'tsx', 'test/emulators/bitrix24/main.ts', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const b24 = await new Promise<{ baseUrl: string; clientEndpoint: string; memberId: string; clientId: string; clientSecret: string; accessToken: string; refreshToken: string; applicationToken: string }>((resolve, reject) => {
    emulator.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString('utf8').split('\n')[0]!)));
    emulator.once('exit', () => reject(new Error('the Bitrix24 emulator did not start')));
  });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-intake-'));
  const secret = 'bench-intake-secret-0123456789-abcdefghij';
  const applicationToken = b24.applicationToken;
  const seed = await openStore(dataDir, secret);
  await seed.portals.upsert({
    memberId: b24.memberId, domain: new URL(b24.baseUrl).host, clientEndpoint: b24.clientEndpoint, serverEndpoint: `${b24.baseUrl}/rest/`,
    accessToken: b24.accessToken, refreshToken: b24.refreshToken, expiresAt: Math.floor(Date.now() / 1000) + 3600, applicationToken,
    scope: 'crm', installedBy: 1, state: 'installed',
  });
  await seed.close();
  const connector = await spawnConnector({
    DATA_DIR: dataDir, APP_SECRET: secret, LOG_LEVEL: 'info', B24_OAUTH_URL: b24.baseUrl, B24_CLIENT_ID: b24.clientId, B24_CLIENT_SECRET: b24.clientSecret,
  });
  try {
    // Warm up (JIT, connections) with one unmeasured second of the same traffic, as a running service would be.
    await Promise.all(Array.from({ length: RATE }, (_, i) => fetch(`${connector.url}/events`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ event: 'ONCRMDYNAMICITEMUPDATE', 'data[FIELDS][ID]': String(90_000 + i), 'data[FIELDS][ENTITY_TYPE_ID]': '31', ts: String(Math.floor(Date.now() / 1000)), 'auth[member_id]': b24.memberId, 'auth[application_token]': applicationToken }),
    }).then((r) => r.arrayBuffer())));
    await new Promise((r) => setTimeout(r, 1000));
    const total = RATE * SECONDS;
    const latencies: number[] = [];
    const bySecond: number[][] = Array.from({ length: SECONDS + 1 }, () => []);
    let failed = 0;
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const body = new URLSearchParams({
        event: 'ONCRMDYNAMICITEMUPDATE', event_handler_id: '1', 'data[FIELDS][ID]': String(100_000 + (i % 5000)),
        'data[FIELDS][ENTITY_TYPE_ID]': '31', ts: String(Math.floor(Date.now() / 1000)),
        'auth[member_id]': b24.memberId, 'auth[application_token]': applicationToken, 'auth[domain]': new URL(b24.baseUrl).host,
      });
      const t0 = performance.now();
      const n = i;
      inFlight.push(
        fetch(`${connector.url}/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
          .then(async (res) => {
            await res.arrayBuffer();
            if (!res.ok) failed++;
            latencies.push(performance.now() - t0);
            bySecond[Math.floor(n / RATE)]!.push(performance.now() - t0);
          })
          .catch(() => void failed++),
      );
    }
    await Promise.all(inFlight);
    const elapsed = (performance.now() - started) / 1000;
    const health = (await (await fetch(`${connector.url}/health`)).json()) as { queue: Record<string, number> };
    say(`## 2. Event intake: ${total} signed events at ${RATE}/s to the connector process (verified, stored, answered)`);
    say();
    say(`| measure | value |`);
    say(`|---|---|`);
    say(`| p50 latency | ${ms(pct(latencies, 50))} |`);
    say(`| p99 latency (target < 50 ms) | ${ms(pct(latencies, 99))} |`);
    say(`| max latency | ${ms(Math.max(...latencies))} |`);
    say(`| p99 per second of the run | ${bySecond.filter((xs) => xs.length).map((xs) => pct(xs, 99).toFixed(0)).join(', ')} ms |`);
    say(`| throughput | ${(latencies.length / elapsed).toFixed(0)} events/s |`);
    say(`| failed answers | ${failed} |`);
    say(`| jobs in the outbox afterwards | ${JSON.stringify(health.queue)} |`);
    say();
    row({ benchmark: 'intake', measure: `event intake p99 at ${RATE}/s`, value: ms(pct(latencies, 99)), target: '< 50 ms', met: pct(latencies, 99) < 50 && failed === 0 });
    row({ benchmark: 'intake', measure: 'event intake throughput', value: `${(latencies.length / elapsed).toFixed(0)} events/s`, target: `≥ ${RATE}/s`, met: latencies.length / elapsed >= RATE * 0.95 });
  } finally {
    connector.child.kill('SIGTERM');
    await connector.exited;
    emulator.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function pollCost(): Promise<void> {
  const LINKED = 10_000;
  const env = await startEnvironment();
  try {
    const contact = env.xero.seedContact(env.tenantId, { Name: 'Poll Bench Ltd' });
    const hourAgo = Date.now() - 60 * 60_000;
    const realNow = Date.now;
    Date.now = () => hourAgo; // invoices last modified an hour ago (the emulator stamps UpdatedDateUTC with Date.now)
    const seeded = Array.from({ length: LINKED }, () =>
      env.xero.seedInvoice(env.tenantId, {
        Contact: { ContactID: contact.ContactID }, Date: '2026-01-10', DueDate: '2026-02-10', Status: 'AUTHORISED', LineAmountTypes: 'Exclusive',
        LineItems: [{ Description: 'Consulting', Quantity: 1, UnitAmount: 1000, AccountCode: '200', TaxType: 'OUTPUT2' }],
      }),
    );
    Date.now = realNow;
    await env.c.store.transaction(async () => {
      for (const [n, x] of seeded.entries()) {
        await env.c.store.links.save({
          memberId: env.memberId, connectionId: env.connectionId, b24Type: 'smart_invoice', b24Id: String(200_000 + n), xeroType: 'invoice',
          xeroId: String(x.InvoiceID), xeroNumber: String(x.InvoiceNumber), contentHash: null, xeroStatus: 'AUTHORISED', xeroUpdatedAt: null,
        });
      }
    });
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    say(`## 3. Status poll: Xero calls per poll with ${LINKED.toLocaleString('en')} linked invoices`);
    say();
    say(`| changed in Xero | Xero calls | invoices read |`);
    say(`|---|---|---|`);
    let next = 0;
    for (const changed of [0, 20, 200, 1500]) {
      for (const x of seeded.slice(next, next + changed)) env.xero.addPayment(env.tenantId, String(x.InvoiceID), 100);
      next += changed;
      env.xero.resetCounters();
      const r = await env.c.services.pullStatuses.pollConnection(env.connectionId);
      say(`| ${changed} | ${env.xero.counters.total} | ${r.read} |`);
      // The fewest calls: one If-Modified-Since page per 1,000 changed invoices (Xero's page size), at least one.
      const least = Math.max(1, Math.ceil(changed / 1000));
      row({ benchmark: 'poll', measure: `Xero calls per poll, ${changed} of ${LINKED} changed`, value: String(env.xero.counters.total), lowerBound: String(least), target: `≤ ${least + 1}`, met: env.xero.counters.total <= least + 1 });
    }
    say();
  } finally {
    await env.close();
  }
}

const WEBHOOK_KEY = 'bench-webhook-key-0123456789-abcdef';

async function paymentLatency(): Promise<void> {
  const RUNS = 10;
  await withXero({ xero: { webhookKey: WEBHOOK_KEY }, env: { XERO_WEBHOOK_KEY: WEBHOOK_KEY } }, async (xero, env) => {
  xero.configureWebhook({ url: `${env.c.url}/xero/webhooks` });
  const user = env.b24.actAs(2);
  const companyId = Number(user.createCompany({ title: 'Latency Ltd' }).id);
  const ids: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const inv = user.createSmartInvoice({ title: `LAT-${i}`, accountNumber: `LAT-${i}`, companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' });
    user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Work', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    ids.push(Number(inv.id));
  }
  await env.settle();
  env.c.services.outbox.start();
  const samples: number[] = [];
  for (const id of ids) {
    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!;
    xero.approveInvoice(env.tenantId, link.xeroId);
    await xero.flushWebhooks();
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    xero.addPayment(env.tenantId, link.xeroId, 115);
    await xero.flushWebhooks(); // Xero posts the INVOICE UPDATE event
    for (;;) {
      const item = env.b24.items(SMART_INVOICE).find((x) => Number(x.id) === id)!;
      if (item.stageId === 'DT31_2:P') break;
      if (performance.now() - t0 > 30_000) throw new Error('the payment never reached Bitrix24');
      await new Promise((r) => setTimeout(r, 10));
    }
    samples.push(performance.now() - t0);
  }
  say(`## 4. Payment in Xero → Bitrix24 stage "Paid", with webhooks (${RUNS} payments)`);
  say();
  say(`| measure | value |`);
  say(`|---|---|`);
  say(`| p50 | ${ms(pct(samples, 50))} |`);
  say(`| max (target < 5 s) | ${ms(Math.max(...samples))} |`);
  say();
  row({ benchmark: 'payment', measure: 'Xero payment → Bitrix24 stage, max', value: ms(Math.max(...samples)), target: '< 5 s', met: Math.max(...samples) < 5000 });
  });
}

/**
 * 5. Import from Xero: BENCH_IMPORT_CONTACTS Xero contacts (half organisations with a person, half people) and
 * BENCH_IMPORT_ITEMS items, imported by `npm run import` in its own process on the connector's store → Xero calls
 * (target: the pages needed), Bitrix24 calls (target ≤ written records / 50 + pages read), wall time, the import
 * process's peak RSS (target < 200 MB).
 */
async function importBench(): Promise<void> {
  const contacts = Number(process.env.BENCH_IMPORT_CONTACTS ?? 20_000);
  const items = Number(process.env.BENCH_IMPORT_ITEMS ?? 5_000);
  const name = '5. Import from Xero';
  await withXero({ xero: { specCheck: false } }, async (xero, env) => {
  const orgs = Math.floor(contacts / 2);
  for (let i = 0; i < contacts; i++) {
    const n = String(i).padStart(6, '0');
    xero.seedContact(env.tenantId, i < orgs
      ? { Name: `Bench Org ${n} Ltd`, FirstName: 'Pat', LastName: `Owner${n}`, EmailAddress: `owner${n}@bench.example`, Phones: [{ PhoneType: 'DEFAULT', PhoneNumber: `555 ${n}` }] }
      : { Name: `Bench Person${n}`, FirstName: 'Bench', LastName: `Person${n}`, EmailAddress: `p${n}@bench.example` });
  }
  for (let i = 0; i < items; i++) {
    const n = String(i).padStart(6, '0');
    xero.seedItem(env.tenantId, { Code: `B-${n}`, Name: `Bench item ${n}`, SalesDetails: { UnitPrice: 10, AccountCode: '200', TaxType: 'OUTPUT2' } });
  }
  const c = env.c.config;
  /** One `npm run import` in its own process on the connector's store, as an operator runs it. */
  const runCli = async () => {
    xero.resetCounters();
    env.b24.resetCounters();
    const started = Date.now();
    const child = spawn(process.execPath, [...IMPORT_NODE_FLAGS, 'scripts/start.mjs', 'import-cli', '--what', 'companies,contacts,products'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: c.dataDir, APP_SECRET: TEST_SECRET, LOG_LEVEL: 'warn', IMPORT_REPORT_RSS: '1',
        B24_CLIENT_ID: c.bitrix.clientId ?? '', B24_CLIENT_SECRET: c.bitrix.clientSecret ?? '', B24_OAUTH_URL: c.bitrix.oauthUrl,
        XERO_CLIENT_ID: c.xero.clientId ?? '', XERO_CLIENT_SECRET: c.xero.clientSecret ?? '', XERO_API_URL: c.xero.apiUrl, XERO_IDENTITY_URL: c.xero.identityUrl, XERO_LOGIN_URL: c.xero.loginUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    const log = env.b24.callLog;
    return {
      code, output, wall: (Date.now() - started) / 1000,
      rssMb: Number(/peak RSS: (\d+) MB/.exec(output)?.[1] ?? NaN),
      xeroCalls: xero.counters.total,
      b24Calls: log.filter((x) => !x.viaBatch && x.method !== 'oauth/token').length,
      writes: log.filter((x) => x.viaBatch && /\.(add|update)$/.test(x.method)).length,
      listPages: log.filter((x) => x.viaBatch && /\.list$/.test(x.method)).length,
    };
  };
  const xeroPages = Math.floor(contacts / 1000) + 1;
  const listPages = (n: number) => Math.floor(n / 50) + 1; // keyset pages: the last one is short (or empty)

  // a) into an empty portal: everything is created.
  const first = await runCli();
  // + the directory reads of an empty portal (companies, contacts, products) and the catalog batch
  const firstBound = Math.ceil(first.writes / 50) + 3 + 1;
  say(`## ${name}`);
  say();
  say(`${contacts} Xero contacts (${orgs} organisations with a person) and ${items} items, imported by \`npm run import\` in its own process (node ${IMPORT_NODE_FLAGS.join(' ')}).`);
  say();
  say(`a) Into an empty portal; exit code ${first.code}, ${first.wall.toFixed(1)} s, ${first.b24Calls} Bitrix24 calls (${first.listPages} list commands inside them) for ${first.writes} written records:`);
  say(first.output.trim().split('\n').slice(-3).map((l) => `    ${l}`).join('\n'));
  say();
  // The connector paces its Bitrix24 calls as the Enterprise cloud's leaky bucket allows (portal-client.ts: 250, then 5/s).
  say(`Its wall time is bounded by the Bitrix24 pace the connector keeps (Enterprise cloud: a burst of 250 calls, then 5 per second): ${first.b24Calls} calls take at least ${(Math.max(0, first.b24Calls - 250) / 5).toFixed(0)} s.`);
  say();
  row({ benchmark: name, measure: `a) Xero calls for ${contacts} contacts / ${items} items`, value: String(first.xeroCalls), target: 'the pages needed (+ items, tax rates, organisation)', lowerBound: String(xeroPages + 3), met: first.xeroCalls <= xeroPages + 3 && first.code === 0 });
  row({ benchmark: name, measure: `a) Bitrix24 calls for ${first.writes} records written (companies, contacts, products, prices)`, value: String(first.b24Calls), target: '≤ records/50 + pages', lowerBound: String(firstBound), met: first.b24Calls <= firstBound });
  row({ benchmark: name, measure: 'a) wall time of the import', value: `${first.wall.toFixed(1)} s` });
  row({ benchmark: name, measure: 'a) peak RSS of the import process', value: `${first.rssMb} MB`, target: '< 200 MB', met: first.rssMb < 200 });

  // b) the same import again, into the portal it filled: every record is matched in the directory (read page by
  // page into the store), nothing is created.
  const companies = env.b24.items(4).length;
  const people = env.b24.items(3).length;
  const products = env.b24.products().length;
  const second = await runCli();
  const directoryPages = listPages(companies) + listPages(people) + listPages(products) + 1;
  const secondBound = Math.ceil(second.writes / 50) + directoryPages;
  say(`b) Again, into the filled portal (${companies} companies, ${people} contacts, ${products} products in the matching directory); exit code ${second.code}, ${second.wall.toFixed(1)} s, ${second.b24Calls} Bitrix24 calls (${second.listPages} list commands inside them) for ${second.writes} written records:`);
  say(second.output.trim().split('\n').slice(-3).map((l) => `    ${l}`).join('\n'));
  say();
  const createdAgain = env.b24.items(4).length - companies + env.b24.items(3).length - people + env.b24.products().length - products;
  row({ benchmark: name, measure: 'b) again: records created', value: String(createdAgain), target: '0', met: createdAgain === 0 && second.code === 0 });
  row({ benchmark: name, measure: 'b) again: Xero calls', value: String(second.xeroCalls), target: 'the pages needed', lowerBound: String(xeroPages + 3), met: second.xeroCalls <= xeroPages + 3 });
  row({ benchmark: name, measure: `b) again: Bitrix24 calls (directory of ${companies + people + products} records read)`, value: String(second.b24Calls), target: '≤ records/50 + pages', lowerBound: String(secondBound), met: second.b24Calls <= secondBound });
  row({ benchmark: name, measure: 'b) again: wall time', value: `${second.wall.toFixed(1)} s` });
  row({ benchmark: name, measure: 'b) again: peak RSS of the import process', value: `${second.rssMb} MB`, target: '< 200 MB', met: second.rssMb < 200 });
  });
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  say(`# Connector benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  say();
  say(`Node ${process.version}; emulated Bitrix24 and Xero on this machine.`);
  say();
  const parts: [string, () => Promise<void>][] = [['backlog', backlog], ['quotes', quoteBacklog], ['intake', intake], ['poll', pollCost], ['payment', paymentLatency], ['burst', () => burst(say)], ['day', () => day(say)], ['restart', () => restart(say)], ['pages', () => pagesBench(say)], ['import', importBench], ['startup', () => startup(say)], ['throttle', () => throttle(say)]];
  const header = lines.splice(0);
  for (const [name, run] of parts) if (only.length === 0 || only.includes(name)) await run();
  mkdirSync(OUT, { recursive: true });
  // One report: the summary of every benchmark beside its target and lower bound, then each one's section.
  writeFileSync(path.join(OUT, 'report.md'), `${[...header, '## Summary', '', ...summaryTable(), '', ...lines].join('\n')}\n`);
  process.stdout.write(`\nReport written to bench/out/report.md\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`The benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
