/**
 * The event tallies' statements (app/store/event-tallies.ts EVENT_TALLY_SQL) count and cap alike on SQLite, through
 * the repository the Store uses, and on PostgreSQL, through its driver on the migrated schema.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EVENT_TALLY_SQL } from '../../app/store/event-tallies.js';
import { migrateSql } from '../../app/store/migrate-sql.js';
import { MIGRATIONS } from '../../app/store/migrations.js';
import { openPostgresDb } from '../../app/store/postgres-driver.js';
import { withPostgres } from '../helpers/postgres.js';
import { testStore } from '../helpers/store.js';

const MINUTE = 60_000;
const now = 1_733_580_000_000;
const pg = await withPostgres();

describe('event tallies on SQLite (the repository)', () => {
  it('when a cap is taken past its limit, then only the limit counts in that minute; a new minute starts again; sums are numbers', async () => {
    const store = await testStore('a');
    const taken: boolean[] = [];
    for (let i = 0; i < 4; i++) taken.push(await store.eventTallies.take('a', 'new_job', 3, now));
    assert.deepEqual(taken, [true, true, true, false]);
    assert.equal((await store.eventTallies.take('a', 'new_job', 3, now + MINUTE)), true);
    await store.eventTallies.add('a', 'dropped:over_limit', 5, now);
    await store.eventTallies.add('a', 'dropped:over_limit', 2, now + MINUTE);
    assert.deepEqual([...(await store.eventTallies.since('a', 'dropped:', now))], [['over_limit', 7]]);
    assert.deepEqual([...(await store.eventTallies.since('a', 'new_', now))], [['job', 4]]);
  });
});

describe('event tallies on PostgreSQL (the same statements)', { skip: pg.skip }, () => {
  it('when a cap is taken past its limit, then only the limit counts in that minute; a new minute starts again; sums are numbers', async () => {
    const db = await openPostgresDb(pg.url!);
    after(() => db.close());
    await migrateSql(db, MIGRATIONS);
    await db.run("INSERT INTO portals (member_id, domain, client_endpoint, server_endpoint, installed_at, updated_at) VALUES ('a', 'd', 'c', 's', 1, 1)");
    const take = async (at: number) => (await db.run(EVENT_TALLY_SQL.take, ['a', Math.floor(at / MINUTE) * MINUTE, 'new_job', 3])).changes > 0;
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push(await take(now));
    assert.deepEqual(taken, [true, true, true, false]);
    assert.equal(await take(now + MINUTE), true);
    for (const [at, n] of [[now, 5], [now + MINUTE, 2]] as const) {
      await db.run(EVENT_TALLY_SQL.add, ['a', Math.floor(at / MINUTE) * MINUTE, 'dropped:over_limit', n]);
    }
    const since = (prefix: string) => db.all(EVENT_TALLY_SQL.since, ['a', Math.floor(now / MINUTE) * MINUTE, prefix.length, prefix]);
    assert.deepEqual(await since('dropped:'), [{ what: 'dropped:over_limit', n: 7 }]);
    assert.deepEqual(await since('new_'), [{ what: 'new_job', n: 4 }]);
  });
});
