/**
 * The dashboard and the card tab as people use them, in headless Chromium inside the emulated portal shell (which
 * answers the real b24jssdk's frame messages), against the demo's company after its month (scripts/demo.ts: both
 * emulators and the connector in-process, the month synced for real). The screenshots under docs/screenshots/ (shown
 * in the README) are taken first, of the product in that state; the later tests add documents of their own.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Browser, BrowserContext, FrameLocator, Page } from 'playwright-core';
import { QUOTE, SMART_INVOICE, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import type { XeroEmulator } from '../emulators/xero/index.js';
import { browserSkip, launchBrowser, SHOTS } from '../helpers/browser.js';
import { tempDir } from '../helpers/tmp.js';
import { updatePortalSettings } from '../../app/sync/settings.js';
import type { Services } from '../../app/services.js';
import type { Store } from '../../app/store/index.js';
import { startDemoWorld, stopAll, type DemoWorld, type Running } from '../../scripts/demo.js';
import { settle } from '../../scripts/demo-month.js';
import { filterEach, mapEach } from '../../app/async-lists.js';
import { findEach } from '../../app/async-lists.js';

/** Generous upper bound for a page to reach a state; a wait, not an assertion about speed. */
const WAIT = { timeout: 20_000 };
const XSS = '<img src=x onerror=alert(1)>';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The parts of the demo's world the tests drive. */
interface Environment {
  b24: Bitrix24Emulator;
  xero: XeroEmulator;
  c: { store: Store; services: Services; url: string };
  tenantId: string;
  memberId: string;
  connectionId: number;
  /** Delivers pending Bitrix24 events and Xero webhooks and works the outbox until nothing is due. */
  settle(): Promise<void>;
}

