// Xero's limits held for the cluster (app/cluster/xero-call-limits.ts): the same contract for the in-process counts
// and for PostgreSQL with three instances (each its own pool) hammering one organisation. The window is shortened
// to 1.2 s (buckets of 200 ms) so a few windows pass within seconds; the counts per window are Xero's 5 and 60.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type pg from 'pg';
import { openClusterPool, sleep } from '../../app/cluster/pg-pool.js';
import { InProcessXeroCallLimits, PgXeroCallLimits, type XeroCallLimits, type XeroCallLimitsConfig } from '../../app/cluster/xero-call-limits.js';
import { LimitReached } from '../../app/errors.js';
import { withPostgres } from '../helpers/postgres.js';

const { url } = await withPostgres();
const WINDOW_MS = 1200;
const LIMITS: Partial<XeroCallLimitsConfig> = { concurrent: 5, perMinute: 60, xeroPerMinute: 60, windowMs: WINDOW_MS };
const pools: pg.Pool[] = [];
const opened: PgXeroCallLimits[] = [];
after(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close().catch(() => undefined)));
  await Promise.all(pools.splice(0).map((p) => p.end().catch(() => undefined)));
});

async function pgInstance(i: number, o: { limits?: Partial<XeroCallLimitsConfig>; bucketMs?: number } = {}): Promise<{ limits: PgXeroCallLimits; pool: pg.Pool }> {
  const pool = openClusterPool({ connectionString: url!, max: 6, name: `limits-${i}` });
  pools.push(pool);
  const limits = await PgXeroCallLimits.open(pool, { limits: o.limits ?? LIMITS, bucketMs: o.bucketMs ?? 200, slotTtlMs: 1500, pollMs: 20 });
  opened.push(limits);
  return { limits, pool };
}

let orgs = 0;
/** A fresh organisation per case, so the cases of one database do not share counts. */
const freshOrg = () => `org-${++orgs}-${Date.now()}`;

/** The most calls that started inside any one window. */
function mostInAWindow(starts: number[]): number {
  const t = [...starts].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= WINDOW_MS) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

type Three = (limits?: Partial<XeroCallLimitsConfig>, bucketMs?: number) => Promise<XeroCallLimits[]>;
const backends: { name: string; skip: string | false; three: Three }[] = [
  { name: 'in-process', skip: false, three: async (limits = LIMITS) => { const one = new InProcessXeroCallLimits(limits); return [one, one, one]; } },
  {
    name: 'PostgreSQL, three instances',
    skip: url ? false : 'PostgreSQL is not reachable',
    three: async (limits, bucketMs) => (await Promise.all([0, 1, 2].map((i) => pgInstance(i, { limits, bucketMs })))).map((x) => x.limits),
  },
];

for (const b of backends) {
  describe(`Xero call limits: ${b.name}`, { skip: b.skip }, () => {
    it('when three instances hammer one organisation, then at most 5 calls are in flight and at most 60 start in any window', async () => {
      const org = freshOrg();
      const three = await b.three();
      const starts: number[] = [];
      let inFlight = 0;
      let most = 0;
      const call = async (l: XeroCallLimits) => {
        const permit = await l.acquire(org, { waitMs: 8000 });
        starts.push(Date.now());
        inFlight += 1;
        most = Math.max(most, inFlight);
        await sleep(10 + Math.random() * 30); // Xero answering
        inFlight -= 1;
        await permit.release();
      };
      // 75 calls: more than a window's worth, so the minute limit (not only the in-flight one) makes them wait.
      await Promise.all(three.flatMap((l) => Array.from({ length: 25 }, () => call(l))));
      assert.equal(starts.length, 75);
      assert.ok(most <= 5, `${most} calls were in flight at once`);
      assert.equal(most, 5, 'the five slots are used');
      const inWindow = mostInAWindow(starts);
      assert.ok(inWindow <= 60, `${inWindow} calls started within one window`);
      assert.ok(inWindow >= 45, `the window is used (${inWindow} at most in one)`);
    });

    it('when Xero says fewer calls are left in the minute than counted, then the other instances wait for the window', async () => {
      const org = freshOrg();
      const [a, bb] = await b.three() as [XeroCallLimits, XeroCallLimits];
      await (await a.acquire(org)).release();
      // Another process (an earlier start, the import) spent the rest of Xero's minute.
      await a.observe(org, { minuteRemaining: 0 });
      assert.equal((await bb.usage(org)).minute, 60);
      const t0 = Date.now();
      await assert.rejects(bb.acquire(org, { waitMs: 300 }), (e: unknown) => e instanceof LimitReached && e.code === 'XERO.LIMIT_WAIT');
      const permit = await bb.acquire(org, { waitMs: WINDOW_MS * 2 });
      assert.ok(Date.now() - t0 >= WINDOW_MS * 0.8, `it waited for the window (${Date.now() - t0} ms)`);
      await permit.release();
      // A higher count than ours changes nothing: the counts are only ever lowered.
      const before = (await bb.usage(org)).minute;
      await a.observe(org, { minuteRemaining: 59 });
      assert.equal((await bb.usage(org)).minute, before);
    });

    it('when Xero says the day is spent, then every instance refuses at once with XERO.DAY_LIMIT, and a higher reading just after does not undo it', async () => {
      const org = freshOrg();
      const [a, bb, c] = await b.three() as [XeroCallLimits, XeroCallLimits, XeroCallLimits];
      await a.observe(org, { dayRemaining: 2 });
      await (await bb.acquire(org)).release();
      assert.equal((await c.usage(org)).dayRemaining, 1, 'a call made since Xero said so is taken off');
      await a.observe(org, { dayRemaining: 0 });
      await a.observe(org, { dayRemaining: 7 }); // an older answer arriving late
      const t0 = Date.now();
      await assert.rejects(c.acquire(org), (e: unknown) => e instanceof LimitReached && e.code === 'XERO.DAY_LIMIT');
      assert.ok(Date.now() - t0 < 500, 'refused at once, not after a wait');
      assert.equal((await bb.usage(org)).inFlight, 0, 'the refused call holds no slot');
    });

    it('when calls stay in flight longer than the window, then they count until answered, and free a window after their answer', async () => {
      const org = freshOrg();
      const [a, bb] = await b.three({ concurrent: 5, perMinute: 3, windowMs: 600 }, 100) as [XeroCallLimits, XeroCallLimits];
      const slow = await Promise.all([a.acquire(org), a.acquire(org), bb.acquire(org)]);
      await sleep(800); // Xero has not answered: it may have counted them only just now
      await assert.rejects(bb.acquire(org, { waitMs: 250 }), (e: unknown) => e instanceof LimitReached && e.code === 'XERO.LIMIT_WAIT');
      await Promise.all(slow.map((p) => p.release()));
      const answeredAt = Date.now();
      const next = await bb.acquire(org, { waitMs: 3000 });
      assert.ok(Date.now() - answeredAt >= 550, `the window freed ${Date.now() - answeredAt} ms after the answers`);
      await next.release();
    });

    it('when a 429 paused the organisation on one instance, then the others start no call before its end', async () => {
      const org = freshOrg();
      const [a, bb] = await b.three() as [XeroCallLimits, XeroCallLimits];
      const until = Date.now() + 400;
      await a.pause(org, until);
      const permit = await bb.acquire(org, { waitMs: 2000 });
      assert.ok(Date.now() >= until - 20, 'started after the pause');
      await permit.release();
    });
  });
}
