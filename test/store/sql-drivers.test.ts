/**
 * The contract of the store's SQL drivers (app/store/sql.ts): the same cases against SQLite (a file in a temp folder)
 * and PostgreSQL (a fresh database of the real server, test/helpers/postgres.ts), on one schema written once in
 * SQLite's DDL and translated for PostgreSQL as the migrations are (migrate-sql.ts postgresDdl).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../../app/store/db.js';
import { postgresDdl } from '../../app/store/migrate-sql.js';
import { openPostgresDb } from '../../app/store/postgres-driver.js';
import { numberParams, type SqlDb } from '../../app/store/sql.js';
import { openSqliteDb } from '../../app/store/sqlite-driver.js';
import { withPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

const SCHEMA = `
  CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    k  TEXT UNIQUE,
    n  INTEGER,
    r  REAL,
    b  BLOB,
    t  TEXT
  );
  CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
  CREATE TABLE seen (n INTEGER NOT NULL UNIQUE);
`;

const pg = await withPostgres();
const dir = tempDir('sql-drivers-');

interface Subject {
  name: string;
  skip: string | false;
  open(): Promise<SqlDb>;
  /** A second handle on the same database whose statements time out fast, and a way to make one time out. */
  timingOut(): Promise<{ db: SqlDb; slowStatement: string; hold(): Promise<() => Promise<void>> }>;
}

