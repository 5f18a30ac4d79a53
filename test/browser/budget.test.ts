/**
 * The dashboard's Xero budget as an admin of a Starter-tier app sees it (XERO_DAILY_LIMIT=1000), in headless Chromium
 * inside the emulated portal shell: as the day's calls run low, what waits and when calls free up; once the budget
 * is reached, that pushes wait too, and until when. Screenshots: docs/screenshots/dashboard-budget-*.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { browserSkip, launchBrowser, SHOTS } from '../helpers/browser.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

/** Generous upper bound for a page to reach a state; a wait, not an assertion about speed. */
const WAIT = { timeout: 20_000 };

describe('the dashboard when the daily Xero budget runs low', { skip: browserSkip }, () => {
  let env: Environment;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    browser = await launchBrowser();
    env = await startEnvironment({ xeroLimits: { perDay: 1000 } });
    mkdirSync(SHOTS, { recursive: true });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });

  const dashboard = async (): Promise<FrameLocator> => {
    await page.goto(`${env.b24.baseUrl}/portal?user=1&lang=en`);
    const frame = page.frameLocator('#app-frame');
    await frame.locator('#xero-panel').waitFor(WAIT);
    await page.locator('#app-frame[data-resized]').waitFor(WAIT);
    return frame;
  };
  const shot = async (name: string) => {
    const height = Number(await page.evaluate('document.documentElement.scrollHeight'));
    await page.setViewportSize({ width: 1280, height: Math.max(900, height) });
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  /** Calls the connector counted earlier today (the day's budget is the connector's own count of its calls). */
  const spend = (calls: number) => {
    const budget = env.c.services.gateways.for(env.connectionId).budget;
    for (let i = 0; i < calls; i++) budget.record();
    return budget;
  };
  /** How the dashboard writes a moment in English (app/http/pages.ts formatters). */
  const when = (ms: number) => new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(ms);

  it('when 600 of 1,000 calls are spent, then the dashboard says imports wait, until when, and when calls free up', async () => {
    const budget = spend(600 - budget0());
    const status = budget.status();
    assert.deepEqual(status.waiting.map((w) => w.spend), ['import']);
    const frame = await dashboard();
    const waits = frame.locator('#budget-waits');
    await waits.waitFor(WAIT);
    const text = await waits.innerText();
    assert.match(text, /Imports and contact sync until/);
    assert.ok(text.includes(`Imports and contact sync until ${when(status.waiting[0].until)}`), text);
    assert.match(text, /calls free up from/);
    assert.match(await frame.locator('#budget-day').innerText(), /400 of 1,000 left/);
    await shot('dashboard-budget-low');
    assert.deepEqual(problems, []);
  });

  it('when the whole day\'s budget is spent, then the dashboard says status checks, imports and pushes wait, and until when', async () => {
    const budget = spend(1000 - budget0());
    const status = budget.status();
    assert.equal(status.remaining, 0);
    const frame = await dashboard();
    const text = await frame.locator('#budget-waits').innerText();
    for (const what of ['Status checks', 'Imports and contact sync', 'Pushes']) assert.match(text, new RegExp(`${what} until`));
    const push = status.waiting.find((w) => w.spend === 'push')!;
    assert.ok(text.includes(`Pushes until ${when(push.until)}`), text);
    assert.match(await frame.locator('#budget-day').innerText(), /0 of 1,000 left/);
    await shot('dashboard-budget-reached');
    assert.deepEqual(problems, []);
  });

  /** Calls already counted (the setup's own reads of the organisation). */
  function budget0(): number {
    return env.c.services.gateways.for(env.connectionId).budget.used();
  }
});
