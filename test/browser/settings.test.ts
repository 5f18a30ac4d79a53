/**
 * The setup pages in headless Chromium inside the emulated portal: the checklist on the dashboard, the settings slider
 * (tax table, accounts, documents, stages; read-only for non-admins) and the GL-code table. Screenshots go to
 * docs/screenshots/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startXeroEmulator } from '../emulators/xero/index.js';
import { browserSkip, launchBrowser, SHOTS } from '../helpers/browser.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { portalSettings, updatePortalSettings } from '../../app/sync/settings.js';

const WAIT = { timeout: 20_000 };

describe('setup pages in a headless browser inside the portal', { skip: browserSkip }, () => {
  let env: Environment;
  let browser: Browser;
  let invoiceId: number;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await launchBrowser();
    const xero = await startXeroEmulator({ specCheck: false });
    const tenantId = xero.addOrganisation({ name: 'Two Rates Ltd' });
    xero.addTaxRate(tenantId, { Name: '15% GST on Exports', TaxType: 'OUTPUT3', EffectiveRate: 15 });
    env = await startEnvironment({ fresh: true, xero });
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Harbour Cafe <b>Ltd</b>' }).id);
    invoiceId = Number(user.createSmartInvoice({ title: 'Coffee', accountNumber: 'CF-1', companyId, currencyId: 'NZD' }).id);
    user.setProductRows(SMART_INVOICE, invoiceId, [{ productName: 'Coffee beans', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    const iblockId = env.b24.productProperties()[0].iblockId;
    for (let i = 1; i <= 120; i++) env.b24.actAs(1).createProduct({ iblockId, name: `Widget ${String(i).padStart(3, '0')}` });
    env.b24.actAs(1).createProduct({ iblockId, name: '<img src=x id=pwned>Gizmo' });
    await env.settle();
  });
  after(async () => {
    await browser?.close();
    await env?.close();
    await env?.xero.close();
  });

  /** The shell's slider shows 600 px of the page; for the screenshot it shows all of it (test only, in the shell). */
  async function shootSlider(page: Page, name: string): Promise<void> {
    const slider = page.frameLocator('#slider iframe');
    const height = await slider.locator('html').evaluate((html) => html.scrollHeight);
    await page.setViewportSize({ width: 1280, height: height + 120 });
    await page.evaluate((h) => {
      const box = document.getElementById('slider')!;
      box.style.width = '100%';
      (box.querySelector('iframe') as HTMLIFrameElement).style.height = `${h}px`;
    }, height);
    await page.waitForTimeout(300); // a repaint of the resized frame, not a timing assertion
    await page.locator('#slider iframe').screenshot({ path: path.join(SHOTS, name) });
  }

  async function open(userId: number, lang = 'en'): Promise<{ page: Page; errors: string[] }> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused/.test(m.text())) errors.push(m.text()); });
    await page.goto(`${env.b24.baseUrl}/portal?user=${userId}&lang=${lang}`);
    return { page, errors };
  }

  it('when the admin opens the dashboard, then the checklist says the 15 % rate needs a choice; in the settings slider choosing one releases the waiting invoice', async () => {
    const { page, errors } = await open(1);
    const app = page.frameLocator('#app-frame');
    await app.locator('#setup-checklist').waitFor(WAIT);
    assert.match(await app.locator('[data-step=taxes]').innerText(), /To do[\s\S]*Choose a Xero tax rate for 15 %/);
    assert.match(await app.locator('[data-step=xero]').innerText(), /Done[\s\S]*Connected to Two Rates Ltd/);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-checklist.png'), fullPage: true });

    await app.locator('#open-settings').click();
    const slider = page.frameLocator('#slider iframe');
    await slider.locator('#tax-table').waitFor(WAIT);
    const row15 = slider.locator('#tax-table tr[data-key="15"]');
    assert.match(await row15.innerText(), /Needs a choice[\s\S]*"15% GST on Income" \(OUTPUT2\) and "15% GST on Exports" \(OUTPUT3\)/);
    assert.match(await slider.locator('#tax-table tr[data-key="none"]').innerText(), /Automatic/);
    await shootSlider(page, 'settings-slider.png');

    await row15.locator('select').selectOption('OUTPUT3');
    await slider.locator('#save-settings').click();
    await slider.locator('#notice.ok').waitFor(WAIT);
    assert.match(await slider.locator('#notice').innerText(), /1 waiting document will be sent again/);
    await env.settle();
    const [x] = env.xero.invoices(env.tenantId).filter((i) => i.Reference === 'CF-1');
    assert.ok(x, 'the invoice went to Xero');
    assert.equal((x.LineItems as Record<string, unknown>[])[0].TaxType, 'OUTPUT3');
    assert.deepEqual(errors, []);
  });

  it('when the admin searches the GL-code table and assigns an account to two ticked products, then Bitrix24 has it and the table shows it', async () => {
    const { page, errors } = await open(1);
    await page.frameLocator('#app-frame').locator('#open-settings').click();
    const slider = page.frameLocator('#slider iframe');
    await slider.locator('#gl-table tbody tr[data-id]').first().waitFor(WAIT);
    assert.match(await slider.locator('#gl-page').innerText(), /Page 1 of 3 · 121 products/);
    // The page's table is the server's table component, as GET /api/products/table renders it: nothing built here.
    const same = await slider.locator('#gl-rows').evaluate(async (rows) => {
      const { api } = await import('/static/live.js' as string);
      const served = document.createElement('div');
      served.innerHTML = (await api('/api/products/table?page=0&lang=en')).html;
      return served.innerHTML === rows.innerHTML;
    });
    assert.equal(same, true, 'the slider shows the server-rendered table');
    await slider.locator('#gl-filter input[name=search]').fill('Widget 11');
    await slider.locator('#gl-find').click();
    await slider.locator('#gl-page', { hasText: '10 products' }).waitFor(WAIT);
    const picks = slider.locator('#gl-table .gl-pick');
    await picks.nth(0).check();
    await picks.nth(1).check();
    await slider.locator('#gl-account').selectOption('260');
    await slider.locator('#gl-assign-selected').click();
    await slider.locator('#notice.ok').waitFor(WAIT);
    assert.match(await slider.locator('#notice').innerText(), /Account 260 set on 2 products/);
    await slider.locator('#gl-table tbody tr', { hasText: '260 Other Revenue' }).first().waitFor(WAIT);
    const propertyId = (await env.c.store.settings.get<number>(env.memberId, 'b24.accountCodePropertyId'))!;
    const withAccount = env.b24.products().filter((p) => (p[`property${propertyId}`] as { value?: string } | null)?.value === '260').map((p) => p.name);
    assert.deepEqual(withAccount, ['Widget 110', 'Widget 111']);
    await shootSlider(page, 'settings-gl-codes.png');

    // A product name with markup is shown as text.
    await slider.locator('#gl-filter input[name=search]').fill('gizmo');
    await slider.locator('#gl-find').click();
    await slider.locator('#gl-table tbody tr', { hasText: '<img src=x id=pwned>Gizmo' }).waitFor(WAIT);
    assert.equal(await slider.locator('#pwned').count(), 0);
    assert.deepEqual(errors, []);
  });

  it('when the admin ticks "Bitrix24 is the master for contact details" and saves, then the setting is stored, with its explanation shown', async () => {
    const { page, errors } = await open(1);
    await page.frameLocator('#app-frame').locator('#open-settings').click();
    const slider = page.frameLocator('#slider iframe');
    const box = slider.locator('#f-bitrixMasterForContacts');
    await box.waitFor(WAIT);
    assert.equal(await box.isChecked(), false);
    assert.match(await slider.locator('#contacts').innerText(), /Bitrix24 is the master for contact details[\s\S]*the last change wins, field by field/);
    await box.check();
    await slider.locator('#save-settings').click();
    await slider.locator('#notice.ok').waitFor(WAIT);
    assert.equal((await portalSettings(env.c.store, env.memberId)).bitrixMasterForContacts, true);
    await slider.locator('#contacts').screenshot({ path: path.join(SHOTS, 'settings-contacts-master.png') });
    await updatePortalSettings(env.c.store, env.memberId, { bitrixMasterForContacts: false });
    assert.deepEqual(errors, []);
  });

  it('when a German-speaking admin opens the settings, then the contact-master control and its explanation are in German', async () => {
    const { page, errors } = await open(1, 'de');
    await page.frameLocator('#app-frame').locator('#open-settings').click();
    const slider = page.frameLocator('#slider iframe');
    await slider.locator('#f-bitrixMasterForContacts').waitFor(WAIT);
    assert.match(await slider.locator('#contacts').innerText(), /Bitrix24 ist führend für Kontaktdaten[\s\S]*gilt je Feld die letzte Änderung/);
    await slider.locator('#contacts').screenshot({ path: path.join(SHOTS, 'settings-contacts-master-de.png') });
    assert.deepEqual(errors, []);
  });

  it('when a non-admin opens the settings, then everything is shown and nothing can be changed', async () => {
    const { page, errors } = await open(2);
    await page.frameLocator('#app-frame').locator('#open-settings').click();
    const slider = page.frameLocator('#slider iframe');
    await slider.locator('#read-only').waitFor(WAIT);
    assert.equal(await slider.locator('#save-settings').count(), 0);
    assert.equal(await slider.locator('#gl-assign-selected').count(), 0);
    assert.equal(await slider.locator('#tax-table select').first().isDisabled(), true);
    assert.equal(await slider.locator('select[name=defaultSalesAccount]').isDisabled(), true);
    assert.equal(await slider.locator('#f-bitrixMasterForContacts').isDisabled(), true);
    await shootSlider(page, 'settings-read-only.png');
    assert.deepEqual(errors, []);
  });
});