const sqliteFile = path.join(dir, 'contract.db');
const subjects: Subject[] = [
  {
    name: 'SQLite',
    skip: false,
    open: async () => openSqliteDb(sqliteFile),
    timingOut: async () => {
      const other = openSqliteDb(sqliteFile, { busyTimeoutMs: 50 });
      return {
        db: other,
        slowStatement: "INSERT INTO items (k) VALUES ('blocked')",
        // A third connection holds the write lock, as another process would.
        hold: async () => {
          const holder = openSqliteDb(sqliteFile);
          holder.raw.exec('BEGIN IMMEDIATE');
          return async () => {
            holder.raw.exec('ROLLBACK');
            await holder.close();
          };
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    skip: pg.skip,
    open: () => openPostgresDb(pg.url!),
    timingOut: async () => ({
      db: await openPostgresDb(pg.url!, { statementTimeoutMs: 50 }),
      slowStatement: 'SELECT pg_sleep(2)',
      hold: async () => async () => undefined,
    }),
  },
];

const isStoreError = (code: string) => (err: unknown) => err instanceof StoreError && err.code === code;

for (const subject of subjects) {
  describe(`the ${subject.name} driver`, { skip: subject.skip, timeout: 30_000 }, () => {
    let db: SqlDb;
    before(async () => {
      db = await subject.open();
      await db.exec(db.dialect === 'postgres' ? postgresDdl(SCHEMA) : SCHEMA);
    });
    after(() => db?.close());

    it('when a statement has ? or @name parameters, then each value lands in its place and a ? inside a literal stays', async () => {
      await db.run('INSERT INTO items (k, n, t) VALUES (?, ?, ?)', ['p1', 7, 'seven?']);
      await db.run('INSERT INTO items (k, n, t) VALUES (@k, @n, @k)', { k: 'p2', n: 8 });
      const row = await db.get<{ q: string; n: number; t: string }>("SELECT 'what?' AS q, n, t FROM items WHERE k = ?", ['p1']);
      assert.deepEqual(row, { q: 'what?', n: 7, t: 'seven?' });
      const named = await db.all<{ k: string; t: string }>('SELECT k, t FROM items WHERE k = @k OR t = @k ORDER BY k', { k: 'p2' });
      assert.deepEqual(named, [{ k: 'p2', t: 'p2' }]);
      assert.equal(await db.get('SELECT k FROM items WHERE k = ?', ['nobody']), undefined);
      await assert.rejects(db.get('SELECT k FROM items WHERE k = @k', { other: 1 }), isStoreError('STORE.BAD_QUERY'));
    });

    it('when null, integers, reals, text and bytes are written, then they read back as null, numbers, strings and Buffers', async () => {
      const bytes = Buffer.from([0, 1, 2, 250, 255]);
      await db.run('INSERT INTO items (k, n, r, b, t) VALUES (?, ?, ?, ?, ?)', ['rt', -42, 1.5, bytes, "it's \"quoted\" — ünïcode"]);
      await db.run('INSERT INTO items (k, n, r, b, t) VALUES (?, ?, ?, ?, ?)', ['rt-null', null, null, null, null]);
      const row = await db.get<{ n: number; r: number; b: Buffer; t: string }>('SELECT n, r, b, t FROM items WHERE k = ?', ['rt']);
      assert.deepEqual(row, { n: -42, r: 1.5, b: bytes, t: "it's \"quoted\" — ünïcode" });
      assert.ok(Buffer.isBuffer(row!.b));
      assert.deepEqual(await db.get('SELECT n, r, b, t FROM items WHERE k = ?', ['rt-null']), { n: null, r: null, b: null, t: null });
    });

    it('when text is sorted or compared, then it goes by code point on both (upper case first, case matters)', async () => {
      for (const k of ['sort-b', 'sort-B', 'sort-a', 'sort-_', 'sort-A', 'sort-é']) await db.run('INSERT INTO items (k) VALUES (?)', [k]);
      const sorted = await db.all<{ k: string }>("SELECT k FROM items WHERE substr(k, 1, 5) = 'sort-' ORDER BY k");
      assert.deepEqual(sorted.map((r) => r.k), ['sort-A', 'sort-B', 'sort-_', 'sort-a', 'sort-b', 'sort-é']);
      assert.deepEqual(await db.all('SELECT k FROM items WHERE k = ?', ['SORT-A']), []);
      assert.deepEqual(await db.all('SELECT k FROM items WHERE lower(k) = lower(?) ORDER BY k', ['SORT-a']), [{ k: 'sort-A' }, { k: 'sort-a' }]);
    });

    it('when a parameter stands alone in a select list, then a CAST gives it one type on both', async () => {
      assert.deepEqual(await db.get('SELECT CAST(? AS BIGINT) AS n, CAST(? AS TEXT) AS t', [12, 'x']), { n: 12, t: 'x' });
    });

    it('when an integer is beyond 2^31, then it reads back exactly as a number; beyond 2^53 reading it is refused', async () => {
      const big = 2 ** 40 + 3;
      await db.run('INSERT INTO items (k, n) VALUES (?, ?)', ['big', big]);
      const row = await db.get<{ n: number; c: number }>('SELECT n, (SELECT count(*) FROM items) AS c FROM items WHERE k = ?', ['big']);
      assert.equal(row!.n, big);
      assert.equal(typeof row!.c, 'number');
      await db.run("INSERT INTO items (k, n) VALUES ('huge', 9007199254740993)");
      await assert.rejects(db.get('SELECT n FROM items WHERE k = ?', ['huge']), isStoreError('STORE.INTEGER_RANGE'));
      assert.deepEqual(await db.get('SELECT CAST(n / 1024 AS BIGINT) AS kib FROM items WHERE k = ?', ['huge']), { kib: 8796093022208 });
    });

    it('when a statement returns rows or run() asks for the id, then the written row comes back', async () => {
      const inserted = await db.get<{ id: number; k: string }>('INSERT INTO items (k, n) VALUES (?, ?) RETURNING id, k', ['ret', 1]);
      assert.equal(inserted!.k, 'ret');
      assert.equal(typeof inserted!.id, 'number');
      const second = await db.run('INSERT INTO items (k) VALUES (?)', ['ret2'], { returning: 'id' });
      assert.equal(second.changes, 1);
      assert.ok(second.lastId! > inserted!.id);
      assert.deepEqual(await db.get('SELECT k FROM items WHERE id = ?', [second.lastId]), { k: 'ret2' });
      const nothing = await db.run('INSERT INTO items (k) VALUES (?) ON CONFLICT (k) DO NOTHING', ['ret2'], { returning: 'id' });
      assert.deepEqual(nothing, { changes: 0, lastId: undefined });
      const updated = await db.run('UPDATE items SET n = n + 1 WHERE k = ?', ['ret']);
      assert.deepEqual(updated, { changes: 1 });
    });

    it('when an upsert meets its conflict, then the qualified update applies while its WHERE holds and changes nothing after', async () => {
      const take = (limit: number) =>
        db.run(
          `INSERT INTO items (k, n) VALUES (?, 1)
           ON CONFLICT (k) DO UPDATE SET n = items.n + excluded.n WHERE items.n < ?`,
          ['tally', limit],
        );
      const changes = [];
      for (let i = 0; i < 4; i++) changes.push((await take(3)).changes);
      assert.deepEqual(changes, [1, 1, 1, 0]);
      assert.deepEqual(await db.get('SELECT n FROM items WHERE k = ?', ['tally']), { n: 3 });
    });

    it('when a row breaks a unique constraint, then the error is STORE.CONFLICT', async () => {
      await db.run('INSERT INTO items (k) VALUES (?)', ['uniq']);
      await assert.rejects(db.run('INSERT INTO items (k) VALUES (?)', ['uniq']), isStoreError('STORE.CONFLICT'));
      const row = await db.get<{ id: number }>('SELECT id FROM items WHERE k = ?', ['uniq']);
      await assert.rejects(db.run('INSERT INTO items (id, k) VALUES (?, ?)', [row!.id, 'other']), isStoreError('STORE.CONFLICT'));
    });

    it('when a transaction resolves, then its writes are committed and its value returned', async () => {
      const value = await db.transaction(async () => {
        await db.run('INSERT INTO items (k) VALUES (?)', ['tx-commit']);
        await sleep(1);
        return (await db.get<{ c: number }>('SELECT count(*) AS c FROM items WHERE k = ?', ['tx-commit']))!.c;
      });
      assert.equal(value, 1);
      assert.deepEqual(await db.get('SELECT k FROM items WHERE k = ?', ['tx-commit']), { k: 'tx-commit' });
    });

    it('when a transaction throws, then its writes are rolled back and the same error comes out', async () => {
      const boom = new Error('boom');
      await assert.rejects(
        db.transaction(async () => {
          await db.run('INSERT INTO items (k) VALUES (?)', ['tx-rollback']);
          await sleep(1);
          throw boom;
        }),
        (err) => err === boom,
      );
      assert.equal(await db.get('SELECT k FROM items WHERE k = ?', ['tx-rollback']), undefined);
    });

    it('when a nested transaction throws, then only its writes roll back and the outer one goes on and commits', async () => {
      await db.transaction(async () => {
        await db.run('INSERT INTO items (k) VALUES (?)', ['outer-a']);
        await assert.rejects(
          db.transaction(async () => {
            await db.run('INSERT INTO items (k) VALUES (?)', ['inner-b']);
            throw new Error('inner');
          }),
          /inner/,
        );
        // A statement failing inside a savepoint leaves the outer transaction usable (PostgreSQL aborts it otherwise).
        await assert.rejects(
          db.transaction(() => db.run('INSERT INTO items (k) VALUES (?)', ['outer-a'])),
          isStoreError('STORE.CONFLICT'),
        );
        await db.transaction(async () => {
          await db.run('INSERT INTO items (k) VALUES (?)', ['inner-c']);
        });
        await db.run('INSERT INTO items (k) VALUES (?)', ['outer-d']);
      });
      const keys = await db.all<{ k: string }>("SELECT k FROM items WHERE k LIKE 'outer-%' OR k LIKE 'inner-%' ORDER BY k");
      assert.deepEqual(keys.map((r) => r.k), ['inner-c', 'outer-a', 'outer-d']);
    });

    it('when 50 transactions increment one counter at once, then they take turns: 50, and each saw its own count', async () => {
      await db.run('INSERT INTO counter (id, n) VALUES (1, 0)');
      await Promise.all(
        Array.from({ length: 50 }, () =>
          db.transaction(async () => {
            await db.run('UPDATE counter SET n = n + 1 WHERE id = 1');
            await sleep(1); // the others run meanwhile
            const { n } = (await db.get<{ n: number }>('SELECT n FROM counter WHERE id = 1'))!;
            await db.run('INSERT INTO seen (n) VALUES (?)', [n]);
          }),
        ),
      );
      assert.deepEqual(await db.get('SELECT n FROM counter WHERE id = 1'), { n: 50 });
      const seen = await db.all<{ n: number }>('SELECT n FROM seen ORDER BY n');
      assert.deepEqual(seen.map((r) => r.n), Array.from({ length: 50 }, (_, i) => i + 1));
    });

    it(
      subject.name === 'SQLite'
        ? 'when a query is made outside a running transaction, then it waits for the transaction to end and sees its writes'
        : 'when a query is made outside a running transaction, then it answers at once without the uncommitted writes',
      async () => {
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        let inserted!: () => void;
        const written = new Promise<void>((resolve) => (inserted = resolve));
        const tx = db.transaction(async () => {
          await db.run('INSERT INTO items (k) VALUES (?)', ['during']);
          inserted();
          await gate;
        });
        await written;
        let answered = false;
        const outside = db.get<{ c: number }>('SELECT count(*) AS c FROM items WHERE k = ?', ['during']).then((row) => {
          answered = true;
          return row!.c;
        });
        if (db.dialect === 'sqlite') {
          await sleep(30);
          assert.equal(answered, false, 'the outside query ran inside the transaction');
          open();
          await tx;
          assert.equal(await outside, 1);
        } else {
          assert.equal(await outside, 0);
          open();
          await tx;
          assert.deepEqual(await db.get('SELECT count(*) AS c FROM items WHERE k = ?', ['during']), { c: 1 });
        }
      },
    );

    it('when a statement waits past its timeout, then the error is STORE.TIMEOUT', async () => {
      const { db: impatient, slowStatement, hold } = await subject.timingOut();
      const release = await hold();
      try {
        await assert.rejects(impatient.run(slowStatement), isStoreError('STORE.TIMEOUT'));
      } finally {
        await release();
        await impatient.close();
      }
    });
  });
}

describe('the PostgreSQL driver when the server is not there', () => {
  it('when the server does not answer, then the error is STORE.UNREACHABLE naming host and database, never the password', async () => {
    const err = await openPostgresDb('postgres://app:s3cr3t-pw@127.0.0.1:1/ledger', { connectTimeoutMs: 1000 }).then(
      () => assert.fail('opened'),
      (e: unknown) => e,
    );
    assert.ok(isStoreError('STORE.UNREACHABLE')(err), String(err));
    assert.match((err as Error).message, /127\.0\.0\.1:1\/ledger/);
    assert.doesNotMatch((err as Error).message, /s3cr3t/);
  });

  it('when the database does not exist, then the error is STORE.UNREACHABLE naming it', { skip: pg.skip }, async () => {
    const url = new URL(pg.url!);
    url.pathname = '/no_such_database_here';
    await assert.rejects(openPostgresDb(url.toString()), (err) => isStoreError('STORE.UNREACHABLE')(err) && /no_such_database_here/.test((err as Error).message));
  });
});

describe('parameters numbered for PostgreSQL', () => {
  it('when ? and @name stand in code, then they become $n; inside literals, quoted names and comments they stay', () => {
    assert.deepEqual(numberParams(`SELECT '?', "a?", x FROM t -- what?\n WHERE a = ? AND b = ? /* ? */`), {
      text: `SELECT '?', "a?", x FROM t -- what?\n WHERE a = $1 AND b = $2 /* ? */`,
      order: [0, 1],
    });
    assert.deepEqual(numberParams("UPDATE t SET a = @a, s = 'it''s @a' WHERE b = @b OR a = @a AND j @> x"), {
      text: "UPDATE t SET a = $1, s = 'it''s @a' WHERE b = $2 OR a = $1 AND j @> x",
      order: ['a', 'b'],
    });
    assert.throws(() => numberParams('SELECT ? , @a'), isStoreError('STORE.BAD_QUERY'));
  });
});
