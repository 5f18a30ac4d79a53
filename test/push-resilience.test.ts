import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QUOTE, SMART_INVOICE, startBitrix24Emulator, type Bitrix24Emulator } from './emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from './emulators/xero/index.js';
import { startEnvironment, NZ_TAX_MAP, type Environment } from './helpers/env.js';
import { freePort, spawnConnector, type RunningConnector } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { consentAndConfirm } from './helpers/xero-consent.js';

type Row = Record<string, unknown>;

function createInvoices(b24: Bitrix24Emulator, prefix: string, count: number, customers = 10, kind: Kind = 'invoice'): string[] {
  const user = b24.actAs(2);
  const companies = Array.from({ length: customers }, (_, i) => Number(user.createCompany({ title: `${prefix} Customer ${i + 1} Ltd` }).id));
  const numbers: string[] = [];
  for (let i = 0; i < count; i++) {
    const number = `${prefix}-${String(i + 1).padStart(4, '0')}`;
    const fields = { title: number, companyId: companies[i % customers], currencyId: 'NZD' };
    const doc = kind === 'quote' ? user.createQuote({ ...fields, quoteNumber: number }) : user.createSmartInvoice({ ...fields, accountNumber: number });
    user.setProductRows(kind === 'quote' ? QUOTE : SMART_INVOICE, Number(doc.id), [{ productName: 'Service', price: 115 + i, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    numbers.push(number);
  }
  return numbers;
}

type Kind = 'invoice' | 'quote';

/** The tenant's live invoices, or quotes. */
function inXero(xero: XeroEmulator, tenantId: string, kind: Kind) {
  return (kind === 'quote' ? xero.quotes(tenantId) : xero.invoices(tenantId)).filter((d) => !['DELETED', 'VOIDED'].includes(String(d.Status)));
}

/** Each reference appears exactly once among the tenant's live invoices (or quotes). */
function assertExactlyOnce(xero: XeroEmulator, tenantId: string, numbers: string[], kind: Kind = 'invoice'): void {
  const counts = new Map<string, number>();
  for (const d of inXero(xero, tenantId, kind)) counts.set(String(d.Reference), (counts.get(String(d.Reference)) ?? 0) + 1);
  const missing = numbers.filter((n) => !counts.has(n));
  const duplicated = numbers.filter((n) => (counts.get(n) ?? 0) > 1);
  assert.deepEqual({ missing, duplicated }, { missing: [], duplicated: [] });
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('push survives failures', () => {
  it('when 20 % of Xero calls fail with 500 or 429, then every invoice is pushed and none twice', async () => {
    const env = await startEnvironment({ xeroLimits: { backoffMs: 5 } });
    try {
      env.xero.setFaults({ everyNth: 5, statuses: [500, 429, 503] }); // one call in five fails
      const numbers = createInvoices(env.b24, 'FLT', 120, 12);
      for (let i = 0; i < 40 && (await env.c.store.links.count(env.memberId)) < 120 + 12; i++) {
        await env.settle();
        // Jobs whose retry waits for back-off are made due again, as time would.
        await env.c.store.db.run(`UPDATE jobs SET run_at = 0 WHERE state = 'pending'`);
      }
      env.xero.setFaults({});
      assertExactlyOnce(env.xero, env.tenantId, numbers);
      assert.ok(env.xero.counters.faultsInjected > 0, 'faults were injected');
      const contacts = env.xero.contacts(env.tenantId).filter((c) => String(c.Name).startsWith('FLT Customer'));
      assert.equal(contacts.length, 12, 'no duplicate contacts');
      env.xero.assertNoSpecViolations();
    } finally {
      await env.close();
    }
  });

  it('when a burst needs more calls than Xero allows in a window, then the gateway stays under the limit and no 429 is served', async () => {
    const xero = await startXeroEmulator({ limits: { perMinute: 12, windowMs: 3000, concurrent: 5 } });
    const env = await startEnvironment({ xero, xeroLimits: { perMinute: 10, windowMs: 3000, xeroPerMinute: 12 } });
    try {
      xero.resetCounters();
      const gateway = env.c.services.gateways.for(env.connectionId);
      const results = await Promise.all(
        Array.from({ length: 30 }, () => gateway.call('read the organisation', (s) => s.xero.accountingApi.getOrganisations(s.tenantId))),
      );
      assert.equal(results.length, 30);
      assert.equal(xero.counters.served429, 0);
      assert.ok(xero.counters.maxInFlight <= 5, `in flight: ${xero.counters.maxInFlight}`);
      assert.equal(gateway.stats.received429, 0);
    } finally {
      await env.close();
      await xero.close();
    }
  });

  it('when Bitrix24 cannot reach the connector while invoices are created, then the offline queue brings every one to Xero', async () => {
    const env = await startEnvironment();
    try {
      env.b24.setEventDelivery(false);
      const numbers = createInvoices(env.b24, 'OFF', 50, 5);
      await env.b24.flushEvents();
      assert.equal((await env.c.store.jobs.list({ memberId: env.memberId, states: ['pending'] })).length, 0, 'nothing arrived online');
      await env.c.services.intakeSchedule.queue('drain-offline');
      await env.settle();
      assertExactlyOnce(env.xero, env.tenantId, numbers);
      assert.equal(env.b24.offlineQueue().filter((r) => r.EVENT_NAME.startsWith('ONCRMDYNAMICITEM')).length, 0, 'the queue was cleared after storing');
    } finally {
      await env.close();
    }
  });

  it('when events were lost entirely, then the reconciliation sweep finds the documents modified since its watermark', async () => {
    const env = await startEnvironment();
    try {
      env.b24.setEventDelivery(false);
      const numbers = createInvoices(env.b24, 'SWP', 20, 4);
      // Lose the offline records too (e.g. a queue cleared by another tool).
      env.b24.portal.offlineQueue = [];
      await env.c.services.intakeSchedule.queue('reconcile');
      await env.settle();
      assertExactlyOnce(env.xero, env.tenantId, numbers);
    } finally {
      await env.close();
    }
  });
});

/**
 * SIGKILL while a backlog is in flight (Xero slowed down so batches are between send and save), then a restart:
 * every document ends in Xero exactly once.
 */
async function crashDuringBacklog(kind: Kind, count: number, customers: number): Promise<void> {
  const b24 = await startBitrix24Emulator();
  const xero = await startXeroEmulator();
  const tenantId = xero.addOrganisation({ name: 'Crash Test Ltd' });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install` });
  const dataDir = tempDir();
  const env = {
    PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir, APP_SECRET: 'crash-test-secret-0123456789-abcdefghij',
    B24_CLIENT_ID: app.clientId, B24_CLIENT_SECRET: app.clientSecret, B24_OAUTH_URL: b24.baseUrl,
    XERO_CLIENT_ID: xero.clientId, XERO_CLIENT_SECRET: xero.clientSecret, XERO_API_URL: xero.baseUrl,
    XERO_IDENTITY_URL: xero.baseUrl, XERO_LOGIN_URL: xero.baseUrl, LOG_LEVEL: 'info',
  };
  let running: RunningConnector | undefined;
  try {
    running = await spawnConnector(env);
    assert.equal((await b24.install({ userId: 1 })).status, 200);
    b24.finishInstall();
    // The admin connects Xero and sets the accounts, through the app page as in the browser.
    const page = await fetch(`${url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(b24.frameAuth(1)) });
    const session = /data-session="([^"]+)"/.exec(await page.text())![1];
    const { startUrl } = (await (await fetch(`${url}/api/xero/connect`, { method: 'POST', headers: { 'X-Connector-Session': session } })).json()) as { startUrl: string };
    await consentAndConfirm(url, startUrl);
    const saved = await fetch(`${url}/api/settings`, { method: 'PUT', headers: { 'content-type': 'application/json', 'X-Connector-Session': session }, body: JSON.stringify({ defaultSalesAccount: '200', taxRateMap: NZ_TAX_MAP }) });
    assert.equal(saved.status, 200);

    // Slow Xero down so the kill lands while batches are in flight.
    xero.setFaults({ latencyMs: 150 });
    const prefix = kind === 'quote' ? 'CRQ' : 'CRS';
    const numbers = createInvoices(b24, prefix, count, customers, kind);
    await b24.flushEvents();
    await waitFor(`the first ${kind}s in Xero`, () => inXero(xero, tenantId, kind).length > 0);
    running.child.kill('SIGKILL');
    const killedAt = Date.now();
    await running.exited;
    const before = inXero(xero, tenantId, kind).length;
    assert.ok(before < count, `the kill came too late (${before} already in Xero)`);

    xero.setFaults({});
    running = await spawnConnector(env);
    await waitFor(`all ${kind}s in Xero`, () => inXero(xero, tenantId, kind).filter((i) => String(i.Reference).startsWith(`${prefix}-`)).length >= count, 90_000);
    await waitFor('an idle queue', async () => {
      const h = (await (await fetch(`${url}/health`)).json()) as { queue: { pending: number; running: number } };
      return h.queue.pending + h.queue.running === 0;
    }, 60_000);
    try {
      assertExactlyOnce(xero, tenantId, numbers, kind);
    } catch (err) {
      // What Xero saw around the kill, to tell a lost answer from a second send.
      const log = xero.requestLog.filter((r) => r.method !== 'GET' || r.endpoint === 'GET /Invoices' || r.endpoint === 'GET /Quotes');
      process.stderr.write(`Xero writes and invoice reads around the kill (ms after it): ${JSON.stringify(log.map((r) => [r.endpoint, Date.parse(r.time) - killedAt, r.status, r.idempotencyKey?.slice(0, 16)]))}\n`);
      throw err;
    }
    xero.assertNoSpecViolations();
  } finally {
    running?.child.kill('SIGTERM');
    await running?.exited;
    await b24.close();
    await xero.close();
  }
}

describe('push survives a crash', () => {
  it('when the connector is killed with SIGKILL during a 300-invoice backlog and restarted, then every invoice is in Xero exactly once', async () => {
    await crashDuringBacklog('invoice', 300, 30);
  });

  it('when the connector is killed with SIGKILL during a 300-quote backlog and restarted, then every quote is in Xero exactly once', async () => {
    await crashDuringBacklog('quote', 300, 30);
  });
});
