/**
 * Migrations on both dialects (app/store/migrate-sql.ts): every migration of MIGRATIONS applies on SQLite and on the
 * real PostgreSQL, the tables and columns come out the same, two instances migrating one PostgreSQL database at once
 * apply each migration once, and a failing migration leaves the version before it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { StoreError } from '../../app/store/db.js';
import { migrateSql, postgresDdl, currentVersion } from '../../app/store/migrate-sql.js';
import { MIGRATIONS, type Migration } from '../../app/store/migrations.js';
import { openPostgresDb } from '../../app/store/postgres-driver.js';
import type { SqlDb } from '../../app/store/sql.js';
import { openSqliteDb } from '../../app/store/sqlite-driver.js';
import { withPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

const pg = await withPostgres();
const dir = tempDir('migrate-sql-');
const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));
const opened: SqlDb[] = [];
after(async () => {
  for (const db of opened) await db.close();
});

let files = 0;
const subjects = [
  { name: 'SQLite', skip: false as const, open: async (): Promise<SqlDb> => openSqliteDb(path.join(dir, `m${++files}.db`)) },
  { name: 'PostgreSQL', skip: pg.skip, open: async (): Promise<SqlDb> => openPostgresDb(await pg.another!()) },
];

async function fresh(open: () => Promise<SqlDb>): Promise<SqlDb> {
  const db = await open();
  opened.push(db);
  return db;
}

/** Table → its column names (sorted), of the tables in the database's own schema. */
async function columns(db: SqlDb): Promise<Record<string, string[]>> {
  const rows = db.dialect === 'sqlite'
    ? await db.all<{ t: string; c: string }>(
      "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )
    : await db.all<{ t: string; c: string }>(
      'SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = current_schema()',
    );
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.t] ??= []).push(r.c);
  for (const t of Object.keys(out)) out[t]!.sort();
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const broken: Migration[] = [
  ...MIGRATIONS.filter((m) => m.version <= 2),
  { version: 3, name: 'a table, then a mistake', sql: 'CREATE TABLE half (id INTEGER PRIMARY KEY); CREATE TABLE half (id INTEGER);' },
];

for (const subject of subjects) {
  describe(`migrations on ${subject.name}`, { skip: subject.skip, timeout: 60_000 }, () => {
    it('when a fresh database is migrated, then every migration applies once, in order, and a second run applies none', async () => {
      const db = await fresh(subject.open);
      assert.deepEqual(await migrateSql(db, MIGRATIONS), MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
      assert.equal(await currentVersion(db), LATEST);
      assert.deepEqual(await migrateSql(db, MIGRATIONS), []);
      // The identity columns number rows written without an id, as SQLite's rowid does.
      await db.run("INSERT INTO portals (member_id, domain, client_endpoint, server_endpoint, installed_at, updated_at) VALUES ('m', 'd', 'c', 's', 1, 1)");
      const first = await db.run("INSERT INTO jobs (member_id, kind, job_key, run_at, created_at, updated_at) VALUES ('m', 'push', 'k1', 1, 1, 1)", [], { returning: 'id' });
      const second = await db.run("INSERT INTO jobs (member_id, kind, job_key, run_at, created_at, updated_at) VALUES ('m', 'push', 'k2', 1, 1, 1)", [], { returning: 'id' });
      assert.equal(second.lastId, first.lastId! + 1);
    });

    it('when a migration fails, then it is rolled back, the store stays at the version before and the error names it', async () => {
      const db = await fresh(subject.open);
      await assert.rejects(migrateSql(db, broken), (err) => {
        assert.ok(err instanceof StoreError && err.code === 'STORE.MIGRATION_FAILED', String(err));
        assert.match(err.message, /Migration 3 \(a table, then a mistake\) failed and was rolled back; The store stays at schema version 2/);
        return true;
      });
      assert.equal(await currentVersion(db), 2);
      assert.equal((await columns(db)).half, undefined);
    });

    it('when the database is newer than the migrations known, then migrating refuses with STORE.SCHEMA_TOO_NEW', async () => {
      const db = await fresh(subject.open);
      await migrateSql(db, MIGRATIONS);
      await assert.rejects(migrateSql(db, MIGRATIONS.slice(0, 3), { name: 'The test store' }), (err) =>
        err instanceof StoreError && err.code === 'STORE.SCHEMA_TOO_NEW' && new RegExp(`The test store has schema version ${MIGRATIONS.at(-1)!.version}`).test(err.message));
    });
  });
}

describe('migrations on both dialects', { skip: pg.skip, timeout: 60_000 }, () => {
  it('when every migration is applied on each, then PostgreSQL has the tables and columns that SQLite has', async () => {
    const lite = await fresh(subjects[0]!.open);
    const postgres = await fresh(subjects[1]!.open);
    await migrateSql(lite, MIGRATIONS);
    await migrateSql(postgres, MIGRATIONS);
    const expected = await columns(lite);
    assert.ok(Object.keys(expected).length >= 18, Object.keys(expected).join(', '));
    assert.deepEqual(await columns(postgres), expected);
  });

  it('when two instances migrate one PostgreSQL database at once, then each migration is applied once', async () => {
    const url = await pg.another!();
    const [a, b] = [await openPostgresDb(url), await openPostgresDb(url)];
    opened.push(a, b);
    const [byA, byB] = await Promise.all([migrateSql(a, MIGRATIONS), migrateSql(b, MIGRATIONS)]);
    assert.deepEqual([...byA, ...byB].sort((x, y) => x - y), MIGRATIONS.map((m) => m.version).sort((x, y) => x - y));
    assert.deepEqual(await a.get('SELECT count(*) AS n, max(version) AS v FROM schema_migrations'), { n: MIGRATIONS.length, v: LATEST });
  });
});

describe('SQLite DDL translated for PostgreSQL', () => {
  it('when the DDL uses SQLite forms, then each becomes its PostgreSQL form and comments and literals stay as written', () => {
    const ddl = `
      CREATE TABLE a (
        id INTEGER PRIMARY KEY AUTOINCREMENT, -- an INTEGER key
        n  INTEGER NOT NULL DEFAULT 0,
        r  REAL, b BLOB, t TEXT DEFAULT 'INTEGER'
      ) WITHOUT ROWID;
      INSERT OR IGNORE INTO a (n, t) VALUES (1, 'x;y') -- once
    `;
    assert.equal(
      postgresDdl(ddl),
      `
      CREATE TABLE a (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, -- an INTEGER key
        n  BIGINT NOT NULL DEFAULT 0,
        r  DOUBLE PRECISION, b BYTEA, t TEXT COLLATE "C" DEFAULT 'INTEGER'
      );
      INSERT INTO a (n, t) VALUES (1, 'x;y') -- once
ON CONFLICT DO NOTHING;`,
    );
  });

  it('when the DDL has a form with no mechanical translation, then the translation refuses it', () => {
    assert.throws(() => postgresDdl("INSERT OR REPLACE INTO meta VALUES ('a', 'b')"), /INSERT OR REPLACE has no mechanical PostgreSQL translation/);
    assert.throws(() => postgresDdl('PRAGMA foreign_keys = ON'), /PRAGMA/);
  });
});
