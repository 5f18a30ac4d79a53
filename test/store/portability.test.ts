/**
 * Every SQL text of the repositories (app/store/*.ts) prepares on SQLite and on PostgreSQL, both migrated to the
 * latest schema, except the statements docs/reference/postgresql.md#our-queries-on-both-dialects lists as not
 * portable as written. A statement added in a form PostgreSQL refuses fails here; so does one of the listed ones once
 * it is fixed (remove it from NOT_PORTABLE and from the note's table). PostgreSQL's PREPARE parses and types a
 * statement without running it: https://www.postgresql.org/docs/15/sql-prepare.html
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { migrateSql } from '../../app/store/migrate-sql.js';
import { MIGRATIONS } from '../../app/store/migrations.js';
import { openPostgresDb, type PostgresDb } from '../../app/store/postgres-driver.js';
import { numberParams } from '../../app/store/sql.js';
import { openSqliteDb, type SqliteDb } from '../../app/store/sqlite-driver.js';
import { withPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

const STORE = fileURLToPath(new URL('../../app/store/', import.meta.url));
/** The drivers and the migrations hold no repository statements. */
const NOT_REPOSITORIES = new Set(['sql.ts', 'sqlite-driver.ts', 'postgres-driver.ts', 'migrate-sql.ts', 'migrations.ts', 'pgboss-job-queue.ts']);

/** A fragment each interpolation of a statement stands for (the widest form the code builds). */
const FRAGMENTS: Record<string, string> = {
  "where.join(' AND ')": 'member_id = ?',
  where: 'member_id = ?',
  LIVE_RUN: "state IN ('planning', 'previewed', 'running')",
  LIVE: "state IN ('pending', 'running', 'paused', 'needs_attention')",
  "kinds.map(() => '?').join(', ')": '?, ?',
  "ids.map(() => '?').join(', ')": '?, ?',
  "chunk.map(() => '?').join(', ')": '?, ?',
  portal: 'AND member_id = ?',
  fresh: 'AND likely_echo = 0',
  kindFilter: 'AND kind IN (?)',
  order: 'likely_echo, run_at, id',
  PULLED_COLUMNS: 'id, member_id, connection_id, b24_type, b24_id, xero_type, xero_id, xero_number, xero_status, xero_amount_paid, sync_stage_id, paid_trigger_at',
  "[...t.key, column].join(', ')": 'member_id, access_token',
  't.table': 'portals',
  column: 'access_token',
  V1: 'v1:',
  'V1.length': '3',
  keyWhere: 'member_id = @member_id',
};

/** The statements docs/reference/postgresql.md#our-queries-on-both-dialects lists: file and a part of the text. */
const NOT_PORTABLE: [string, string][] = [
  ['backup.ts', 'sqlite_master'],
];
/** SQLite's own statements, outside the shared subset by nature (backup.ts, db.ts, leases.ts's comment). */
const SQLITE_ONLY = /^(PRAGMA|BEGIN|CREATE TABLE IF NOT EXISTS schema_migrations)\b/;

interface Found {
  file: string;
  line: number;
  sql: string;
}

/** The SQL texts (string and template literals that start with a statement keyword) of the repositories. */
function repositoryStatements(): Found[] {
  const found: Found[] = [];
  for (const file of readdirSync(STORE).filter((f) => f.endsWith('.ts') && !NOT_REPOSITORIES.has(f)).sort()) {
    const source = readFileSync(path.join(STORE, file), 'utf8');
    for (const m of source.matchAll(/`((?:[^`\\$]|\\.|\$(?!\{)|\$\{(?:[^{}`]|`[^`]*`|\{[^{}]*\})*\})*)`|'((?:[^'\\\n]|\\.)*)'/g)) {
      const text = (m[1] ?? m[2])!;
      if (!/^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE|PRAGMA|BEGIN|CREATE)\s/.test(text)) continue;
      const sql = text.replace(/\$\{((?:[^{}`]|`[^`]*`|\{[^{}]*\})*)\}/g, (whole, expr: string) => {
        if (/^t\.where \?/.test(expr)) return '';
        const fragment = FRAGMENTS[expr.trim()];
        if (fragment === undefined) throw new Error(`${file}: no fragment for \${${expr}}: add one to FRAGMENTS`);
        return fragment;
      });
      found.push({ file, line: source.slice(0, m.index).split('\n').length, sql: sql.replace(/\s+/g, ' ').trim() });
    }
  }
  return found;
}

const statements = repositoryStatements();
const shared = statements.filter((s) => !SQLITE_ONLY.test(s.sql));
const pg = await withPostgres();

describe('the repositories’ statements on both dialects', { timeout: 60_000 }, () => {
  let lite: SqliteDb;
  before(async () => {
    lite = openSqliteDb(path.join(tempDir('portability-'), 'store.db'));
    await migrateSql(lite, MIGRATIONS);
  });
  after(() => lite?.close());

  it('when the repositories are read, then about 150 statements are found', () => {
    assert.ok(statements.length > 120, `found ${statements.length}`);
  });

  it('when each statement is prepared on SQLite, then every one prepares (the reading of the sources is right)', () => {
    const failed = statements.flatMap((s) => {
      try {
        lite.raw.prepare(s.sql);
        return [];
      } catch (err) {
        return [`${s.file}:${s.line}: ${(err as Error).message}: ${s.sql}`];
      }
    });
    assert.deepEqual(failed, []);
  });

  it('when each statement is prepared on PostgreSQL, then only the ones listed as not portable fail', { skip: pg.skip }, async () => {
    const db: PostgresDb = await openPostgresDb(pg.url!);
    after(() => db.close());
    await migrateSql(db, MIGRATIONS);
    const client = await db.pool.connect();
    const failed: (Found & { error: string })[] = [];
    try {
      for (const [i, s] of shared.entries()) {
        await client.query(`PREPARE s${i} AS ${numberParams(s.sql).text}`).catch((err: Error) => failed.push({ ...s, error: err.message }));
      }
    } finally {
      client.release(true);
    }
    const listed = (s: Found) => NOT_PORTABLE.some(([file, part]) => s.file === file && s.sql.includes(part));
    assert.deepEqual(failed.filter((s) => !listed(s)).map((s) => `${s.file}:${s.line}: ${s.error}: ${s.sql}`), [], 'statements PostgreSQL refuses');
    const stale = NOT_PORTABLE.filter(([file, part]) => !failed.some((s) => s.file === file && s.sql.includes(part)));
    assert.deepEqual(stale, [], 'listed as not portable, but PostgreSQL prepares them now');
  });
});
