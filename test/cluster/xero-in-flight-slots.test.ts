// Xero's in-flight slots on PostgreSQL (app/cluster/xero-call-limits.ts): leased to their instance, renewed while it
// lives, taken back once a dead instance's lease runs out. Each instance is its own pool on one fresh database.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type pg from 'pg';
import { openClusterPool, sleep } from '../../app/cluster/pg-pool.js';
import { PgXeroCallLimits } from '../../app/cluster/xero-call-limits.js';
import { LimitReached } from '../../app/errors.js';
import { openPostgresDb } from '../../app/store/postgres-driver.js';
import { withPostgres } from '../helpers/postgres.js';

const { url } = await withPostgres();
const pools: pg.Pool[] = [];
const opened: PgXeroCallLimits[] = [];
after(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close().catch(() => undefined)));
  await Promise.all(pools.splice(0).map((p) => p.end().catch(() => undefined)));
});

async function pgInstance(i: number, slotTtlMs: number): Promise<{ limits: PgXeroCallLimits; pool: pg.Pool }> {
  const pool = openClusterPool({ connectionString: url!, max: 6, name: `slots-${i}` });
  pools.push(pool);
  const limits = await PgXeroCallLimits.open(pool, { slotTtlMs, pollMs: 20 });
  opened.push(limits);
  return { limits, pool };
}

describe('Xero call limits on PostgreSQL: a dead instance', { skip: url ? false : 'PostgreSQL is not reachable' }, () => {
  it('when an instance dies holding in-flight slots, then its slots are free again once their lease runs out, and not before', async () => {
    const org = `org-${Math.random()}`;
    const dead = await pgInstance(20, 900);
    const live = await pgInstance(21, 900);
    for (let i = 0; i < 5; i++) await dead.limits.acquire(org); // five calls on the wire when the instance is SIGKILLed
    await dead.limits.close({ release: false });
    await dead.pool.end();
    const diedAt = Date.now();
    await assert.rejects(live.limits.acquire(org, { waitMs: 300 }), (e: unknown) => e instanceof LimitReached && e.code === 'XERO.LIMIT_WAIT');
    const permit = await live.limits.acquire(org, { waitMs: 3000 });
    const after = Date.now() - diedAt;
    assert.ok(after >= 500 && after < 2500, `the slot was taken back ${after} ms after the death`);
    await permit.release();
  });

  it('when a live instance holds a slot longer than its lease, then its renewal keeps it', async () => {
    const org = `org-${Math.random()}`;
    const { limits: a } = await pgInstance(22, 600);
    const { limits: bb } = await pgInstance(23, 600);
    const held = await Promise.all(Array.from({ length: 5 }, () => a.acquire(org)));
    await sleep(1300); // two lease times: renewed meanwhile
    assert.equal((await bb.usage(org)).inFlight, 5);
    await assert.rejects(bb.acquire(org, { waitMs: 200 }), LimitReached);
    await Promise.all(held.map((p) => p.release()));
    await (await bb.acquire(org, { waitMs: 500 })).release();
  });

  it('when an instance runs on the store\'s own pool (BIGINTs as numbers), then its slots count with the others\'', async () => {
    const org = `org-${Math.random()}`;
    const db = await openPostgresDb(url!, { max: 3 });
    const onStore = await PgXeroCallLimits.open(db.pool, { slotTtlMs: 900, pollMs: 20 });
    const { limits: other } = await pgInstance(24, 900);
    try {
      const held = await Promise.all(Array.from({ length: 5 }, () => onStore.acquire(org)));
      assert.equal((await other.usage(org)).inFlight, 5);
      await assert.rejects(other.acquire(org, { waitMs: 150 }), LimitReached);
      await Promise.all(held.map((p) => p.release()));
      assert.equal((await other.usage(org)).inFlight, 0);
    } finally {
      await onStore.close();
      await db.close();
    }
  });
});
