// Single-flight across the cluster (app/cluster/single-flight.ts): the same cases for the in-process queue (callers
// of one process) and the advisory lock on PostgreSQL (three instances, each its own pool, on one fresh database).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { openClusterPool, sleep } from '../../app/cluster/pg-pool.js';
import { InProcessSingleFlight, PgSingleFlight, SingleFlightTimeout, type SingleFlight } from '../../app/cluster/single-flight.js';
import { withPostgres } from '../helpers/postgres.js';

const { url } = await withPostgres();
const pools: pg.Pool[] = [];
after(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end().catch(() => undefined)));
});

/** Three callers: three instances on PostgreSQL, three callers of one process embedded. */
const backends: { name: string; skip: string | false; three: () => SingleFlight[] }[] = [
  { name: 'in-process', skip: false, three: () => { const one = new InProcessSingleFlight(); return [one, one, one]; } },
  {
    name: 'PostgreSQL, three instances',
    skip: url ? false : 'PostgreSQL is not reachable',
    three: () => [0, 1, 2].map((i) => {
      const p = openClusterPool({ connectionString: url!, max: 3, name: `flight-${i}` });
      pools.push(p);
      return new PgSingleFlight(p);
    }),
  },
];

for (const b of backends) {
  describe(`single-flight: ${b.name}`, { skip: b.skip }, () => {
    it('when three callers race on one key, then fn runs once at a time, each caller in turn', async () => {
      const flights = b.three();
      const trace: string[] = [];
      let inside = 0;
      let most = 0;
      await Promise.all(flights.map((f, i) => f.run('k-order', async () => {
        inside += 1;
        most = Math.max(most, inside);
        trace.push(`in${i}`);
        await sleep(60);
        trace.push(`out${i}`);
        inside -= 1;
      })));
      assert.equal(most, 1);
      assert.equal(trace.length, 6);
      for (let i = 0; i < 6; i += 2) assert.equal(trace[i]!.slice(2), trace[i + 1]!.slice(3), `each run ends before the next starts: ${trace.join(' ')}`);
    });

    it('when a refresh is raced by three callers that re-read the stored pair first, then the pair is renewed once and all get the renewed one', async () => {
      const flights = b.three();
      const stored = { refresh: 'r0', access: 'a0' };
      let renewals = 0;
      const refresh = (f: SingleFlight, seen: string) => f.run('b24-token:portal-1', async () => {
        if (stored.refresh !== seen) return stored.access; // renewed by the winner meanwhile: the loser uses it
        await sleep(80); // the OAuth server
        renewals += 1;
        stored.refresh = `r${renewals}`;
        stored.access = `a${renewals}`;
        return stored.access;
      });
      const got = await Promise.all(flights.map((f) => refresh(f, 'r0')));
      assert.equal(renewals, 1);
      assert.deepEqual(got, ['a1', 'a1', 'a1']);
    });

    it('when fn throws, then the next caller still runs, and different keys do not wait for each other', async () => {
      const [f1, f2, f3] = b.three() as [SingleFlight, SingleFlight, SingleFlight];
      const first = f1.run('k-throw', async () => { await sleep(50); throw new Error('refused'); });
      const second = f2.run('k-throw', async () => 'second ran');
      const t0 = Date.now();
      const other = await f3.run('k-other', async () => Date.now() - t0);
      await assert.rejects(first, /refused/);
      assert.equal(await second, 'second ran');
      assert.ok(other < 45, `another key ran at once (after ${other} ms)`);
    });

    it('when the holder keeps the key longer than a waiter will wait, then the waiter fails with SingleFlightTimeout without running fn', async () => {
      const [f1, f2] = b.three() as [SingleFlight, SingleFlight];
      let holderDone!: () => void;
      const held = f1.run('k-wait', () => new Promise<void>((r) => (holderDone = r)));
      await sleep(50);
      let ran = false;
      const t0 = Date.now();
      await assert.rejects(f2.run('k-wait', async () => { ran = true; }, { waitMs: 300 }), SingleFlightTimeout);
      assert.ok(Date.now() - t0 >= 250, 'it waited about waitMs');
      assert.equal(ran, false);
      holderDone();
      await held;
      assert.equal(await f2.run('k-wait', async () => 'free again', { waitMs: 1000 }), 'free again');
    });
  });
}

describe('single-flight on PostgreSQL: a token pair stored in the database', { skip: url ? false : 'PostgreSQL is not reachable' }, () => {
  it('when three instances refresh one portal\'s pair at once, each reading the stored pair under the lock, then the OAuth server is asked once and all three end with the rotated pair', async () => {
    const three = [0, 1, 2].map((i) => {
      const pool = openClusterPool({ connectionString: url!, max: 2, name: `tokens-${i}` });
      pools.push(pool);
      return { pool, flight: new PgSingleFlight(pool) };
    });
    await three[0]!.pool.query('CREATE TABLE portal_tokens (member_id text PRIMARY KEY, refresh_token text NOT NULL, access_token text NOT NULL)');
    await three[0]!.pool.query(`INSERT INTO portal_tokens VALUES ('portal-1', 'r0', 'a0')`);
    // The OAuth server: a refresh token is single-use (docs/reference/bitrix24.md#oauth-tokens).
    const spent = new Set<string>();
    let asked = 0;
    const oauth = async (refresh: string) => {
      asked += 1;
      await sleep(50);
      if (spent.has(refresh)) throw new Error('invalid_grant');
      spent.add(refresh);
      return { refresh: `r${asked}`, access: `a${asked}` };
    };
    const refresh = ({ pool, flight }: (typeof three)[number], seen: string) => flight.run('b24-token:portal-1', async () => {
      const stored = (await pool.query(`SELECT refresh_token, access_token FROM portal_tokens WHERE member_id = 'portal-1'`)).rows[0];
      if (stored.refresh_token !== seen) return stored.access_token as string;
      const next = await oauth(stored.refresh_token);
      await pool.query(`UPDATE portal_tokens SET refresh_token = $1, access_token = $2 WHERE member_id = 'portal-1'`, [next.refresh, next.access]);
      return next.access;
    });
    const got = await Promise.all(three.map((i) => refresh(i, 'r0')));
    assert.equal(asked, 1);
    assert.deepEqual(got, ['a1', 'a1', 'a1']);
  });
});

describe('single-flight on PostgreSQL: a dead holder', { skip: url ? false : 'PostgreSQL is not reachable' }, () => {
  it('when the instance holding a key dies (its connection ends), then a waiter on another instance runs', async () => {
    const dying = new pg.Pool({ connectionString: url!, max: 1, application_name: 'flight-dying' });
    dying.on('error', () => undefined);
    const survivor = openClusterPool({ connectionString: url!, max: 2 });
    pools.push(survivor);
    void new PgSingleFlight(dying).run('k-dead', () => new Promise(() => undefined)).catch(() => undefined); // hangs forever
    await sleep(100);
    const waiting = new PgSingleFlight(survivor).run('k-dead', async () => 'taken over', { waitMs: 5000 });
    await sleep(100);
    const admin = new pg.Client({ connectionString: url! });
    await admin.connect();
    // SIGKILL of the instance: PostgreSQL sees its connections end.
    const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'flight-dying'`);
    assert.equal(killed.rowCount, 1);
    await admin.end();
    assert.equal(await waiting, 'taken over');
    // (The dead instance's pool is left as it is: its run never ends, so its pool would wait for it forever.)
  });
});
