/**
 * The "Import from Xero" slider in headless Chromium inside the emulated portal: preview, live progress, summary
 * (screenshots in test-results/), cancel and resume, the failures CSV, the list-toolbar item that opens it
 * (screenshots in docs/screenshots/), and a non-admin refused.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, launchBrowser, SHOTS } from '../helpers/browser.js';
import { statusBed } from '../statuses/bed.js';
import { seedXeroContacts, seedXeroItems } from '../import/bed.js';
import { IMPORT_JOB } from '../../app/sync/import/import-from-xero.js';

const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));
const WAIT = { timeout: 20_000 };

describe('the Import from Xero slider', { skip: browserSkip }, () => {
  let browser: Browser;
  before(async () => { browser = await launchBrowser(); mkdirSync(RESULTS, { recursive: true }); mkdirSync(SHOTS, { recursive: true }); });
  after(async () => { await browser?.close(); });

  it('when an admin previews, starts and finishes an import, then the slider shows the counts, the failures ahead, live progress and the summary', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 120, 40);
    seedXeroItems(bed, 30);
    bed.xero.seedContact(bed.tenantId, { Name: '--' }); // no usable name: reported, skipped
    bed.c.services.outbox.start();
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${bed.b24.baseUrl}/portal?user=1`);
    const app = page.frameLocator('#app-frame');
    await app.locator('#open-import').click(WAIT);
    const slider = page.frameLocator('#slider-frame');
    await slider.locator('body').waitFor(WAIT);
    await slider.locator('#import-preview').click(WAIT);
    await slider.locator('.import-state[data-state="previewed"]').waitFor(WAIT);
    const run = (await bed.c.store.imports.latestRun(bed.memberId))!;
    const planned = await bed.c.store.imports.plannedCounts(run.id);
    assert.ok(planned.create >= 120 + 120 * 2 + 40 + 30);
    assert.equal(await slider.locator('[data-k="create"] .stat-value').innerText(), planned.create.toLocaleString('en'));
    assert.equal(bed.b24.items(4).length, 0, 'nothing written by the preview');
    assert.match(await slider.locator('#import-failures').innerText(), /no usable name/);
    await page.screenshot({ path: path.join(RESULTS, 'import-preview.png') });

    // Slow the portal down so the progress is visible while it runs.
    bed.b24.setFaults({ latencyMs: 150 });
    await slider.locator('#import-start').click(WAIT);
    await slider.locator('.import-state[data-state="running"] progress').waitFor(WAIT);
    await page.screenshot({ path: path.join(RESULTS, 'import-progress.png') });
    bed.b24.setFaults({ latencyMs: 0 });
    await slider.locator('.import-state[data-state="done"]').waitFor({ timeout: 60_000 });
    assert.equal(await slider.locator('[data-k="create"] .stat-value').innerText(), planned.create.toLocaleString('en'), 'the outcome equals the preview');
    assert.equal(await slider.locator('[data-k="fail"] .stat-value').innerText(), '1');
    assert.match(await slider.locator('#import-failures').innerText(), /no usable name/);
    await page.screenshot({ path: path.join(RESULTS, 'import-summary.png') });
    assert.equal(bed.b24.items(4).filter((c) => /^Org \d+ Ltd$/.test(String(c.title))).length, 120);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('when a user who is not an admin opens the slider, then it refuses, and the import API refuses that user\'s session', async () => {
    const bed = await statusBed();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${bed.b24.baseUrl}/portal?user=2`);
    const app = page.frameLocator('#app-frame');
    await app.locator('#signed-in').waitFor(WAIT);
    assert.equal(await app.locator('#open-import').count(), 0);
    const session = await app.locator('#app').getAttribute('data-session');
    const res = await fetch(`${bed.c.url}/api/import/preview`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-connector-session': session ?? '' }, body: JSON.stringify({ what: ['companies'] }) });
    assert.equal(res.status, 403);
    assert.equal((await bed.c.store.imports.latestRun(bed.memberId)), undefined);
    await context.close();
  });
  it('when an admin cancels a running import, then the progress stops, the summary says cancelled with the counts so far, and a later run creates only what is missing', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 300, 0);
    bed.c.services.outbox.start();
    const productsBefore = bed.b24.products().length;
    /** Records this import wrote to Bitrix24: companies, contacts and products (the demo organisation has items). */
    const writtenNow = () => bed.b24.items(4).length + bed.b24.items(3).length + bed.b24.products().length - productsBefore;
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${bed.b24.baseUrl}/portal?user=1`);
    await page.frameLocator('#app-frame').locator('#open-import').click(WAIT);
    const slider = page.frameLocator('#slider-frame');
    await slider.locator('#import-preview').click(WAIT);
    await slider.locator('.import-state[data-state="previewed"]').waitFor(WAIT);
    const first = (await bed.c.store.imports.latestRun(bed.memberId))!;
    const planned = await bed.c.store.imports.plannedCounts(first.id);
    const total = planned.create + planned.link + planned.update + planned.skip + planned.fail;

    bed.b24.setFaults({ latencyMs: 200 }); // slow enough to cancel part-way
    await slider.locator('#import-start').click(WAIT);
    await slider.locator('.import-state[data-state="running"] progress').waitFor(WAIT);
    await until(() => bed.b24.items(4).length >= 50, 'a first batch written');
    await slider.locator('#import-cancel').click(WAIT);
    await slider.locator('.import-state[data-state="cancelled"]').waitFor(WAIT);
    bed.b24.setFaults({ latencyMs: 0 });
    // The batch in flight when cancel was pressed may still land; then the job ends and nothing more is written.
    await until(async () => (await bed.c.store.jobs.findLive(`${IMPORT_JOB}:${first.id}`)) === undefined, 'the import job ends');
    await bed.c.services.outbox.drain();
    const written = writtenNow();
    await bed.c.services.outbox.drain();
    assert.equal(writtenNow(), written, 'nothing written after the cancel');
    const so = await bed.c.store.imports.outcomeCounts(first.id);
    assert.ok(so.create > 0 && so.create < total, `part of the run was written (${so.create} of ${total})`);
    assert.equal(so.create, written, 'every record written is counted');
    // The slider shows the state with the counts so far (the live stream pushes the last state).
    await slider.locator(`.import-state[data-state="cancelled"] [data-k="create"] .stat-value`, { hasText: so.create.toLocaleString('en') }).waitFor(WAIT);
    assert.match(await slider.locator('.import-state').innerText(), /Cancelled/);
    assert.equal(await slider.locator('#import-start').count(), 0);
    await slider.locator('.import-state').screenshot({ path: path.join(SHOTS, 'import-cancelled.png') });

    // A new run previews the rest: what the cancelled run wrote is linked or skipped, never created again.
    await slider.locator('#import-preview').click(WAIT);
    await slider.locator(`.import-state[data-state="previewed"]:not([data-run="${first.id}"])`).waitFor(WAIT);
    const second = (await bed.c.store.imports.latestRun(bed.memberId))!;
    assert.equal((await bed.c.store.imports.plannedCounts(second.id)).create, total - written);
    await slider.locator('#import-start').click(WAIT);
    await slider.locator('.import-state[data-state="done"]').waitFor({ timeout: 60_000 });
    assert.equal(writtenNow(), total, 'the two runs wrote each planned record once');
    const titles = bed.b24.items(4).map((c) => String(c.title));
    assert.equal(titles.filter((t) => /^Org \d+ Ltd$/.test(t)).length, 300);
    assert.equal(new Set(titles).size, titles.length, 'no company twice');
    const people = bed.b24.items(3).map((c) => `${c.name} ${c.lastName}`);
    assert.equal(people.length, 600);
    assert.equal(new Set(people).size, 600, 'no contact twice');
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('when the import has failed records, then "Download failures (CSV)" gives a header row and each record with its reason, quoted where needed and with formulas defused', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 2, 0);
    const formula = '=HYPERLINK("https://evil.example/?q=1","Click, here")';
    bed.xero.seedContact(bed.tenantId, { Name: formula });
    bed.xero.seedContact(bed.tenantId, { Name: '--' });
    // Two Bitrix24 companies already carry that name, so the import cannot tell which one to link.
    bed.b24.actAs(1).createCompany({ title: formula });
    bed.b24.actAs(1).createCompany({ title: formula });
    bed.c.services.outbox.start();
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    await page.goto(`${bed.b24.baseUrl}/portal?user=1`);
    await page.frameLocator('#app-frame').locator('#open-import').click(WAIT);
    const slider = page.frameLocator('#slider-frame');
    await slider.locator('#import-preview').click(WAIT);
    await slider.locator('.import-state[data-state="previewed"]').waitFor(WAIT);
    await slider.locator('#import-start').click(WAIT);
    await slider.locator('.import-state[data-state="done"]').waitFor({ timeout: 60_000 });
    assert.match(await slider.locator('#import-failures').innerText(), /Click, here/);
    const [download] = await Promise.all([page.waitForEvent('download', WAIT), slider.locator('#import-csv').click(WAIT)]);
    assert.match(download.suggestedFilename(), /^import-\d+-failures\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8').replace(/^\uFEFF/, '');
    const lines = csv.split('\r\n').filter(Boolean);
    assert.equal(lines[0], 'Bitrix24 type,Xero id,Name,Reason');
    assert.equal(lines.length, 3, csv);
    const formulaLine = lines.find((l) => l.includes('HYPERLINK'))!;
    // The name is quoted (it holds a comma and quotes, doubled) and starts with an apostrophe: no formula in a spreadsheet.
    assert.match(formulaLine, /^(company|contact),[0-9a-f-]{36},"'=HYPERLINK\(""https:\/\/evil\.example\/\?q=1"",""Click, here""\)","2 Bitrix24 companies are named ""=HYPERLINK\(/);
    assert.ok(!/,=|^=/.test(formulaLine), 'no cell starts with =');
    const dashes = lines.find((l) => l.includes('no usable name'))!;
    assert.match(dashes, /^(company|contact),[0-9a-f-]{36},'--,"The Xero contact has no usable name \(""--""\), so/);
    await slider.locator('.import-state').screenshot({ path: path.join(SHOTS, 'import-failures.png') });
    await context.close();
  });

  it('when an admin opens "Import from Xero" from the company list toolbar, then the import slider opens; a non-admin gets the admins-only answer there', async () => {
    const bed = await statusBed();
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${bed.b24.baseUrl}/portal/list/company?user=1`);
    const item = page.locator('#list-toolbar .toolbar-app', { hasText: 'Import from Xero' });
    await item.click(WAIT);
    const slider = page.frameLocator('#slider-frame');
    await slider.locator('#import-form').waitFor(WAIT);
    assert.equal(await slider.locator('#import-form input[name=companies]').isChecked(), true);
    await page.screenshot({ path: path.join(SHOTS, 'import-from-company-list.png') });

    await page.goto(`${bed.b24.baseUrl}/portal/list/contact?user=2`);
    await page.locator('#list-toolbar .toolbar-app', { hasText: 'Import from Xero' }).click(WAIT);
    await slider.locator('body', { hasText: /administrator/i }).waitFor(WAIT);
    assert.equal(await slider.locator('#import-form').count(), 0);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

/** Waits (polling) for a condition of the emulators or the store; not a timing assertion. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
