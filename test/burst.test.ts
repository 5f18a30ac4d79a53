// Bursts batched like backlogs: the outbox fills batches while a burst arrives; parallel groups share one contact
// resolution.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DocumentCustomer } from '../app/domain/document.js';
import { Outbox, fillUntil, type ClaimMore, type FillState } from '../app/sync/outbox.js';
import type { Job } from '../app/store/jobs.js';
import type { B24Event } from '../app/bitrix/request-auth.js';
import { isLikelyEcho } from '../app/sync/intake/intake.js';
import { announceCustomers, resolveContacts } from '../app/xero/contacts.js';
import { captureLogger } from './helpers/log-capture.js';
import { testStore } from './helpers/store.js';
import { xeroTestbed } from './helpers/xero.js';

const { logger } = captureLogger();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The outbox's default filling rule: quiet 400 ms, a lone document within 1.5 s, a burst up to 10 s. */
const RULE = { quietMs: 400, maxMs: 1500, burstMaxMs: 10_000 };

describe('the filling rule (on a controlled clock)', () => {
  /** Jobs arriving every `everyMs` from t=0 on, as many as have arrived by `now`; all due at once. */
  const arriving = (everyMs: number, now: number, upTo = Infinity): FillState => {
    const arrivals = Array.from({ length: Math.min(upTo, Math.floor(now / everyMs) + 1) }, (_, i) => i * everyMs);
    return { due: arrivals.length, batchSize: 50, oldestDueAt: 0, arrivals, now };
  };

  it('when a burst keeps arriving, then a partial batch waits past the lone-document cap and goes out once it is full', () => {
    // 20 jobs a second (a burst delivered slowly): 50 take 2.45 s, longer than the 1.5 s a lone document waits.
    for (let now = 0; now < 2450; now += 50) assert.ok(fillUntil(arriving(50, now), RULE) > now, `the batch went out part-filled at ${now} ms`);
    assert.equal(fillUntil(arriving(50, 2450), RULE), 0, 'a full batch goes out at once');
  });

  it('when one lone job arrives and nothing comes after it, then it goes out alone once the quiet time has passed', () => {
    const lone = (now: number): FillState => ({ due: 1, batchSize: 50, oldestDueAt: 0, arrivals: [0], now });
    assert.equal(fillUntil(lone(250), RULE), 400, 'it waits only for the quiet time after it');
    assert.equal(fillUntil(lone(400), RULE), 0);
    assert.equal(fillUntil(lone(5000), RULE), 0);
  });

  it('when a burst stops short of a batch, then what came goes out once the quiet time after the last arrival has passed', () => {
    const stopped = (now: number) => arriving(50, now, 30); // 30 jobs by 1.45 s, then nothing
    assert.ok(fillUntil(stopped(1500), RULE) > 1500);
    assert.equal(fillUntil(stopped(1450 + RULE.quietMs), RULE), 0);
  });

  it('when jobs trickle in too slowly to fill a batch within the burst cap, then a partial batch waits no longer than a lone one', () => {
    // Two a second: 50 would take 25 s.
    assert.equal(fillUntil(arriving(500, 1300), RULE), 1400, 'it waits for the quiet time after the last arrival');
    assert.equal(fillUntil(arriving(500, 1500), RULE), 0);
  });

  it('when a burst goes on past the burst cap, then the oldest job waits no longer than the cap', () => {
    const slow = (now: number): FillState => ({ ...arriving(100, now), due: 48 }); // the rest taken by other groups
    assert.equal(fillUntil(slow(9_700), RULE), 10_000);
    assert.equal(fillUntil(slow(10_000), RULE), 0);
  });

  it('when a handler batches nothing (batch size 1) or the batch is full, then nothing waits', () => {
    assert.equal(fillUntil({ ...arriving(10, 100), batchSize: 1 }, RULE), 0);
    assert.equal(fillUntil({ ...arriving(10, 100), due: 50 }, RULE), 0);
  });
});

