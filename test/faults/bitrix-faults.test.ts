// Fault campaign, Bitrix24's limits and tokens: OPERATION_TIME_LIMIT and refresh tokens spent by a racing renewal.
// Each runs the realistic mix (mix.ts) and ends with the same end-state check as campaign.test.ts.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { refreshAtOAuthServer } from '../../app/bitrix/portal-identity.js';
import { startXeroEmulator } from '../emulators/xero/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { approveAndPay, assertExactlyOnce, assertNothingStuck, assertPaidBack, assertWrittenBack, createMix, paidBack, pollUntil, settleAll } from './mix.js';

/** Polls and works the queue, letting Bitrix24's operating window move on between rounds, until `done`. */
async function untilDone(env: Environment, windowMs: number, done: () => Promise<boolean>, rounds = 15): Promise<void> {
  for (let i = 0; i < rounds && !(await done()); i++) {
    await sleep(windowMs);
    await env.c.services.pullStatuses.pollConnection(env.connectionId).catch(() => undefined);
    await settleAll(env, 3);
  }
}

describe('fault campaign: Bitrix24 operating time limit', () => {
  it('when Bitrix24 blocks methods whose operating time is spent (429 OPERATION_TIME_LIMIT), then documents wait in the queue saying why, none fails, and once the time frees up every document is in Xero once and every status comes back', async () => {
    const env = await startEnvironment({ xeroLimits: { backoffMs: 5 } });
    try {
      // Reading an invoice's rows and updating an invoice cost 1 s each of the method's 6 s per 1.5 s window
      // (Bitrix24: 420 s per 10 minutes), so a round of the mix spends them before it is through.
      const windowMs = 1500;
      env.b24.setOperatingLimit({ limitSeconds: 6, windowMs, costSeconds: { 'crm.item.productrow.list': 1, 'crm.item.update': 1, 'crm.invoice.get': 1, 'crm.invoice.update': 1 } });
      const docs = createMix(env.b24, 'OT', { smart: 12, classic: 2, customers: 3 });
      await env.settle();
      const { store } = env.c;
      const waiting = (await store.jobs.list({ memberId: env.memberId, states: ['pending'], limit: 1000 })).filter((j) => j.lastErrorCode === 'B24.OPERATION_TIME_LIMIT');
      assert.ok(waiting.length > 0, 'some documents wait for the operating time');
      for (const j of waiting) {
        assert.match(j.lastError ?? '', /^Bitrix24 blocks crm\.[\w.]+ for now \(its operating time limit\); retry at .+ UTC\.$/);
        assert.ok(j.runAt > Date.now(), `${j.key} waits`);
      }
      assert.equal((await store.jobs.countByState(env.memberId)).needs_attention, 0, 'no document failed');

      await untilDone(env, windowMs, async () => (await store.jobs.countByState(env.memberId)).pending === 0);
      await assertExactlyOnce(env.xero, env.tenantId, store, env.memberId, docs);
      const paid = await approveAndPay(env.xero, env.tenantId, store, env.memberId, docs);
      await untilDone(env, windowMs, async () => (await paidBack(env, paid)) && (await store.jobs.countByState(env.memberId)).pending === 0);
      await assertPaidBack(env.b24, store, env.memberId, paid);
      await assertWrittenBack(env.b24, store, env.memberId, docs);
      await assertNothingStuck(store);
      const limited = env.b24.callLog.filter((c) => c.error === 'OPERATION_TIME_LIMIT');
      assert.ok(limited.length > 0 && limited.every((c) => c.status === 429), 'Bitrix24 answered 429 OPERATION_TIME_LIMIT');
    } finally {
      await env.close();
    }
  });
});

/**
 * The first refresh request that reaches an emulator waits while a rival — another process of the connector, outside
 * its lease — renews with the same stored refresh token and stores the rotated pair; then the held request goes on
 * with the spent token, which the emulator refuses (invalid_grant) as the real service does.
 */
function raceFirstRefresh(rival: () => Promise<void>): () => Promise<void> {
  let raced = false;
  return async () => {
    if (raced) return;
    raced = true;
    await rival();
  };
}

describe('fault campaign: refresh tokens spent by a racing renewal', () => {
  it('when a racing renewal spends the Bitrix24 and the Xero refresh tokens first while the access tokens expire mid-run, then the connector goes on with the rotated tokens (no reconnect, no reinstall), every document is in Xero once and every status comes back', async () => {
    // Xero lets a used refresh token be retried for a grace period (docs/reference/xero.md#oauth); 0 here: refused at once, as after it.
    const xero = await startXeroEmulator({ refreshGraceSeconds: 0 });
    xero.addOrganisation({ name: 'Demo Company (NZ)' });
    const env = await startEnvironment({ xero, xeroLimits: { backoffMs: 5 } });
    try {
      const { store } = env.c;
      const first = createMix(env.b24, 'RR', { smart: 6, classic: 1, customers: 2 });
      await settleAll(env);
      env.b24.holdRefreshes(raceFirstRefresh(async () => {
        const answer = await refreshAtOAuthServer(env.c.config.bitrix, (await store.portals.get(env.memberId))!.refreshToken!);
        await store.portals.saveTokens(env.memberId, { accessToken: answer.access_token, refreshToken: answer.refresh_token, expiresAt: Number(answer.expires) });
      }));
      xero.holdRefreshes(raceFirstRefresh(async () => {
        const tokens = await env.c.services.identity.refresh((await store.connections.get(env.connectionId))!.refreshToken!);
        await store.connections.saveTokens(env.connectionId, { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt });
      }));
      env.b24.expireAccessTokens();
      xero.expireAccessTokens();
      const second = createMix(env.b24, 'RS', { smart: 6, customers: 2 });
      const all = [...first, ...second];
      const paid = await approveAndPay(xero, env.tenantId, store, env.memberId, first);
      await settleAll(env);
      await pollUntil(env, () => paidBack(env, paid));

      assert.ok(env.b24.callLog.some((c) => c.method === 'oauth/token' && c.status === 400), 'Bitrix24 refused the spent refresh token');
      assert.ok(xero.tokenGrants.denied >= 1, 'Xero refused the spent refresh token');
      assert.equal((await store.connections.get(env.connectionId))!.state, 'active', 'Xero needs no reconnect');
      assert.equal((await store.portals.get(env.memberId))!.state, 'installed', 'the portal needs no reinstall');
      assert.equal(env.c.logLines.filter((l) => /token refresh refused/.test(l)).length, 0, 'the renewal that lost the race took the rotated tokens instead of failing');
      await assertExactlyOnce(xero, env.tenantId, store, env.memberId, all);
      await assertPaidBack(env.b24, store, env.memberId, paid);
      await assertWrittenBack(env.b24, store, env.memberId, all);
      await assertNothingStuck(store);
      assert.equal((await store.jobs.countByState(env.memberId)).paused, 0);
    } finally {
      await env.close();
      await xero.close();
    }
  });
});
