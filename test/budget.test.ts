// Xero's daily budget, planned by priority (app/xero/budget.ts), through the gateway and on the dashboard line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DailyBudget, describeBudget, spendingAs } from '../app/xero/budget.js';
import { StatusPollSchedule } from '../app/sync/schedules.js';
import { captureLogger } from './helpers/log-capture.js';
import { xeroTestbed } from './helpers/xero.js';

const DAY = 86_400_000;

function clock(start = Date.UTC(2026, 11, 1, 9, 0)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('daily budget', () => {
  it('when the budget runs low, then imports pause first, polls stretch and then stop, and pushes may spend the rest', () => {
    const c = clock();
    const b = new DailyBudget(1000, c.now);
    for (let i = 0; i < 400; i++) b.record();
    assert.deepEqual([b.allows('push'), b.allows('poll'), b.allows('import')], [true, true, true]);
    assert.equal(b.pollStretch(), 2);
    for (let i = 0; i < 150; i++) b.record();
    assert.deepEqual([b.allows('push'), b.allows('poll'), b.allows('import')], [true, true, false]);
    for (let i = 0; i < 200; i++) b.record();
    assert.deepEqual([b.allows('push'), b.allows('poll'), b.allows('import')], [true, false, false]);
    for (let i = 0; i < 250; i++) b.record();
    assert.equal(b.allows('push'), false);
  });

  it('when the budget is reached, then work waits, the dashboard line says until when, and it resumes when the calls leave the 24 hours', () => {
    const c = clock();
    const b = new DailyBudget(1000, c.now);
    const first = c.now();
    for (let i = 0; i < 1000; i++) {
      b.record();
      if (i === 0) c.advance(60_000);
    }
    const s = b.status();
    assert.equal(s.remaining, 0);
    assert.deepEqual(s.waiting.map((w) => w.spend), ['poll', 'import', 'page', 'push']);
    const push = s.waiting.find((w) => w.spend === 'push')!;
    assert.equal(push.until, first + DAY); // the first call leaves the window: one call free
    const line = describeBudget(s);
    assert.match(line, /0 of 1,000 calls left/);
    assert.match(line, /Pushes wait until 2026-12-02 09:00 UTC/);
    c.advance(DAY - 60_000 + 1);
    assert.equal(b.allows('push'), true);
    assert.equal(b.allows('poll'), false); // 1 call free is still within the pushes' reserve
    c.advance(60_000);
    assert.equal(b.remaining(), 1000);
    assert.deepEqual([b.allows('push'), b.allows('poll'), b.allows('import')], [true, true, true]);
  });

  it("when pages read from Xero, then they spend at most their share of the day and never the pushes' reserve, and wait until their calls leave the 24 hours", () => {
    const c = clock();
    const b = new DailyBudget(1000, c.now);
    assert.equal(b.pageShare, 50);
    const first = c.now();
    for (let i = 0; i < 50; i++) b.record('page');
    assert.deepEqual([b.allows('page'), b.allows('push'), b.allows('poll')], [false, true, true]);
    assert.equal(b.availableAt('page'), first + DAY);
    const low = new DailyBudget(1000, c.now);
    for (let i = 0; i < 699; i++) low.record();
    assert.equal(low.allows('page'), true);
    low.record();
    assert.deepEqual([low.allows('page'), low.allows('push')], [false, true], 'at the pushes\' reserve of 30 % pages stop');
  });

  it('when a push finds the budget spent, then it waits until a call leaves the window and then goes out', async () => {
    const b = new DailyBudget(100, Date.now, 300);
    for (let i = 0; i < 100; i++) b.record();
    const freeAt = b.availableAt('push');
    await b.admit('push');
    assert.ok(Date.now() >= freeAt, 'admitted only once a call left the window');
    assert.equal(b.used(), 1);
  });

  it('when Xero says fewer calls are left than the connector counted, then Xero wins: polls and imports wait and the dashboard says so', async () => {
    const bed = await xeroTestbed({ emulator: { seedDemo: true, limits: { perDay: 40 } } });
    await bed.gateway.call('reading the organisation', (s) =>
      // https://developer.xero.com/documentation/api/accounting/organisation
      s.xero.accountingApi.getOrganisations(s.tenantId),
    );
    const s = bed.gateway.budget.status();
    assert.equal(s.limit, 5000);
    assert.equal(s.remaining, 39);
    assert.deepEqual(s.waiting.map((w) => w.spend), ['poll', 'import', 'page']);
    assert.equal(bed.gateway.budget.allows('push'), true);
    assert.match(describeBudget(s), /39 of 5,000 calls left.*Status checks wait until/);
  });

  it('when imports would eat into the pushes\' share, then an import call waits while a push call goes out, and goes out once calls free up', async () => {
    const bed = await xeroTestbed({ limits: { perDay: 100, dayMs: 400 } });
    const org = (s: Parameters<Parameters<typeof bed.gateway.call>[1]>[0]) =>
      // https://developer.xero.com/documentation/api/accounting/organisation
      s.xero.accountingApi.getOrganisations(s.tenantId);
    for (let i = 0; i < 60; i++) bed.gateway.budget.record();
    const order: string[] = [];
    const importing = spendingAs('import', () => bed.gateway.call('import read', org)).then(() => order.push('import'));
    assert.ok(bed.gateway.budget.status().waiting.some((w) => w.spend === 'import'));
    await bed.gateway.call('push read', org).then(() => order.push('push'));
    await importing;
    assert.deepEqual(order, ['push', 'import']);
    assert.equal(bed.emu.counters.total, 2);
  });

  it('when the budget runs low, then the status poll schedule stretches its interval, stops at the pushes\' reserve, and is back to its interval once the calls leave the 24 hours', async () => {
    const bed = await xeroTestbed();
    const c = clock();
    const budget = new DailyBudget(1000, c.now);
    const polled: number[] = [];
    const recorder = { pollConnection: async (id: number) => { polled.push(c.now()); return { connectionId: id, xeroCalls: 0, read: 0, updated: 0, failed: 0 }; } };
    const schedule = new StatusPollSchedule(bed.store, recorder, captureLogger().logger, { defaultIntervalSeconds: 60, budgetOf: () => budget });
    /** Ticks every 5 s (as the cron task does) for `ms`; returns the minutes (from the start) at which polls ran. */
    const run = async (ms: number) => {
      const from = polled.length;
      const start = c.now();
      for (let t = 0; t < ms; t += 5000, c.advance(5000)) await schedule.tick(c.now());
      return polled.slice(from).map((at) => (at - start) / 60_000);
    };
    assert.deepEqual(await run(4 * 60_000), [0, 1, 2, 3], 'budget to spare: every minute');
    for (let i = 0; i < 400; i++) budget.record(); // 600 of 1,000 left
    assert.equal(budget.pollStretch(), 2);
    assert.deepEqual(await run(6 * 60_000), [1, 3, 5], 'twice the interval apart');
    for (let i = 0; i < 250; i++) budget.record(); // 350 left: just above the pushes' reserve
    assert.equal(budget.pollStretch(), 12);
    assert.deepEqual((await run(30 * 60_000)).length, 2, 'twelve times the interval apart: two polls in 30 minutes');
    for (let i = 0; i < 60; i++) budget.record(); // 290 left: only the pushes' reserve
    assert.deepEqual(await run(60 * 60_000), [], 'no poll while only the pushes\' reserve is left');
    assert.match(describeBudget(budget.status()), /Status checks wait until 2026-12-02 /);
    c.advance(DAY); // every counted call has left the 24 hours
    assert.deepEqual(await run(3 * 60_000), [0, 1, 2], 'back to every minute');
    await schedule.stop();
  });
});