describe('the dashboard and the card tab, live inside the portal', { skip: browserSkip }, () => {
  const running: Running = {};
  let w: DemoWorld;
  let env: Environment;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  before(async () => {
    browser = await launchBrowser();
    // The demo after its month (its portal's own invoices exist from before the install). Its schedules stop here:
    // each test works the connector itself, so a page shows "Waiting to sync" until the test lets it sync.
    w = await startDemoWorld(running, { PORT: '0', DATA_DIR: tempDir('dashboard-demo-'), LOG_LEVEL: 'silent' });
    const { services, store } = w.runtime;
    await services.outbox.stop();
    await services.statusPoll.stop();
    services.intakeSchedule.stop();
    const business = { b24: w.b24, xero: w.xero, tenantId: w.tenantId, memberId: w.memberId, services, clock: w.clock };
    const connectionId = (await store.connections.listForPortal(w.memberId))[0]!.id;
    env = { b24: w.b24, xero: w.xero, c: { store, services, url: w.runtime.url }, tenantId: w.tenantId, memberId: w.memberId, connectionId, settle: () => settle(business) };
    mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await stopAll(running);
  });
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
  });
  afterEach(async () => context.close());

  /** A screenshot of the whole page; the viewport grows to the page first, so framed content is painted in full. */
  const shot = async (name: string) => {
    const size = page.viewportSize()!;
    const height = Number(await page.evaluate('document.documentElement.scrollHeight'));
    await page.setViewportSize({ width: size.width, height: Math.max(size.height, height) });
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    await page.setViewportSize(size);
  };
  const createInvoice = (number: string, company = `Customer of ${number}`, rows?: Record<string, unknown>[]) => {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: company }).id);
    const id = Number(user.createSmartInvoice({ title: `Invoice ${number}`, accountNumber: number, companyId, currencyId: 'NZD', begindate: '2026-11-20T00:00:00+00:00', closedate: '2026-12-20T00:00:00+00:00' }).id);
    user.setProductRows(SMART_INVOICE, id, rows ?? [{ productName: 'Consulting hour', price: 115, quantity: 2, taxRate: 15, taxIncluded: 'Y' }]);
    return id;
  };
  const cardTab = async (id: number, user = 1): Promise<FrameLocator> => {
    await page.goto(`${env.b24.baseUrl}/portal/placement/CRM_SMART_INVOICE_DETAIL_TAB?id=${id}&user=${user}`);
    const tab = page.frameLocator('#placement-frame-0');
    await tab.locator('#xero-card').waitFor(WAIT);
    return tab;
  };
  const dashboard = async (user = 1, lang = 'en'): Promise<FrameLocator> => {
    await page.goto(`${env.b24.baseUrl}/portal?user=${user}&lang=${lang}`);
    const frame = page.frameLocator('#app-frame');
    await frame.locator('#xero-panel').waitFor(WAIT);
    await page.locator('#app-frame[data-resized]').waitFor(WAIT);
    return frame;
  };
  /** The document inside an app frame (the connector's origin, not the portal's). */
  const inner = async (selector: string) => (await page.locator(selector).elementHandle())!.contentFrame().then((f) => f!);
  /** The frame is as tall as its content: nothing cut off, no scroll box inside it. */
  const assertFitted = async (selector: string) => {
    let last = '';
    for (let i = 0; i < 100; i++) {
      const outer = await page.locator(selector).evaluate((f) => f.getBoundingClientRect().height);
      const doc = await (await inner(selector)).evaluate(() => ({ body: Math.ceil(document.body.getBoundingClientRect().height), scroll: document.documentElement.scrollHeight, client: document.documentElement.clientHeight }));
      last = JSON.stringify({ outer, ...doc });
      if (Math.abs(outer - doc.body) <= 1 && doc.scroll <= doc.client + 1) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`the frame ${selector} does not fit its content: ${last}`);
  };
  it('when the admin opens the dashboard after the month, then the charts count what the log holds, per hour and per day of the month, and the log filtered by document and level and paged shows only matching rows', async () => {
    const frame = await dashboard();
    const { store } = env.c;
    const total = async (from: number, bucket: number) => (await store.activity.histogram(env.memberId, from, bucket)).reduce((n, b) => n + b.synced + b.errors, 0);
    const now = Date.now();
    assert.equal(Number(await frame.locator('#charts').getAttribute('data-drawn')), (await total(Math.floor(now / HOUR) * HOUR - 23 * HOUR, HOUR)), 'the 24-hour chart counts what the log holds');
    assert.equal(await (await inner('#app-frame')).evaluate('import("/static/charts.js").then((m) => m.charts.docs.data.datasets[0].data.length)'), 24);
    await frame.locator('button.range[data-range="30d"]').click();
    await frame.locator('#charts[data-range="30d"]').waitFor(WAIT);
    const month = await total(Math.floor(now / DAY) * DAY - 29 * DAY, DAY);
    assert.equal(Number(await frame.locator('#charts').getAttribute('data-drawn')), month, 'the 30-day chart counts what the log holds');
    assert.ok(month >= w.month.documents.length, `the month's documents are in the chart (${month})`);
    const days = (await (await inner('#app-frame')).evaluate('import("/static/charts.js").then((m) => m.charts.docs.data.datasets[0].data)')) as number[];
    assert.ok(days.filter((n) => n > 0).length >= 18, `syncs on most days of the month (${days.join(' ')})`);
    await assertFitted('#app-frame');
    await shot('dashboard');

    // The invoice saved without a customer stopped once, then went to Xero when its company was added.
    const forgotten = w.month.documents.find((d) => d.title === 'Workshop facilitation')!;
    await frame.locator('#log-filters input[name=doc]').fill(forgotten.id);
    await frame.locator('#log-filters select[name=level]').selectOption('error');
    await frame.locator('#log-apply').click();
    const matching = (await store.activity.page({ memberId: env.memberId, subjects: [`smart_invoice:${forgotten.id}`, `invoice:${forgotten.id}`, `quote:${forgotten.id}`], levels: ['error'], offset: 0, limit: 100 })).total;
    assert.equal(matching, 1, 'it stopped once');
    await frame.locator('#log-count', { hasText: new RegExp(`^${matching} entr`) }).waitFor(WAIT);
    const rows = await frame.locator('#activity tbody tr').allInnerTexts();
    assert.equal(rows.length, matching);
    assert.ok(rows.every((r) => r.includes(`Invoice #${forgotten.id}`) && r.includes('Error') && /customer/i.test(r)), rows.join('\n'));

    await frame.locator('#log-reset').click();
    await frame.locator('#log-count', { hasText: 'page 1 of' }).waitFor(WAIT);
    await frame.locator('button.page', { hasText: 'Older' }).click();
    await frame.locator('#log-count', { hasText: 'page 2 of' }).waitFor(WAIT);
    assert.equal(await frame.locator('#activity tbody tr').count(), 20);
    assert.deepEqual(problems, []);
  });

  it('when Mary User, who is no administrator, opens the dashboard after the month, then she sees it read-only, with the invoice that waits for a cause', async () => {
    const frame = await dashboard(2);
    const pounds = w.month.documents.find((d) => d.title === 'Remote workshop (UK)')!;
    const row = frame.locator(`#attention-table tr:has-text("Invoice #${pounds.id}")`);
    await row.waitFor(WAIT);
    assert.match(await row.innerText(), /GBP/);
    assert.equal(await frame.locator('button.retry, button.dismiss, #connect, #disconnect, #save-settings').count(), 0);
    await assertFitted('#app-frame');
    await shot('dashboard-non-admin');
    assert.deepEqual(problems, []);
  });

  it('when the portal user reads German and uses a dark theme or a phone, then the dashboard speaks German and stays readable at 360 px', async () => {
    await context.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
    page = await context.newPage();
    const frame = await dashboard(1, 'de');
    assert.equal(await frame.locator('#log-panel-h').innerText(), 'Aktivitätsprotokoll');
    await frame.locator('html[data-live="open"]').waitFor({ state: 'attached', ...WAIT });
    // The live regions keep the page's language.
    await frame.locator('#sync-panel-h', { hasText: 'Synchronisierung' }).waitFor(WAIT);
    await new Promise((r) => setTimeout(r, 1500)); // a live tick or more: the regions were sent again by now
    assert.equal(await frame.locator('#connection-h, #xero-panel-h').first().innerText(), 'Verbindung');
    assert.equal(await frame.locator('html').getAttribute('lang'), 'de');
    assert.equal(await (await inner('#app-frame')).evaluate('import("/static/frame.js").then((m) => m.lang())'), 'de', 'the SDK reads the portal language');
    await assertFitted('#app-frame');
    await shot('dashboard-de-dark');

    await page.setViewportSize({ width: 360, height: 800 });
    await assertFitted('#app-frame');
    const overflow = Number(await (await inner('#app-frame')).evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
    assert.ok(overflow <= 1, `no sideways scrolling at 360 px (${overflow})`);
    await shot('dashboard-360');
  });

  it('when the admin opens an invoice of the month that was paid in Xero, then its tab shows Xero\'s figures and links and its story from draft to paid', async () => {
    const { store } = env.c;
    // The paid invoice of the month with the longest story.
    const candidates = await filterEach(w.month.documents, async (d) => d.type === 'smart_invoice' && (await store.links.find(env.memberId, d.type, d.id))?.xeroStatus === 'PAID');
    const story = async (id: string) => (await store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}`, limit: 100 })).length;
    const stories = new Map(await mapEach(candidates, async (d) => [d.id, await story(d.id)] as const));
    const doc = candidates.sort((a, b) => stories.get(b.id)! - stories.get(a.id)! || Number(a.id) - Number(b.id))[0]!;
    const link = (await store.links.find(env.memberId, 'smart_invoice', doc.id))!;
    const invoice = env.xero.invoices(env.tenantId).find((i) => i.InvoiceID === link.xeroId)!;
    const tab = await cardTab(Number(doc.id));
    await tab.locator('#xero-status', { hasText: 'Paid' }).waitFor(WAIT);
    assert.equal(await tab.locator('#xero-number').innerText(), invoice.InvoiceNumber);
    const figure = async (k: string) => (await tab.locator(`[data-k=${k}] .stat-value`).innerText()).replace(/[^\d.]/g, '');
    assert.equal(await figure('total'), Number(invoice.Total).toFixed(2));
    assert.equal(await figure('paid'), Number(invoice.Total).toFixed(2));
    assert.equal(await figure('due'), '0.00');
    await tab.locator('#online-link').waitFor(WAIT);
    const history = await tab.locator('#history').innerText();
    assert.match(history, new RegExp(`sent to Xero as draft ${invoice.InvoiceNumber}`));
    assert.match(history, new RegExp(`Invoice ${invoice.InvoiceNumber} was paid in Xero`));
    await assertFitted('#placement-frame-0');
    await shot('card-tab-paid');
    assert.deepEqual(problems, []);
  });

  it('when the admin clicks "Send to Xero" on an invoice created before the install, then it goes through the outbox and the tab shows its Xero draft', async () => {
    // The seeded USD invoice (a currency the demo organisation has), there before the app was installed.
    const before = await findEach(env.b24.items(SMART_INVOICE), async (i) => i.currencyId === 'USD' && !(await env.c.store.links.find(env.memberId, 'smart_invoice', String(i.id))))!;
    assert.ok(before, 'a seeded invoice from before the install');
    const tab = await cardTab(Number(before.id));
    assert.equal(await tab.locator('#not-linked').innerText(), 'This invoice is not in Xero yet.');
    await shot('card-tab-send');
    await tab.locator('#push', { hasText: 'Send to Xero' }).click();
    await tab.locator('#notice', { hasText: 'Queued' }).waitFor(WAIT);
    assert.equal((await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${before.id}`))?.state, 'pending');
    await env.settle();
    const job = (await env.c.store.jobs.list({ memberId: env.memberId, states: ['needs_attention'] })).find((j) => (j.payload as { id?: string }).id === String(before.id));
    assert.equal(job, undefined, `the invoice went out (${job?.lastError})`);
    await tab.locator('#xero-status', { hasText: 'Draft in Xero' }).waitFor(WAIT);
    assert.ok((await env.c.store.links.find(env.memberId, 'smart_invoice', String(before.id))));
    assert.deepEqual(problems, []);
  });

  it('when an invoice is created in the portal, then the open card tab turns to "Draft in Xero" with its number and then "Paid" without a reload, with its figures and links, and the dashboard shows it; both frames fit their content', async () => {
    const id = createInvoice('INV-7001');
    const tab = await cardTab(id);
    assert.equal(await tab.locator('#xero-status').innerText(), 'Waiting to sync', 'the event is in the outbox');
    await (await inner('#placement-frame-0')).evaluate('window.__same = 1');

    await env.settle();
    await tab.locator('#xero-status', { hasText: 'Draft in Xero' }).waitFor(WAIT);
    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!;
    assert.equal(await tab.locator('#xero-number').innerText(), link.xeroNumber);
    await tab.locator('[data-k=total]', { hasText: '230.00' }).waitFor(WAIT);
    assert.match(await tab.locator('[data-k=due]').innerText(), /230\.00/);
    assert.match(await tab.locator('[data-k=dueDate]').innerText(), /2026/);
    assert.match(await tab.locator('#totals-check').innerText(), /Bitrix24 and Xero agree/);
    const shortCode = String(env.xero.organisation(env.tenantId).ShortCode);
    assert.equal(await tab.locator('#xero-link').getAttribute('href'), `https://go.xero.com/organisationlogin/default.aspx?shortcode=${shortCode}&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=${link.xeroId}`);
    assert.equal(await tab.locator('#online-link').count(), 0, 'no online invoice for a draft');
    await assertFitted('#placement-frame-0');

    env.xero.approveInvoice(env.tenantId, link.xeroId);
    env.xero.addPayment(env.tenantId, link.xeroId, 230);
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    await tab.locator('#xero-status', { hasText: 'Paid' }).waitFor(WAIT);
    await tab.locator('[data-k=paid]', { hasText: '230.00' }).waitFor(WAIT);
    assert.match(await tab.locator('[data-k=due]').innerText(), /0\.00/);
    await tab.locator('#online-link').waitFor(WAIT);
    assert.match((await tab.locator('#online-link').getAttribute('href'))!, new RegExp(`/online/invoice/${link.xeroId}$`));
    assert.match(await tab.locator('#history').innerText(), /PAID|paid/i);
    const same = await (await inner('#placement-frame-0')).evaluate('window.__same');
    assert.equal(same, 1, 'the tab was never reloaded');
    // The PDF comes from Xero through the connector, on demand.
    const pdf = await (await inner('#placement-frame-0')).evaluate(`(async () => {
      const b = document.getElementById('pdf-link');
      const res = await fetch('/api/documents/' + b.dataset.type + '/' + b.dataset.id + '/pdf', { headers: { 'X-Connector-Session': document.getElementById('app').dataset.session } });
      return { status: res.status, type: res.headers.get('content-type'), head: new TextDecoder().decode((await res.arrayBuffer()).slice(0, 5)) };
    })()`);
    assert.deepEqual(pdf, { status: 200, type: 'application/pdf', head: '%PDF-' });
    await assertFitted('#placement-frame-0');
    // The stage the sync wrote comes back from Bitrix24 as an event still queued here: the line under the badge says
    // when the card last synced, from the first paint on, rather than a bare placeholder.
    const synced = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!.lastSyncedAt;
    const when = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(synced);
    await page.reload();
    const reloaded = page.frameLocator('#placement-frame-0');
    await reloaded.locator('#xero-status', { hasText: 'Paid' }).waitFor(WAIT);
    assert.equal(await reloaded.locator('#job-state').innerText(), `Last synced with Xero: ${when}. Checking Bitrix24 for newer changes…`);

    const frame = await dashboard();
    await frame.locator('#activity', { hasText: `Invoice INV-7001 sent to Xero as draft ${link.xeroNumber}` }).waitFor(WAIT);
    assert.equal(await frame.locator('[data-k=links] .stat-value').innerText(), String((await env.c.store.links.count(env.memberId))));
    await assertFitted('#app-frame');
    assert.deepEqual(problems, []);
  });

  it('when an estimate has gone to Xero, then its card tab links to the quote in Xero through the organisation\'s short code', async () => {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Customer of EST-7101' }).id);
    const id = Number(user.createQuote({ title: 'Fit-out EST-7101', quoteNumber: 'EST-7101', companyId, currencyId: 'NZD', begindate: '2026-11-20T00:00:00+00:00' }).id);
    user.setProductRows(QUOTE, id, [{ productName: 'Design hour', price: 115, quantity: 2, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const link = (await env.c.store.links.find(env.memberId, 'quote', String(id)))!;
    assert.ok(link, 'the quote is in Xero');
    await page.goto(`${env.b24.baseUrl}/portal/placement/CRM_QUOTE_DETAIL_TAB?id=${id}&user=1`);
    const tab = page.frameLocator('#placement-frame-0');
    await tab.locator('#xero-link').waitFor(WAIT);
    const shortCode = String(env.xero.organisation(env.tenantId).ShortCode);
    assert.equal(await tab.locator('#xero-link').getAttribute('href'), `https://go.xero.com/app/${shortCode}/quotes/view/${link.xeroId}`);
    assert.deepEqual(problems, []);
  });

  it('when a document waits for a missing account and the admin fixes the cause and clicks Retry, then it goes to Xero and leaves the attention list', async () => {
    await updatePortalSettings(env.c.store, env.memberId, { defaultSalesAccount: '999' }); // an account the organisation does not have
    const id = createInvoice('INV-7002');
    await env.settle();
    const frame = await dashboard();
    const row = frame.locator(`#attention-table tr:has-text("Invoice #${id}")`);
    await row.waitFor(WAIT);
    assert.match(await row.innerText(), /sales account/i);
    assert.match(await row.innerText(), /Set a default Xero sales account in the settings/);

    await updatePortalSettings(env.c.store, env.memberId, { defaultSalesAccount: '200' });
    await row.locator('button.retry').click();
    await row.locator('.reason', { hasText: 'Queued again' }).waitFor(WAIT);
    await env.settle();
    await frame.locator(`#attention-table tr:has-text("Invoice #${id}")`).waitFor({ state: 'detached', ...WAIT });
    assert.ok((await env.c.store.links.find(env.memberId, 'smart_invoice', String(id))));
    assert.deepEqual(problems, []);
  });

  it('when a non-admin opens the pages, then everything shows read-only, the server refuses their changes, and an organisation named like markup shows as text', async () => {
    const connection = (await env.c.store.connections.get(env.connectionId))!;
    await env.c.store.connections.upsert({ ...connection, tenantName: XSS });
    await updatePortalSettings(env.c.store, env.memberId, { defaultSalesAccount: '999' }); // an account the organisation does not have
    const id = createInvoice('INV-7003', XSS);
    await env.settle();

    const frame = await dashboard(2);
    assert.equal(await frame.locator('#tenant-name').innerText(), XSS);
    assert.equal(await frame.locator('#xero-panel img').count(), 0);
    await frame.locator(`#attention-table tr:has-text("Invoice #${id}")`).waitFor(WAIT);
    assert.equal(await frame.locator('button.retry, button.dismiss, #connect, #disconnect, #save-settings').count(), 0);
    // The settings live in their own slider now; its read-only view is tested in settings.test.ts.
    assert.equal(await frame.locator('#settings-form').count(), 0);
    const jobId = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!.id;
    const refused = await (await inner('#app-frame')).evaluate(`(async () => {
      const session = document.getElementById('app').dataset.session;
      const post = (p, body) => fetch(p, { method: 'POST', headers: { 'X-Connector-Session': session, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);
      return [await post('/api/jobs/retry', { ids: [${jobId}] }), await post('/api/jobs/dismiss', { ids: [${jobId}] }), await post('/api/documents/push', { type: 'smart_invoice', id: '1' })];
    })()`);
    assert.deepEqual(refused, [403, 403, 403]);

    const tab = await cardTab(id, 2);
    assert.equal(await tab.locator('#push').count(), 0);
    assert.match(await tab.locator('#read-only').innerText(), /Only a Bitrix24 administrator/);
    assert.deepEqual(problems, []);
    await env.c.store.connections.upsert({ ...connection });
    await updatePortalSettings(env.c.store, env.memberId, { defaultSalesAccount: '200' });
  });
});
