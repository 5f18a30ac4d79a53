/**
 * The SqlDb of the shared store: node-postgres (`pg` 8) over a Pool. The statements are the ones SQLite runs, with
 * `?` and `@name` turned into PostgreSQL's `$1…$n` (sql.ts numberParams; string literals, quoted names and comments
 * are left alone). BIGINT (int8) comes back as a JS number, refused beyond Number.MAX_SAFE_INTEGER; NUMERIC stays
 * text (docs/reference/postgresql.md#our-queries-on-both-dialects: cast sums to BIGINT).
 *
 * A transaction takes one client of the pool and pins it for `fn` (AsyncLocalStorage), so every query issued inside
 * `fn` runs on it; a nested transaction() is a SAVEPOINT. Queries from outside run on other clients of the pool,
 * isolated from it (READ COMMITTED: they see what it committed, once it has). Transactions run side by side; two that
 * write one row take turns on its row lock (docs/reference/postgresql.md#transactions-and-locks).
 * Every query has a statement_timeout, every connection a connect timeout.
 */
import pg from 'pg';
import { StoreError } from './db.js';
import { numberParams, orderedValues, safeInteger, Scopes, type Scope, SQL_ERROR_CODES, storeError, withReturningId, type Numbered, type RunOptions, type RunResult, type SqlDb, type SqlParams } from './sql.js';

export interface PostgresDbOptions {
  /** Milliseconds a statement may run before PostgreSQL cancels it (STORE.TIMEOUT). (Default: 30000) */
  statementTimeoutMs?: number;
  /** Milliseconds to wait for a connection (a new one, or a free one of the pool) before failing. (Default: 5000) */
  connectTimeoutMs?: number;
  /** Connections the pool opens at most. (Default: 10) */
  max?: number;
  /** Told about an idle connection the server dropped (a restart); the pool replaces it by itself. (Default: ignored) */
  onIdleError?: (err: Error) => void;
}

interface ClientScope extends Scope {
  client: pg.PoolClient;
}

/** int8 (BIGINT, count(*)) as a number; pg's other parsers as they are. Source: https://node-postgres.com/features/types */
const INT8_OID = 20;
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => safeInteger(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Opens a pool on `url` (postgres://user@host:port/db) and checks with one query that the database answers. */
export async function openPostgresDb(url: string, options: PostgresDbOptions = {}): Promise<PostgresDb> {
  const db = new PostgresDb(url, options);
  try {
    await db.get('SELECT 1 AS ok');
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

export class PostgresDb implements SqlDb {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  /** host:port/database of the URL, for messages (never the password). */
  readonly target: string;
  readonly #scopes = new Scopes<ClientScope>();
  readonly #numbered = new Map<string, Numbered>();

  constructor(url: string, options: PostgresDbOptions = {}) {
    this.target = describeTarget(url);
    // https://node-postgres.com/apis/pool (max, connectionTimeoutMillis) and https://node-postgres.com/apis/client
    // (statement_timeout, sent as a session setting when each connection starts).
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      types,
    });
    // An idle client whose connection breaks emits 'error' on the pool; unheard, it would end the process.
    // https://node-postgres.com/apis/pool#error
    this.pool.on('error', (err) => options.onIdleError?.(err));
  }

  async all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]> {
    return (await this.#query(sql, params)).rows as T[];
  }

  async get<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.#query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params?: SqlParams, options: RunOptions = {}): Promise<RunResult> {
    if (options.returning === 'id') {
      const { rows } = await this.#query(withReturningId(sql), params);
      return { changes: rows.length, lastId: rows[0]?.id as number | undefined };
    }
    return { changes: (await this.#query(sql, params)).rowCount ?? 0 };
  }

  async exec(sqlScript: string): Promise<void> {
    // Without values pg sends the text as one simple query, which may hold several statements.
    // https://node-postgres.com/features/queries
    await this.#send(this.#scopes.current()?.client ?? this.pool, sqlScript, undefined);
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    const outer = this.#scopes.current();
    if (outer) {
      const inner = { open: true, client: outer.client, parent: outer, root: outer.root };
      return this.#scopes.savepoint(outer, inner, (st) => this.#send(outer.client, st, undefined), fn);
    }
    let client: pg.PoolClient;
    try {
      // https://node-postgres.com/apis/pool#poolconnect: the client is ours until release().
      client = await this.pool.connect();
    } catch (err) {
      throw mapPostgresError(err, this.target);
    }
    const scope: ClientScope = { open: true, client, root: { savepoints: 0 } };
    let broken: Error | undefined;
    try {
      await this.#send(client, 'BEGIN', undefined);
      let result: T;
      try {
        result = await this.#scopes.within(scope, fn);
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      }
      await this.#send(client, 'COMMIT', undefined);
      return result;
    } catch (err) {
      if (err instanceof StoreError && err.code === SQL_ERROR_CODES.unreachable) broken ??= err;
      throw err;
    } finally {
      // https://node-postgres.com/apis/pool#releasing-clients: release(err) destroys a client whose connection broke.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    // Once: a second close (a shutdown after a failed start) is a no-op. https://node-postgres.com/apis/pool#poolend
    if (this.pool.ended || this.pool.ending) return;
    await this.pool.end();
  }

  #query(sql: string, params: SqlParams | undefined): Promise<pg.QueryResult> {
    let numbered = this.#numbered.get(sql);
    if (!numbered) this.#numbered.set(sql, (numbered = numberParams(sql)));
    return this.#send(this.#scopes.current()?.client ?? this.pool, numbered.text, orderedValues(numbered, params, sql));
  }

  async #send(on: pg.Pool | pg.PoolClient, text: string, values: unknown[] | undefined): Promise<pg.QueryResult> {
    try {
      // https://node-postgres.com/apis/client#clientquery (pool.query checks a client out and back in around it)
      return await on.query(values === undefined ? text : { text, values });
    } catch (err) {
      throw mapPostgresError(err, this.target);
    }
  }
}

/** `host:port/database` of a postgres:// URL, without user or password. */
export function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return 'the database named by DATABASE_URL';
  }
}

const UNREACHABLE_NET = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'EPIPE']);

/**
 * pg's error as the StoreError both drivers give (sql.ts SQL_ERROR_CODES).
 * Codes: https://www.postgresql.org/docs/15/errcodes-appendix.html
 */
export function mapPostgresError(err: unknown, target: string): unknown {
  if (err instanceof StoreError) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const message = (err as Error)?.message ?? String(err);
  if (code === '23505') return storeError(SQL_ERROR_CODES.conflict, message, err);
  if (code === '57014' || code === '55P03' || code === '25P03' || message === 'timeout exceeded when trying to connect') {
    return storeError(SQL_ERROR_CODES.timeout, `PostgreSQL at ${target}: ${message}`, err);
  }
  if (UNREACHABLE_NET.has(code) || code.startsWith('08') || code.startsWith('57P') || code === '3D000' || code.startsWith('28')
    || /^Connection terminated/.test(message)) {
    return storeError(SQL_ERROR_CODES.unreachable, `PostgreSQL at ${target} could not be reached: ${message}. Check DATABASE_URL and that the server runs.`, err);
  }
  if (code.startsWith('42') || code.startsWith('22')) return storeError(SQL_ERROR_CODES.badQuery, message, err);
  return storeError(SQL_ERROR_CODES.failed, code ? `${code}: ${message}` : message, err);
}
