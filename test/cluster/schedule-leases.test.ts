// One of each schedule for the cluster (app/cluster/schedule-leases.ts): two and three instances, each its own pool,
// on one fresh database; a SIGKILLed instance is one whose pool simply stops (no release, no renewal).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type pg from 'pg';
import { openClusterPool, sleep } from '../../app/cluster/pg-pool.js';
import { ensureScheduleTables, InProcessScheduleLeases, PgScheduleLeases, type ScheduleLeases } from '../../app/cluster/schedule-leases.js';
import { withPostgres } from '../helpers/postgres.js';

const { url } = await withPostgres();
const pools: pg.Pool[] = [];
after(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end().catch(() => undefined)));
});
const TTL = 600;

async function instances(n: number): Promise<{ leases: PgScheduleLeases[]; pools: pg.Pool[] }> {
  const mine = Array.from({ length: n }, (_, i) => openClusterPool({ connectionString: url!, max: 2, name: `sched-${i}` }));
  pools.push(...mine);
  await ensureScheduleTables(mine[0]!);
  return { leases: mine.map((p, i) => new PgScheduleLeases(p, { ttlMs: TTL, holder: `i${i}` })), pools: mine };
}

describe('schedule leases: the interval bookkeeping, both implementations', () => {
  const backends: { name: string; skip: string | false; make: () => Promise<ScheduleLeases> }[] = [
    { name: 'in-process', skip: false, make: async () => new InProcessScheduleLeases() },
    { name: 'PostgreSQL', skip: url ? false : 'PostgreSQL is not reachable', make: async () => (await instances(1)).leases[0]! },
  ];
  for (const b of backends) {
    it(`${b.name}: when an interval was claimed, then it is not claimed again, and an earlier one neither`, { skip: b.skip }, async () => {
      const l = await b.make();
      const key = `poll-${b.name}`;
      assert.equal(await l.hold(key), true);
      assert.equal(await l.claimInterval(key, 10), true);
      assert.equal(await l.claimInterval(key, 10), false);
      assert.equal(await l.claimInterval(key, 9), false);
      assert.equal(await l.claimInterval(key, 11), true);
      assert.equal(await l.claimInterval(key, 11, `${key}:conn-7`), true, 'another key of the schedule has its own intervals');
      assert.deepEqual(l.held().includes(key), true);
    });
  }
});

describe('schedule leases on PostgreSQL: several instances', { skip: url ? false : 'PostgreSQL is not reachable' }, () => {
  it('when three instances renew the same schedules, then each schedule has exactly one holder', async () => {
    const { leases } = await instances(3);
    const schedules = ['status-poll', 'drain-offline', 'reconcile', 'token-upkeep', 'retention'];
    for (const l of leases) l.start(schedules);
    await sleep(TTL);
    for (const s of schedules) {
      const holders = leases.filter((l) => l.held().includes(s));
      assert.equal(holders.length, 1, `${s} is held by ${holders.map((h) => h.holder).join(', ') || 'nobody'}`);
      const others = await Promise.all(leases.filter((l) => l !== holders[0]).map((l) => l.hold(s)));
      assert.deepEqual(others, [false, false], `no other instance takes ${s} from its live holder`);
    }
    await Promise.all(leases.map((l) => l.stop()));
  });

  it('when the holder stops renewing (killed), then another instance takes its schedule within the lease time, and a graceful stop hands it over at once', async () => {
    const { leases, pools: mine } = await instances(2);
    const [a, b] = leases as [PgScheduleLeases, PgScheduleLeases];
    a.start(['retention']);
    await sleep(100);
    b.start(['retention']);
    await sleep(100);
    assert.deepEqual([a.held(), b.held()], [['retention'], []]);
    // SIGKILL: the instance's timers and connections simply stop; its lease row stays until it runs out.
    await a.stop({ release: false });
    await mine[0]!.end();
    const killedAt = Date.now();
    while (!b.held().includes('retention')) {
      assert.ok(Date.now() - killedAt < TTL * 3, 'the survivor took the schedule within the lease time');
      await sleep(25);
    }
    assert.ok(Date.now() - killedAt >= TTL * 0.5, 'not before the dead holder\'s lease ran out');
    // A graceful stop releases: a third instance holds it at its next renewal.
    const [c] = (await instances(1)).leases as [PgScheduleLeases];
    await b.stop({ release: true });
    assert.equal(await c.hold('retention'), true);
  });

  it('when the lease changes hands mid-interval, then the interval the old holder ran is not run again, and only the holder may claim', async () => {
    const { leases, pools: mine } = await instances(2);
    const [a, b] = leases as [PgScheduleLeases, PgScheduleLeases];
    const ran: string[] = [];
    const tick = async (l: PgScheduleLeases, n: number) => {
      if ((await l.hold('status-poll')) && (await l.claimInterval('status-poll', n, 'status-poll:conn-1'))) ran.push(`${l.holder}:${n}`);
    };
    await tick(a, 100);
    await tick(b, 100); // b is not the holder
    assert.equal(await b.claimInterval('status-poll', 101, 'status-poll:conn-1'), false, 'a non-holder cannot claim an interval');
    await mine[0]!.end(); // a dies inside interval 100
    await sleep(TTL + 100);
    await tick(b, 100); // b now holds the lease, still in interval 100: already run
    await tick(b, 101);
    assert.deepEqual(ran, ['i0:100', 'i1:101']);
  });
});
