/**
 * The app's pages in a real headless browser, inside the emulated portal shell (which frames the app the way
 * Bitrix24 does and answers the b24jssdk frame messages), with the connector in-process and both emulators.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startBitrix24Emulator, SMART_INVOICE, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { browserSkip, launchBrowser } from '../helpers/browser.js';
import { startConnector, type TestConnector } from '../helpers/connector.js';

const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));
/** Generous upper bound for a page to reach a state; a wait, not an assertion about speed. */
const WAIT = { timeout: 20_000 };

async function connectorFor(b24: Bitrix24Emulator, xero: XeroEmulator): Promise<TestConnector> {
  return startConnector({
    xero,
    envFor: (url) => {
      const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install`, scopes: ['crm', 'catalog', 'placement', 'userfieldconfig', 'user_brief'] });
      return { B24_CLIENT_ID: app.clientId, B24_CLIENT_SECRET: app.clientSecret, B24_OAUTH_URL: b24.baseUrl };
    },
  });
}

describe('the app pages in a headless browser inside the portal', { skip: browserSkip }, () => {
  let b24: Bitrix24Emulator;
  let xero: XeroEmulator;
  let browser: Browser;
  let c: TestConnector;
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[];

  before(async () => {
    browser = await launchBrowser();
    b24 = await startBitrix24Emulator({ seedDemo: true });
    xero = await startXeroEmulator({ seedDemo: true, specCheck: false });
  });
  after(async () => {
    await browser?.close();
    await b24?.close();
    await xero?.close();
  });
  beforeEach(async () => {
    b24.reset();
    xero.reset();
    c = await connectorFor(b24, xero);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });
  afterEach(async () => {
    await context.close();
    await c.close();
  });

  const installed = async () => {
    const res = await b24.install({ userId: 1 });
    assert.equal(res.status, 200, res.body);
    b24.finishInstall();
  };
  const appFrame = () => page.frameLocator('#app-frame');

  it('when the admin opens the app before the installation is finished, then the installer finishes it through the frame SDK and the dashboard follows', async () => {
    await b24.install({ userId: 1 }); // the admin added the app; Bitrix24 shows the installer until installFinish
    assert.equal(b24.app()!.installed, false);
    // The shell reloads right after installFinish; record what the installer page showed before that.
    const finishStates: string[] = [];
    page.on('console', (m) => {
      if (m.text().startsWith('finish-state: ')) finishStates.push(m.text().slice('finish-state: '.length));
    });
    await context.addInitScript(() => {
      document.addEventListener('DOMContentLoaded', () => {
        const el = document.getElementById('finish-state');
        if (!el) return;
        console.log(`finish-state: ${el.textContent}`);
        new MutationObserver(() => console.log(`finish-state: ${el.textContent}`)).observe(el, { childList: true, characterData: true, subtree: true });
      });
    });

    await page.goto(`${b24.baseUrl}/portal?user=1`);
    await appFrame().locator('#xero-panel').waitFor(WAIT);

    assert.equal(b24.app()!.installed, true);
    assert.ok(b24.frameMessages.some((m) => m.command === 'setInstallFinish' && m.userId === 1), JSON.stringify(b24.frameMessages));
    assert.deepEqual(finishStates, ['Finishing the installation in Bitrix24…', 'Installation finished.']);
    assert.match(await appFrame().locator('#xero-panel').innerText(), /Not connected/);
    assert.deepEqual(pageErrors, []);
  });

  it('when the admin clicks "Connect Xero", then the Xero window asks to confirm the organisation for this portal, lands on "Connected to …" after the confirmation, and the dashboard shows the organisation as connected', async () => {
    await installed();
    await page.goto(`${b24.baseUrl}/portal?user=1`);
    const panel = appFrame().locator('#xero-panel');
    await panel.waitFor(WAIT);
    assert.match(await panel.innerText(), /Not connected/);
    assert.equal((await appFrame().locator('button#connect').textContent())?.trim(), 'Connect Xero');

    const callback = context.waitForEvent('response', { predicate: (r) => new URL(r.url()).pathname === '/xero/callback', ...WAIT });
    const popup = context.waitForEvent('page', WAIT);
    await appFrame().locator('button#connect').click();
    const consentWindow = await popup;
    const landed = await callback;
    assert.equal(landed.status(), 200);
    assert.equal(landed.frame().page(), consentWindow, 'the callback opened in the consent window');
    // Nothing is saved until the person in the Xero window confirms the organisation for this portal.
    assert.match(await landed.text(), /Connect the Xero organisation <strong id="tenant-name">Demo Company \(NZ\)<\/strong> to the Bitrix24 portal <strong id="portal-domain">127\.0\.0\.1:\d+<\/strong>/);
    assert.equal((await c.store.connections.listForPortal(b24.memberId)).length, 0);
    await consentWindow.locator('#confirm-connect').click();
    await consentWindow.locator('#result').waitFor(WAIT);
    assert.match(await consentWindow.locator('#result').innerText(), /Connected to Demo Company \(NZ\) for the Bitrix24 portal 127\.0\.0\.1:\d+/);

    // The dashboard polls /api/status and reloads once the connection is active.
    await appFrame().locator('#tenant-name').waitFor(WAIT);
    assert.equal(await appFrame().locator('#tenant-name').innerText(), 'Demo Company (NZ)');
    assert.equal(await appFrame().locator('#xero-panel .badge').innerText(), 'Connected');
    assert.equal(await appFrame().locator('button#connect').count(), 0);
    assert.equal(await appFrame().locator('button#disconnect').count(), 1);
    assert.equal((await c.store.connections.listForPortal(b24.memberId)).filter((x) => x.state === 'active').length, 1);
    assert.deepEqual(pageErrors, []);

    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: path.join(RESULTS, 'dashboard.png'), fullPage: true });
  });

  it('when a non-admin opens the app, then there is no connect button and the page says to ask an administrator', async () => {
    await installed();
    await page.goto(`${b24.baseUrl}/portal?user=2`);
    const panel = appFrame().locator('#xero-panel');
    await panel.waitFor(WAIT);
    const text = await panel.innerText();
    assert.match(text, /Not connected/);
    assert.match(text, /Ask a Bitrix24 administrator to connect Xero\./);
    assert.equal(await appFrame().locator('button#connect').count(), 0);
    assert.match(await appFrame().locator('#app').innerText(), /Signed in to Bitrix24 as Mary User\./);
    assert.deepEqual(pageErrors, []);
  });

  it('when a smart invoice card is opened, then the Xero tab renders inside it; a linked invoice shows its Xero number and status as text', async () => {
    await installed();
    const [first, second] = b24.items(SMART_INVOICE);
    await c.store.links.save({
      memberId: b24.memberId, connectionId: null, b24Type: 'smart_invoice', b24Id: String(second!.id), xeroType: 'invoice',
      xeroId: '00000000-0000-0000-0000-000000000001', xeroNumber: 'INV-<b>7</b>', contentHash: null, xeroStatus: 'AUTHORISED', xeroUpdatedAt: null,
    });

    await page.goto(`${b24.baseUrl}/portal/placement/CRM_SMART_INVOICE_DETAIL_TAB?id=${first!.id}&user=2`);
    const tab = page.frameLocator('#placement-frame-0');
    await tab.locator('#card').waitFor(WAIT);
    assert.equal(await page.locator('#card-title').innerText(), String(first!.title));
    assert.equal(await tab.locator('#not-linked').innerText(), 'This invoice is not in Xero yet.');
    assert.match(await tab.locator('#card').innerText(), /Xero is not connected yet/);

    await page.goto(`${b24.baseUrl}/portal/placement/CRM_SMART_INVOICE_DETAIL_TAB?id=${second!.id}&user=2`);
    await tab.locator('#xero-number').waitFor(WAIT);
    assert.equal(await tab.locator('#xero-number').innerText(), 'INV-<b>7</b>');
    assert.equal(await tab.locator('#xero-number b').count(), 0, 'the number is text, not markup');
    assert.equal(await tab.locator('#xero-status').innerText(), 'Awaiting payment');
    assert.deepEqual(pageErrors, []);
  });

  it('when an estimate card is opened, then its Xero tab shows what the invoice tab shows: the Xero quote number, status and history', async () => {
    await installed();
    const quote = b24.actAs(2).createQuote({ title: 'Staff training', quoteNumber: 'EST-9' });
    await c.store.links.save({
      memberId: b24.memberId, connectionId: null, b24Type: 'quote', b24Id: String(quote.id), xeroType: 'quote',
      xeroId: '00000000-0000-0000-0000-000000000009', xeroNumber: 'QU-0009', contentHash: null, xeroStatus: 'INVOICED', xeroUpdatedAt: null,
    });
    await c.store.activity.record({ memberId: b24.memberId, level: 'error', kind: 'quote.stage_refused', subject: `quote:${quote.id}`, message: 'Quote QU-0009 stays INVOICED in Xero although it was moved to "Declined" in Bitrix24: Xero does not allow a quote that is INVOICED to become DECLINED.' });

    await page.goto(`${b24.baseUrl}/portal/placement/CRM_QUOTE_DETAIL_TAB?id=${quote.id}&user=2`);
    const tab = page.frameLocator('#placement-frame-0');
    await tab.locator('#xero-number').waitFor(WAIT);
    assert.equal(await tab.locator('#xero-number').innerText(), 'QU-0009');
    assert.equal(await tab.locator('#xero-status').innerText(), 'Invoiced');
    assert.match(await tab.locator('#history').innerText(), /Error\s+Quote QU-0009 stays INVOICED in Xero/);
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: path.join(RESULTS, 'quote-card.png') });
    assert.deepEqual(pageErrors, []);
  });

});
