/**
 * The "Import from Xero" slider in headless Chromium inside the emulated portal: preview, live progress, summary
 * (screenshots in test-results/), and a non-admin refused.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, launchBrowser } from '../helpers/browser.js';
import { statusBed } from '../statuses/bed.js';
import { seedXeroContacts, seedXeroItems } from '../import/bed.js';

const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));
const WAIT = { timeout: 20_000 };

describe('the Import from Xero slider', { skip: browserSkip }, () => {
  let browser: Browser;
  before(async () => { browser = await launchBrowser(); mkdirSync(RESULTS, { recursive: true }); });
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
    const run = bed.c.store.imports.latestRun(bed.memberId)!;
    const planned = bed.c.store.imports.plannedCounts(run.id);
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
    assert.equal(bed.c.store.imports.latestRun(bed.memberId), undefined);
    await context.close();
  });
});
