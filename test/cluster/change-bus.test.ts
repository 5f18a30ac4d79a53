// The change bus (app/cluster/change-bus.ts): in one process an EventEmitter; on PostgreSQL, three instances, each
// its own pool and listener, on one fresh database (NOTIFY reaches only its own database's listeners).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { InProcessChangeBus, PgChangeBus, RESYNC, type ChangeBus } from '../../app/cluster/change-bus.js';
import { openClusterPool, sleep } from '../../app/cluster/pg-pool.js';
import { withPostgres } from '../helpers/postgres.js';

const { url } = await withPostgres();
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

async function pgBus(i: number): Promise<PgChangeBus> {
  const pool = openClusterPool({ connectionString: url!, max: 2, name: `bus-${i}` });
  const bus = await PgChangeBus.open({ connectionString: url!, pool, name: `bus-${i}`, reconnectMs: 50 });
  closers.push(() => pool.end(), () => bus.close());
  return bus;
}

/** Resolves with what `bus` hears for `memberId` next, or rejects after `ms`. */
function next(bus: ChangeBus, memberId: string, ms = 1000): Promise<{ what: string; after: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`nothing heard for ${memberId} within ${ms} ms`));
    }, ms);
    const off = bus.subscribe(memberId, (what) => {
      clearTimeout(timer);
      off();
      resolve({ what, after: Date.now() - t0 });
    });
  });
}

const backends: { name: string; skip: string | false; three: () => Promise<ChangeBus[]> }[] = [
  { name: 'in-process', skip: false, three: async () => { const one = new InProcessChangeBus(); return [one, one, one]; } },
  { name: 'PostgreSQL, three instances', skip: url ? false : 'PostgreSQL is not reachable', three: () => Promise.all([0, 1, 2].map(pgBus)) },
];

for (const b of backends) {
  describe(`change bus: ${b.name}`, { skip: b.skip }, () => {
    it('when one instance publishes a portal\'s change, then the subscribers of that portal on every instance hear it within a second, and others do not', async () => {
      const [a, bb, c] = await b.three() as [ChangeBus, ChangeBus, ChangeBus];
      const heardElsewhere: string[] = [];
      const off = c.subscribe('portal-2', (w) => heardElsewhere.push(w));
      const onB = next(bb, 'portal-1');
      const onC = next(c, 'portal-1');
      await a.publish('portal-1', 'jobs');
      const [hb, hc] = await Promise.all([onB, onC]);
      assert.deepEqual([hb.what, hc.what], ['jobs', 'jobs']);
      assert.ok(hb.after < 1000 && hc.after < 1000);
      await sleep(50);
      assert.deepEqual(heardElsewhere, []);
      off();
    });

    it('when a subscriber throws or unsubscribes, then the others still hear and it hears no more', async () => {
      const [a, bb] = await b.three() as [ChangeBus, ChangeBus];
      const heard: string[] = [];
      bb.subscribe('portal-3', () => { throw new Error('a broken page'); });
      const off = bb.subscribe('portal-3', (w) => heard.push(w));
      const onB = next(bb, 'portal-3');
      await a.publish('portal-3', 'settings');
      assert.equal((await onB).what, 'settings');
      off();
      await a.publish('portal-3', 'again');
      await sleep(150);
      assert.deepEqual(heard, ['settings']);
    });
  });
}

describe('change bus on PostgreSQL: the listener\'s connection lost', { skip: url ? false : 'PostgreSQL is not reachable' }, () => {
  it('when the listening connection is terminated, then it reconnects, its subscribers hear resync, and publishes from the others reach it again', async () => {
    const [a, bb] = await Promise.all([pgBus(10), pgBus(11)]);
    const pid = bb.listenerPid;
    assert.ok(pid);
    const resync = next(bb, 'portal-1', 5000);
    const admin = new pg.Client({ connectionString: url! });
    await admin.connect();
    // A PostgreSQL restart, as far as this instance can tell: its listening backend is gone.
    const killed = await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await admin.end();
    assert.equal(killed.rows[0].pg_terminate_backend, true);
    assert.equal((await resync).what, RESYNC);
    assert.equal(bb.reconnects, 1);
    assert.notEqual(bb.listenerPid, pid);
    const heard = next(bb, 'portal-1');
    await a.publish('portal-1', 'pushed');
    assert.equal((await heard).what, 'pushed');
  });
});
