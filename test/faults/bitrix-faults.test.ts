// Fault campaign, Bitrix24's limits and tokens: OPERATION_TIME_LIMIT and refresh tokens spent by a racing renewal.
// Each runs the realistic mix (mix.ts) and ends with the same end-state check as campaign.test.ts.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { approveAndPay, assertExactlyOnce, assertNothingStuck, assertPaidBack, createMix, paidBack, settleAll } from './mix.js';

/** Polls and works the queue, letting Bitrix24's operating window move on between rounds, until `done`. */
async function untilDone(env: Environment, windowMs: number, done: () => boolean, rounds = 15): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) {
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
      const waiting = store.jobs.list({ memberId: env.memberId, states: ['pending'], limit: 1000 }).filter((j) => j.lastErrorCode === 'B24.OPERATION_TIME_LIMIT');
      assert.ok(waiting.length > 0, 'some documents wait for the operating time');
      for (const j of waiting) {
        assert.match(j.lastError ?? '', /^Bitrix24 blocks crm\.[\w.]+ for now \(its operating time limit\); retry at .+ UTC\.$/);
        assert.ok(j.runAt > Date.now(), `${j.key} waits`);
      }
      assert.equal(store.jobs.countByState(env.memberId).needs_attention, 0, 'no document failed');

      await untilDone(env, windowMs, () => store.jobs.countByState(env.memberId).pending === 0);
      assertExactlyOnce(env.xero, env.tenantId, store, env.memberId, docs);
      const paid = approveAndPay(env.xero, env.tenantId, store, env.memberId, docs);
      await untilDone(env, windowMs, () => paidBack(env, paid) && store.jobs.countByState(env.memberId).pending === 0);
      assertPaidBack(env.b24, store, env.memberId, paid);
      assertNothingStuck(store);
      const limited = env.b24.callLog.filter((c) => c.error === 'OPERATION_TIME_LIMIT');
      assert.ok(limited.length > 0 && limited.every((c) => c.status === 429), 'Bitrix24 answered 429 OPERATION_TIME_LIMIT');
    } finally {
      await env.close();
    }
  });
});
