import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../app/errors.js';
import { Outbox, backoffDelay, type JobOutcome } from '../app/sync/outbox.js';
import { IntakeSchedule } from '../app/sync/intake/intake-schedule.js';
import type { Job } from '../app/store/jobs.js';
import { captureLogger } from './helpers/log-capture.js';
import { testStore } from './helpers/store.js';

const { logger } = captureLogger();

describe('outbox worker', () => {
  it('when jobs of two portals are due, then each group handed to the handler holds one portal, up to its batch size', async () => {
    const store = await testStore('a', 'b');
    for (let i = 0; i < 7; i++) await store.jobs.enqueue({ memberId: i % 2 ? 'a' : 'b', kind: 'k', key: `k:${i}`, payload: { i } });
    const groups: string[][] = [];
    const outbox = new Outbox(store, logger);
    outbox.register('k', {
      batchSize: 3,
      async run(jobs: Job[]) {
        groups.push(jobs.map((j) => j.memberId!));
        return new Map();
      },
    });
    await outbox.drain();
    assert.equal(groups.flat().length, 7);
    for (const g of groups) {
      assert.ok(g.length <= 3);
      assert.equal(new Set(g).size, 1, `a group mixed portals: ${g.join(',')}`);
    }
    assert.equal((await store.jobs.countByState()).done, 7);
  });

  it('when a handler reports a transient failure, then the job waits with back-off and keeps its reason', async () => {
    const store = await testStore('a');
    const job = await store.jobs.enqueue({ memberId: 'a', kind: 'k', key: 'k:1', payload: {} });
    const outbox = new Outbox(store, logger, { backoffMs: 60_000 });
    outbox.register('k', { async run(jobs) { return new Map(jobs.map((j) => [j.id, { kind: 'retry', code: 'XERO.SERVER', message: 'Xero had a problem' } as JobOutcome])); } });
    const before = Date.now();
    await outbox.drain();
    const after = (await store.jobs.get(job.id))!;
    assert.equal(after.state, 'pending');
    assert.equal(after.attempts, 1);
    assert.equal(after.lastErrorCode, 'XERO.SERVER');
    assert.ok(after.runAt >= before + 45_000, 'the retry waits for its back-off');
  });

  it('when a handler throws a permanent AppError, then the job needs attention with the message in words', async () => {
    const store = await testStore('a');
    const job = await store.jobs.enqueue({ memberId: 'a', kind: 'k', key: 'k:1', payload: {} });
    const outbox = new Outbox(store, logger);
    outbox.register('k', { async run() { throw new AppError('SYNC.MISSING_ACCOUNT_CODE', 'Product "Widget" has no Xero sales account.', 422); } });
    await outbox.drain();
    const after = (await store.jobs.get(job.id))!;
    assert.equal(after.state, 'needs_attention');
    assert.equal(after.lastError, 'Product "Widget" has no Xero sales account.');
  });

  it('when transient failures go on past the attempt limit, then the job needs attention instead of looping', async () => {
    const store = await testStore('a');
    const job = await store.jobs.enqueue({ memberId: 'a', kind: 'k', key: 'k:1', payload: {} });
    const outbox = new Outbox(store, logger, { maxAttempts: 3, backoffMs: 0 });
    let runs = 0;
    outbox.register('k', { async run(jobs) { runs++; return new Map(jobs.map((j) => [j.id, { kind: 'retry', code: 'XERO.NETWORK', message: 'unreachable', delayMs: 0 } as JobOutcome])); } });
    await outbox.drain();
    assert.equal(runs, 3);
    assert.equal((await store.jobs.get(job.id))!.state, 'needs_attention');
    assert.match((await store.jobs.get(job.id))!.lastError!, /gave up after 3 attempts/);
  });

  it('when the Xero connection needs reconnecting, then the job is paused, not failed', async () => {
    const store = await testStore('a');
    const job = await store.jobs.enqueue({ memberId: 'a', kind: 'k', key: 'k:1', payload: {} });
    const outbox = new Outbox(store, logger);
    outbox.register('k', { async run() { throw new AppError('XERO.NEEDS_RECONNECT', 'Demo Ltd needs reconnecting.', 409); } });
    await outbox.drain();
    assert.equal((await store.jobs.get(job.id))!.state, 'paused');
    assert.equal(await store.jobs.resume('a'), 1);
  });

  it('when back-off grows, then it doubles per attempt within ±25 % and stops at an hour', () => {
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, 1000);
      assert.ok(d >= 3000 && d <= 5000, String(d));
    }
    assert.ok(backoffDelay(40, 1000) <= 75 * 60_000);
  });
});

describe('retention', () => {
  it('when housekeeping runs, then finished jobs past 30 days, activity past 180 days and event tallies past two days go, and recent or live ones stay', async () => {
    const store = await testStore('a');
    const day = 24 * 60 * 60_000;
    const now = Date.now();
    const old = await store.jobs.enqueue({ memberId: 'a', kind: 'k', key: 'old', payload: {} }, now - 40 * day);
    await store.jobs.claimDue(1, undefined, now - 40 * day);
    await store.jobs.complete(old, now - 40 * day);
    const recent = await store.jobs.enqueue({ memberId: 'a', kind: 'k', key: 'recent', payload: {} }, now - 40 * day);
    await store.jobs.claimDue(1, undefined, now - 2 * day);
    await store.jobs.complete(recent, now - 2 * day);
    const waiting = await store.jobs.enqueue({ memberId: 'a', kind: 'k', key: 'waiting', payload: {} }, now - 90 * day);
    await store.activity.record({ memberId: 'a', level: 'info', kind: 'x', message: 'ancient' }, now - 200 * day);
    await store.activity.record({ memberId: 'a', level: 'info', kind: 'x', message: 'fresh' }, now - day);
    await store.eventTallies.add('a', 'dropped:over_limit', 5, now - 3 * day);
    await store.eventTallies.add('a', 'dropped:over_limit', 2, now - day);

    const removed = await new IntakeSchedule(store, new Outbox(store, logger), logger).housekeeping(now);

    assert.deepEqual(removed, { jobs: 1, activity: 1, consents: 0, eventTallies: 1, portals: 0 });
    assert.deepEqual([...await store.eventTallies.since('a', 'dropped:', now - 10 * day)], [['over_limit', 2]]);
    assert.equal(await store.jobs.get(old.id), undefined);
    assert.equal((await store.jobs.get(recent.id))!.state, 'done');
    assert.equal((await store.jobs.get(waiting.id))!.state, 'pending');
    assert.deepEqual((await store.activity.list({ memberId: 'a' })).map((a) => a.message), ['fresh']);
  });
});
