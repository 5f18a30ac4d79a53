// Fault campaign, Xero's organisation-wide faults: the daily limit reached and a revoked connection. Each runs the
// realistic mix (mix.ts) and ends with the same end-state check as campaign.test.ts.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { startXeroEmulator } from '../emulators/xero/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { consentAndConfirm } from '../helpers/xero-consent.js';
import { approveAndPay, assertExactlyOnce, assertNothingStuck, assertPaidBack, assertWrittenBack, createMix, fastForward, paidBack, pollUntil, settleAll } from './mix.js';

/** The admin's dashboard (the app page, as Bitrix24 opens it for user 1). */
async function dashboard(env: Environment): Promise<string> {
  const page = await fetch(`${env.c.url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(env.b24.frameAuth(1)) });
  assert.equal(page.status, 200);
  return page.text();
}

/** The Xero tab of a smart invoice's card, as the admin opens it. */
async function cardTab(env: Environment, invoiceId: string): Promise<string> {
  const form = { ...env.b24.frameAuth(1), PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', PLACEMENT_OPTIONS: JSON.stringify({ ID: invoiceId }) };
  const page = await fetch(`${env.c.url}/placements/invoice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  assert.equal(page.status, 200);
  return page.text();
}

/** Xero API requests for the organisation answered so far. */
const callsTo = (env: Environment) => env.xero.requestLog.filter((e) => e.tenant === env.tenantId).length;

describe('fault campaign: Xero daily limit reached', () => {
  it('when Xero answers 429 for the day, then the jobs wait in the queue saying until when, nothing goes to the organisation before then, and afterwards every document is in Xero once and every status comes back', async () => {
    // Xero's rolling day is 3 s here, so its Retry-After is seconds instead of hours.
    const xero = await startXeroEmulator({ limits: { dayMs: 3000 } });
    xero.addOrganisation({ name: 'Demo Company (NZ)' });
    // budgetWaitMs 0: no call waits for the budget at all (in production a wait of up to a minute is allowed).
    const env = await startEnvironment({ xero, xeroLimits: { backoffMs: 5, budgetWaitMs: 0 } });
    try {
      const docs = createMix(env.b24, 'XD', { smart: 12, classic: 2, customers: 3 });
      // Another process of the app (or this one before a restart) spent the organisation's day.
      xero.useDailyLimit(env.tenantId);
      await env.settle();
      const gateway = env.c.services.gateways.for(env.connectionId);
      const until = gateway.budget.xeroSpentUntil;
      assert.ok(until > 0, 'the budget knows Xero refused the day');
      const waiting = (await env.c.store.jobs.list({ memberId: env.memberId, states: ['pending', 'running', 'needs_attention', 'paused'], limit: 1000 })).filter((j) => j.kind.startsWith('push-'));
      assert.equal(waiting.length, docs.length, 'every document waits');
      for (const j of waiting) {
        assert.equal(j.state, 'pending', `${j.key} is back in the queue, not running or failed`);
        assert.match(j.lastError ?? '', /^Xero daily limit reached, retry at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$/);
        assert.ok(j.runAt >= until - 1000, `${j.key} runs again at the retry time`);
        assert.equal(j.attempts, 0, 'waiting for the day is not a failed attempt');
      }
      assert.ok(xero.counters.served429 <= 5, `at most the calls already in flight met the 429 (${xero.counters.served429})`);
      const html = await dashboard(env);
      assert.match(html, /Pushes until/, 'the dashboard says pushes wait');
      assert.match(html, /Paused until/, 'the dashboard says Xero calls are paused');
      assert.match(await cardTab(env, docs[0]!.b24Id), /id="wait-reason">Xero daily limit reached, retry at /, 'the card says why the invoice waits');

      // Even made due by hand, the work does not reach the organisation before the retry time.
      const before = callsTo(env);
      await fastForward(env.c.store);
      await env.settle();
      assert.equal(callsTo(env), before, 'no call to the organisation before the retry time');
      assert.equal((await env.c.store.jobs.countByState(env.memberId)).pending, docs.length);

      await sleep(Math.max(0, until - Date.now()) + 50);
      await settleAll(env);
      await assertExactlyOnce(xero, env.tenantId, env.c.store, env.memberId, docs);
      const paid = await approveAndPay(xero, env.tenantId, env.c.store, env.memberId, docs);
      await pollUntil(env, () => paidBack(env, paid));
      await assertPaidBack(env.b24, env.c.store, env.memberId, paid);
      await assertWrittenBack(env.b24, env.c.store, env.memberId, docs);
      await assertNothingStuck(env.c.store);
      xero.assertNoSpecViolations();
    } finally {
      await env.close();
      await xero.close();
    }
  });
});

/** The admin presses "Reconnect Xero" and consents in Xero, as in the browser. */
async function reconnect(env: Environment): Promise<void> {
  const ticket = await env.c.services.connectXero.begin(env.memberId, 1);
  await consentAndConfirm(env.c.url, `${env.c.url}/xero/start?ticket=${encodeURIComponent(ticket)}`);
}

/** Sync with the organisation is paused, visibly, and nothing failed or was lost. */
async function assertPausedForReconnect(env: Environment, waitingDocs: number): Promise<void> {
  const { store } = env.c;
  assert.equal((await store.connections.get(env.connectionId))!.state, 'needs_reconnect');
  const counts = await store.jobs.countByState(env.memberId);
  assert.equal(counts.needs_attention, 0, 'no document failed for good');
  const paused = await store.jobs.list({ memberId: env.memberId, states: ['paused'], limit: 1000 });
  assert.ok(paused.filter((j) => j.kind.startsWith('push-')).length >= waitingDocs, `the documents wait (${JSON.stringify(counts)})`);
  for (const j of paused) assert.match(j.lastError ?? '', /reconnect|no longer/i, `${j.key} says why it waits`);
  const html = await dashboard(env);
  assert.match(html, /Needs reconnecting/);
  assert.match(html, /Reconnect Xero/);
  assert.equal((await env.c.services.pullStatuses.pollConnection(env.connectionId)).xeroCalls, 0, 'status checks wait too');
}

describe('fault campaign: Xero connection revoked', () => {
  it('when the app is disconnected in Xero and later its authorisation is revoked, then syncing pauses asking to reconnect Xero, and after each reconnect every document is in Xero once and every status comes back', async () => {
    const env = await startEnvironment({ xeroLimits: { backoffMs: 5 } });
    try {
      const first = createMix(env.b24, 'RA', { smart: 8, classic: 1, customers: 3 });
      await settleAll(env);
      await assertExactlyOnce(env.xero, env.tenantId, env.c.store, env.memberId, first);

      // 1. A Xero user removes the app from the organisation: the API refuses the tenant (403), /connections leaves it out.
      env.xero.disconnectTenant(env.tenantId);
      const paidFirst = await approveAndPay(env.xero, env.tenantId, env.c.store, env.memberId, first);
      const second = createMix(env.b24, 'RB', { smart: 6, customers: 2 });
      await settleAll(env);
      await assertPausedForReconnect(env, second.length);
      await reconnect(env);
      assert.equal((await env.c.store.connections.get(env.connectionId))!.state, 'active');
      await settleAll(env);
      await pollUntil(env, () => paidBack(env, paidFirst));
      await assertExactlyOnce(env.xero, env.tenantId, env.c.store, env.memberId, [...first, ...second]);
      await assertPaidBack(env.b24, env.c.store, env.memberId, paidFirst);

      // 2. The authorisation is revoked while the access token expires: the refresh answers invalid_grant.
      env.xero.revokeRefreshTokens();
      env.xero.expireAccessTokens();
      const third = createMix(env.b24, 'RC', { smart: 6, classic: 1, customers: 2 });
      await settleAll(env);
      await assertPausedForReconnect(env, third.length);
      await reconnect(env);
      await settleAll(env);
      const all = [...first, ...second, ...third];
      await assertExactlyOnce(env.xero, env.tenantId, env.c.store, env.memberId, all);
      const paidLater = await approveAndPay(env.xero, env.tenantId, env.c.store, env.memberId, [...second, ...third]);
      await pollUntil(env, () => paidBack(env, paidLater));
      await assertPaidBack(env.b24, env.c.store, env.memberId, [...paidFirst, ...paidLater]);
      await assertWrittenBack(env.b24, env.c.store, env.memberId, all);
      await assertNothingStuck(env.c.store);
      env.xero.assertNoSpecViolations();
    } finally {
      await env.close();
    }
  });
});
