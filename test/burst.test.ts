// Bursts batched like backlogs: the outbox fills batches while a burst arrives; parallel groups share one contact
// resolution.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DocumentCustomer } from '../app/sync/document.js';
import { Outbox } from '../app/sync/outbox.js';
import type { Job } from '../app/store/jobs.js';
import { resolveContacts } from '../app/xero/contacts.js';
import { captureLogger } from './helpers/log-capture.js';
import { testStore } from './helpers/store.js';
import { xeroTestbed } from './helpers/xero.js';

const { logger } = captureLogger();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bursts', () => {
  it('when 120 jobs arrive a few at a time while the worker runs, then they are claimed as full batches of 50 and the rest', async () => {
    const store = testStore('a');
    const sizes: number[] = [];
    let seen = 0;
    let allDone!: () => void;
    const done = new Promise<void>((r) => (allDone = r));
    const outbox = new Outbox(store, logger, { fillQuietMs: 300, fillMaxMs: 5000 });
    outbox.register('push', {
      batchSize: 50,
      async run(jobs: Job[]) {
        sizes.push(jobs.length);
        seen += jobs.length;
        if (seen === 120) allDone();
        return new Map();
      },
    });
    outbox.start();
    try {
      // Two jobs every 20 ms: about 1.2 s of arrivals, far longer than one wake-up delay.
      for (let i = 0; i < 120; i += 2) {
        for (let k = i; k < i + 2; k++) store.jobs.enqueue({ memberId: 'a', kind: 'push', key: `push:${k}`, payload: { k } });
        outbox.wake();
        await sleep(20);
      }
      await done;
    } finally {
      await outbox.stop();
    }
    assert.deepEqual(sizes, [50, 50, 20]);
  });

  it('when a single job arrives and nothing else comes, then it is worked without a full batch', async () => {
    const store = testStore('a');
    let worked!: (n: number) => void;
    const got = new Promise<number>((r) => (worked = r));
    const outbox = new Outbox(store, logger);
    outbox.register('push', { batchSize: 50, async run(jobs: Job[]) { worked(jobs.length); return new Map(); } });
    outbox.start();
    try {
      store.jobs.enqueue({ memberId: 'a', kind: 'push', key: 'push:1', payload: {} });
      outbox.wake();
      assert.equal(await got, 1);
    } finally {
      await outbox.stop();
    }
  });

  it('when a partial batch waits to fill and nothing runs, then the worker sleeps until the wait ends instead of looking again and again', async () => {
    const store = testStore('a');
    let looks = 0;
    const summary = store.jobs.dueSummary.bind(store.jobs);
    store.jobs.dueSummary = (kinds, now) => {
      looks++;
      return summary(kinds, now);
    };
    let worked!: () => void;
    const got = new Promise<void>((r) => (worked = r));
    const outbox = new Outbox(store, logger, { fillQuietMs: 400, fillMaxMs: 400, wakeDelayMs: 10 });
    outbox.register('push', { batchSize: 50, async run() { worked(); return new Map(); } });
    outbox.start();
    try {
      store.jobs.enqueue({ memberId: 'a', kind: 'push', key: 'push:1', payload: {} });
      outbox.wake();
      await got;
    } finally {
      await outbox.stop();
    }
    // One look that starts the wait and one when it ends (a few more if timers fire early); a busy loop makes hundreds.
    assert.ok(looks <= 6, `the queue was read ${looks} times during one wait`);
  });

  it('when a lone job arrives while an earlier group is still at work, then it is claimed in a free slot without waiting for that group', async () => {
    const store = testStore('a');
    let releaseSlow!: () => void;
    const slowHeld = new Promise<void>((r) => (releaseSlow = r));
    let slowStarted!: () => void;
    const slowRunning = new Promise<void>((r) => (slowStarted = r));
    let loneClaimed!: (slowStillRunning: boolean) => void;
    const lone = new Promise<boolean>((r) => (loneClaimed = r));
    let slowDone = false;
    const outbox = new Outbox(store, logger, { fillQuietMs: 50, fillMaxMs: 100, wakeDelayMs: 10 });
    // The tail of a burst (e.g. its write-backs) keeps one group busy until the test lets it go.
    outbox.register('slow', { async run() { slowStarted(); await slowHeld; slowDone = true; return new Map(); } });
    outbox.register('push', { batchSize: 50, async run() { loneClaimed(!slowDone); return new Map(); } });
    outbox.start();
    try {
      store.jobs.enqueue({ memberId: 'a', kind: 'slow', key: 'slow:1', payload: {} });
      outbox.wake();
      await slowRunning;
      store.jobs.enqueue({ memberId: 'a', kind: 'push', key: 'push:lone', payload: {} });
      outbox.wake();
      // Not a speed check: the slow group is let go only if the lone job was not claimed meanwhile (then it is late).
      const watchdog = setTimeout(releaseSlow, 5000);
      const claimedWhileSlowRan = await lone;
      clearTimeout(watchdog);
      assert.equal(claimedWhileSlowRan, true, 'the lone job waited for an unrelated group to finish');
    } finally {
      releaseSlow();
      await outbox.stop();
    }
  });

  it('when parallel groups resolve overlapping new customers at once, then one read and one create serve them all and none is created twice', async () => {
    const bed = await xeroTestbed();
    const customer = (n: number): DocumentCustomer => ({ kind: 'company', id: String(1000 + n), name: `Burst Customer ${n}`, email: null });
    const groups = [0, 1, 2, 3].map((g) => Array.from({ length: 15 }, (_, i) => customer(g * 5 + i))); // 30 customers, overlapping
    bed.emu.resetCounters();
    const results = await Promise.all(groups.map((cs) => resolveContacts(bed.gateway, bed.tenantId, cs, new Map())));
    assert.equal(bed.emu.callCount('PUT /Contacts'), 1);
    assert.equal(bed.emu.callCount('GET /Contacts'), 1);
    for (const [g, r] of results.entries()) assert.equal(r.contactIds.size, groups[g].length);
    const names = bed.emu.contacts(bed.tenantId).map((c) => c.Name).filter((n) => String(n).startsWith('Burst Customer'));
    assert.equal(names.length, 30);
    assert.equal(new Set(names).size, 30);

    // The same customers again in the same burst: answered from memory, no call.
    bed.emu.resetCounters();
    await resolveContacts(bed.gateway, bed.tenantId, groups[2], new Map());
    assert.equal(bed.emu.counters.total, 0);
    bed.emu.assertNoSpecViolations();
  });
});
