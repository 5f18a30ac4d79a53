/**
 * The SqlDb of the embedded store: one better-sqlite3 connection, each SQL text prepared once (as db.ts's
 * statementCache does). better-sqlite3 is synchronous, so a single statement never interleaves with another; only a
 * transaction spans awaits. While one is open (BEGIN IMMEDIATE: the write lock taken at its start, so it never fails
 * half-way on a lock), a FIFO lock holds back every query from outside it until it ends, and queries from inside it
 * (AsyncLocalStorage tells them apart) run at once. Transactions therefore run one after another, in the order asked.
 *
 * The deadlock rule (sql.ts): inside a transaction never await a query started outside it: that query waits for the
 * transaction, which waits for it.
 * Sources: https://www.sqlite.org/lang_transaction.html (BEGIN IMMEDIATE), https://www.sqlite.org/lang_savepoint.html,
 * https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md (safeIntegers, RETURNING via all()).
 */
import Database, { type Statement } from 'better-sqlite3';
import { describeOpenFailure, StoreError } from './db.js';
import { FifoLock, isNamed, Scopes, type Scope, safeInteger, SQL_ERROR_CODES, storeError, withReturningId, type RunOptions, type RunResult, type SqlDb, type SqlParams } from './sql.js';

export interface SqliteDbOptions {
  /** Milliseconds a writer waits for another process's lock before failing with STORE.TIMEOUT. (Default: 5000) */
  busyTimeoutMs?: number;
}

/** Opens (or creates) the SQLite database `file` as db.ts does: WAL, foreign keys, synchronous NORMAL. */
export function openSqliteDb(file: string, options: SqliteDbOptions = {}): SqliteDb {
  let raw: Database.Database | undefined;
  try {
    raw = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
    raw.pragma('journal_mode = WAL');
    raw.pragma('foreign_keys = ON');
    raw.pragma('synchronous = NORMAL');
  } catch (err) {
    raw?.close();
    throw describeOpenFailure(file, err);
  }
  return new SqliteDb(raw);
}

export class SqliteDb implements SqlDb {
  readonly dialect = 'sqlite' as const;
  readonly #lock = new FifoLock();
  readonly #scopes = new Scopes<Scope>();
  readonly #statements = new Map<string, Statement<unknown[]>>();

  /** Takes over `raw`: close() closes it. */
  constructor(readonly raw: Database.Database) {}

  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.#enter(() => this.#rows(sql, params) as T[]);
  }

  get<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.#enter(() => {
      const row = bind(this.#prepare(sql), params, 'get') as Record<string, unknown> | undefined;
      return (row && numbers(row)) as T | undefined;
    });
  }

  run(sql: string, params?: SqlParams, options: RunOptions = {}): Promise<RunResult> {
    return this.#enter(() => {
      if (options.returning === 'id') {
        const rows = this.#rows(withReturningId(sql), params);
        return { changes: rows.length, lastId: rows[0]?.id as number | undefined };
      }
      const { changes } = bind(this.#prepare(sql), params, 'run') as Database.RunResult;
      return { changes };
    });
  }

  exec(sqlScript: string): Promise<void> {
    return this.#enter(() => {
      this.raw.exec(sqlScript);
    });
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    const outer = this.#scopes.current();
    if (outer) return this.#scopes.savepoint(outer, { open: true, parent: outer, root: outer.root }, (st) => this.#do(() => this.raw.exec(st)), fn);
    await this.#lock.acquire();
    const scope: Scope = { open: true, root: { savepoints: 0 } };
    try {
      try {
        this.raw.exec('BEGIN IMMEDIATE');
      } catch (err) {
        throw mapSqliteError(err);
      }
      let result: T;
      try {
        result = await this.#scopes.within(scope, fn);
      } catch (err) {
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw err;
      }
      try {
        this.raw.exec('COMMIT');
      } catch (err) {
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw mapSqliteError(err);
      }
      return result;
    } finally {
      this.#lock.release();
    }
  }

  /** Waits for a transaction in progress, then closes the connection. */
  close(): Promise<void> {
    return this.#enter(() => {
      this.#statements.clear();
      this.raw.close();
    });
  }

  /** Runs `work` now when the caller is inside the open transaction or none is open or waiting; else after them. */
  #enter<T>(work: () => T): Promise<T> {
    if (this.#scopes.current() || !this.#lock.busy) {
      try {
        return Promise.resolve(this.#do(work));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#lock.acquire().then(() => {
      try {
        return this.#do(work);
      } finally {
        this.#lock.release();
      }
    });
  }

  #do<T>(work: () => T): T {
    try {
      return work();
    } catch (err) {
      throw mapSqliteError(err);
    }
  }

  #rows(sql: string, params: SqlParams | undefined): Record<string, unknown>[] {
    return (bind(this.#prepare(sql), params, 'all') as Record<string, unknown>[]).map(numbers);
  }

  #prepare(sql: string): Statement<unknown[]> {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.raw.prepare(sql);
      if (s.reader) s.safeIntegers(true); // integers as bigint, so numbers() can refuse what a number would round
      this.#statements.set(sql, s);
    }
    return s;
  }
}

function bind(statement: Statement<unknown[]>, params: SqlParams | undefined, how: 'all' | 'get' | 'run'): unknown {
  if (params === undefined) return statement[how]();
  return isNamed(params) ? statement[how](params) : statement[how](...params);
}

/** The row with its bigint values as numbers (refused beyond 2^53). */
function numbers(row: Record<string, unknown>): Record<string, unknown> {
  for (const key in row) {
    const v = row[key];
    if (typeof v === 'bigint') row[key] = safeInteger(v);
  }
  return row;
}

/** better-sqlite3's error as the StoreError both drivers give (sql.ts SQL_ERROR_CODES). Source: https://www.sqlite.org/rescode.html */
export function mapSqliteError(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const message = (err as Error)?.message ?? String(err);
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return storeError(SQL_ERROR_CODES.conflict, message, err);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return storeError(SQL_ERROR_CODES.timeout, `The database stayed locked past the busy timeout (${code}): ${message}`, err);
  if (code === 'SQLITE_ERROR' || err instanceof TypeError || err instanceof RangeError) return storeError(SQL_ERROR_CODES.badQuery, message, err);
  return storeError(SQL_ERROR_CODES.failed, code ? `${code}: ${message}` : message, err);
}