describe('bursts', () => {
  it('when a group tops itself up while nothing is arriving, then it gets the due jobs of its own portal once, and all their outcomes are recorded', async () => {
    const store = await testStore('a', 'b');
    for (let k = 0; k < 10; k++) await store.jobs.enqueue({ memberId: 'a', kind: 'push', key: `push:a:${k}`, payload: { k } });
    let worked!: (ids: number[]) => void;
    const got = new Promise<number[]>((r) => (worked = r));
    const outbox = new Outbox(store, logger, { fillQuietMs: 0, parallelGroups: 1 });
    let first = true;
    outbox.register('push', {
      batchSize: 4,
      async run(jobs: Job[], more?: ClaimMore) {
        if (!first) return new Map();
        first = false;
        // Jobs of another portal arrive meanwhile: a top-up never mixes organisations.
        for (let k = 0; k < 3; k++) await store.jobs.enqueue({ memberId: 'b', kind: 'push', key: `push:b:${k}`, payload: { k } });
        const extra = await more!(10);
        // Nothing is arriving: after one top-up the group goes with what it has.
        assert.deepEqual(await more!(10), []);
        worked([...jobs, ...extra].map((j) => j.id));
        return new Map();
      },
    });
    await outbox.drain();
    const ids = await got;
    assert.equal(ids.length, 10);
    const jobs = [];
    for (const id of ids) jobs.push((await store.jobs.get(id))!);
    assert.deepEqual(new Set(jobs.map((j) => j.memberId)), new Set(['a']));
    assert.deepEqual(jobs.map((j) => j.state), ids.map(() => 'done'));
  });

  it('when likely echoes and new documents are due, then a claim takes the new documents first, and a batch filling waits for new documents only', { timeout: 20_000 }, async () => {
    const store = await testStore('a');
    for (let k = 0; k < 6; k++) await store.jobs.enqueue({ memberId: 'a', kind: 'push', key: `push:${k}`, payload: { k, ...(k < 4 ? { likelyEcho: true } : {}) } });
    assert.deepEqual((await store.jobs.dueSummary(['push'], Date.now(), 'a', { freshOnly: true })).count, 2);
    const claimed = await store.jobs.claimDue(3, ['push'], Date.now(), 'a', { freshFirst: true });
    assert.deepEqual(claimed.map((j) => (j.payload as { k: number }).k), [4, 5, 0]);
    // Only echoes due: they go at once (they need no Xero request), whatever is still arriving.
    const echoesOnly = await testStore('a');
    for (let k = 0; k < 3; k++) await echoesOnly.jobs.enqueue({ memberId: 'a', kind: 'push', key: `push:${k}`, payload: { likelyEcho: true } });
    let sizes!: (n: number) => void;
    const got = new Promise<number>((r) => (sizes = r));
    const outbox = new Outbox(echoesOnly, logger, { wakeDelayMs: 0, fillQuietMs: 60_000, fillMaxMs: 60_000 });
    outbox.register('push', { batchSize: 50, async run(jobs: Job[]) { sizes(jobs.length); return new Map(); } });
    outbox.start();
    try {
      outbox.wake(); // an arrival: a batch of new documents would wait a minute here
      assert.equal(await got, 3);
    } finally {
      await outbox.stop();
    }
  });

  it('when an update event comes for a document pushed a moment ago, then it is taken as a likely echo; a new document or an old push is not', async () => {
    const bed = await xeroTestbed();
    const event = (name: string, id: string) => ({ event: name, data: { FIELDS: { ID: id, ENTITY_TYPE_ID: '31' } }, auth: {} }) as unknown as B24Event;
    await bed.store.links.save({ memberId: bed.memberId, connectionId: bed.connectionId, b24Type: 'smart_invoice', b24Id: '7', xeroType: 'invoice', xeroId: 'x-7', xeroNumber: 'INV-7', contentHash: 'h', xeroStatus: 'DRAFT', xeroUpdatedAt: null });
    assert.equal((await isLikelyEcho(bed.store, bed.memberId, event('ONCRMDYNAMICITEMUPDATE', '7'))), true);
    assert.equal((await isLikelyEcho(bed.store, bed.memberId, event('ONCRMDYNAMICITEMUPDATE', '7'), Date.now() + 5 * 60_000)), false, 'an edit minutes after the push is new work');
    assert.equal((await isLikelyEcho(bed.store, bed.memberId, event('ONCRMDYNAMICITEMUPDATE', '8'))), false, 'a document never pushed');
    assert.equal((await isLikelyEcho(bed.store, bed.memberId, event('ONCRMDYNAMICITEMDELETE', '7'))), false, 'a deletion');
  });

  it('when one group announces its new customers and another resolves first, then one create serves both and the first group makes no call', async () => {
    const bed = await xeroTestbed();
    const customer = (n: number): DocumentCustomer => ({ kind: 'company', id: String(5000 + n), name: `Announced Customer ${n}`, email: null });
    const waiting = Array.from({ length: 10 }, (_, i) => customer(i)); // a group still topping up its batch
    const resolving = Array.from({ length: 10 }, (_, i) => customer(10 + i));
    bed.emu.resetCounters();
    const withdraw = announceCustomers(bed.gateway, waiting);
    try {
      const first = await resolveContacts(bed.gateway, bed.tenantId, resolving, new Map());
      assert.equal(first.contactIds.size, 10);
      assert.equal(bed.emu.callCount('PUT /Contacts'), 1);
      const calls = bed.emu.counters.total;
      const later = await resolveContacts(bed.gateway, bed.tenantId, waiting, new Map());
      assert.equal(later.contactIds.size, 10);
      assert.equal(later.links.length, 10, 'the waiting group still gets the links to save');
      assert.equal(bed.emu.counters.total, calls, 'the announced customers were created with the first resolution');
    } finally {
      withdraw();
    }
    const names = bed.emu.contacts(bed.tenantId).map((c) => String(c.Name)).filter((n) => n.startsWith('Announced Customer'));
    assert.equal(names.length, 20);
    assert.equal(new Set(names).size, 20);
    bed.emu.assertNoSpecViolations();
  });

  it('when 120 jobs arrive a few at a time while the worker runs, then they are claimed as full batches of 50 and the rest', async () => {
    const store = await testStore('a');
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
        for (let k = i; k < i + 2; k++) await store.jobs.enqueue({ memberId: 'a', kind: 'push', key: `push:${k}`, payload: { k } });
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
    const store = await testStore('a');
    let worked!: (n: number) => void;
    const got = new Promise<number>((r) => (worked = r));
    const outbox = new Outbox(store, logger);
    outbox.register('push', { batchSize: 50, async run(jobs: Job[]) { worked(jobs.length); return new Map(); } });
    outbox.start();
    try {
      await store.jobs.enqueue({ memberId: 'a', kind: 'push', key: 'push:1', payload: {} });
      outbox.wake();
      assert.equal(await got, 1);
    } finally {
      await outbox.stop();
    }
  });

  it('when a partial batch waits to fill and nothing runs, then the worker sleeps until the wait ends instead of looking again and again', async () => {
    const store = await testStore('a');
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
      await store.jobs.enqueue({ memberId: 'a', kind: 'push', key: 'push:1', payload: {} });
      outbox.wake();
      await got;
    } finally {
      await outbox.stop();
    }
    // One look that starts the wait and one when it ends (a few more if timers fire early); a busy loop makes hundreds.
    assert.ok(looks <= 6, `the queue was read ${looks} times during one wait`);
  });

  it('when a lone job arrives while an earlier group is still at work, then it is claimed in a free slot without waiting for that group', async () => {
    const store = await testStore('a');
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
      await store.jobs.enqueue({ memberId: 'a', kind: 'slow', key: 'slow:1', payload: {} });
      outbox.wake();
      await slowRunning;
      await store.jobs.enqueue({ memberId: 'a', kind: 'push', key: 'push:lone', payload: {} });
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
