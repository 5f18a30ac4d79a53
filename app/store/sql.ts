/**
 * The store's SQL driver: one asynchronous interface over SQLite (sqlite-driver.ts, better-sqlite3) and PostgreSQL
 * (postgres-driver.ts, node-postgres), so the repositories write each statement once, in the subset both dialects
 * share (docs/reference/postgresql.md#our-queries-on-both-dialects).
 *
 * - Parameters are `?` (positional, from an array) or `@name` (from an object); one statement uses one kind.
 * - Integers come back as JS numbers; a value beyond Number.MAX_SAFE_INTEGER is refused (STORE.INTEGER_RANGE), never
 *   rounded. Blobs come back as Buffers, NULL as null.
 * - `transaction(fn)` runs `fn` in a transaction: every query issued while `fn` runs, at any depth of awaits, is in
 *   it (AsyncLocalStorage carries it); a transaction() inside it is a savepoint, rolled back alone when its fn
 *   throws. The outermost commits when `fn` resolves and rolls back when it throws.
 * - Deadlock rule: inside a transaction, never await a query that was started outside it (a promise made before
 *   the transaction began, or handed in by code not running in it). On SQLite that query waits for the transaction
 *   to end, and the transaction waits for it. Within one transaction, run nested transactions one after another,
 *   not side by side.
 * - Errors are StoreErrors with a code both dialects share (SQL_ERROR_CODES); the driver's own error is the cause.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { StoreError } from './db.js';

export type Dialect = 'sqlite' | 'postgres';

/** `?` values in order, or `@name` values by name. */
export type SqlParams = readonly unknown[] | Readonly<Record<string, unknown>>;

export interface RunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
  /** The `id` of the (first) row written, when run() was asked `{ returning: 'id' }` and a row was written. */
  lastId?: number;
}

export interface RunOptions {
  /**
   * 'id': the statement (an INSERT, an upsert or an UPDATE) is run with `RETURNING id` appended, and lastId is the
   * first row's id: undefined when no row was written (an ON CONFLICT DO NOTHING that did nothing). Do not write
   * RETURNING in the text then; a statement that needs other columns back writes its RETURNING and uses all()/get().
   */
  returning?: 'id';
}

export interface SqlDb {
  readonly dialect: Dialect;
  all<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T | undefined>;
  run(sql: string, params?: SqlParams, options?: RunOptions): Promise<RunResult>;
  /** Runs a script of statements separated by `;`, without parameters (migrations). */
  exec(sqlScript: string): Promise<void>;
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The codes both drivers give the same failure. */
export const SQL_ERROR_CODES = {
  /** A UNIQUE or PRIMARY KEY constraint refused the row. */
  conflict: 'STORE.CONFLICT',
  /** A lock or statement waited longer than its timeout. */
  timeout: 'STORE.TIMEOUT',
  /** The database server could not be reached (or refused us); the message names host and database, never a password. */
  unreachable: 'STORE.UNREACHABLE',
  /** A stored integer is beyond Number.MAX_SAFE_INTEGER. */
  integerRange: 'STORE.INTEGER_RANGE',
  /** The statement or its parameters are wrong (a programming error). */
  badQuery: 'STORE.BAD_QUERY',
  /** Any other failure of the database. */
  failed: 'STORE.QUERY_FAILED',
} as const;

export function storeError(code: string, message: string, cause?: unknown): StoreError {
  return new StoreError(code, message, cause === undefined ? undefined : { cause });
}

/** A BIGINT read from either dialect as a JS number; refuses a value that a number cannot hold exactly. */
export function safeInteger(value: bigint | string): number {
  const n = typeof value === 'bigint' ? value : BigInt(value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw storeError(SQL_ERROR_CODES.integerRange, `The stored integer ${n} is beyond ±Number.MAX_SAFE_INTEGER (2^53 - 1): it cannot be read as a number without rounding.`);
  }
  return Number(n);
}

/** Whether `params` are named (an object of `@name` values) rather than positional. */
export function isNamed(params: SqlParams | undefined): params is Readonly<Record<string, unknown>> {
  return params !== undefined && !Array.isArray(params);
}

/** `sql` with ` RETURNING id` appended (after any trailing semicolon is dropped). */
export function withReturningId(sql: string): string {
  return `${sql.replace(/;\s*$/, '')} RETURNING id`;
}

/** `sql` cut into stretches of code and of what is not code: string literals ('…'), quoted names ("…"), comments. */
export function segments(sql: string): { text: string; code: boolean }[] {
  const out: { text: string; code: boolean }[] = [];
  let i = 0;
  let start = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    let end = -1;
    if (c === "'" || c === '"') {
      end = i + 1;
      for (;;) {
        end = sql.indexOf(c, end);
        if (end < 0) { end = sql.length; break; }
        if (sql[end + 1] === c) { end += 2; continue; } // '' or "" inside: an escaped quote
        end += 1;
        break;
      }
    } else if (c === '-' && sql[i + 1] === '-') {
      end = sql.indexOf('\n', i);
      if (end < 0) end = sql.length;
    } else if (c === '/' && sql[i + 1] === '*') {
      end = sql.indexOf('*/', i + 2);
      end = end < 0 ? sql.length : end + 2;
    }
    if (end < 0) { i++; continue; }
    if (i > start) out.push({ text: sql.slice(start, i), code: true });
    out.push({ text: sql.slice(i, end), code: false });
    i = start = end;
  }
  if (sql.length > start) out.push({ text: sql.slice(start), code: true });
  return out;
}

/** `sql` with each stretch of code passed through `onCode`; literals, quoted names and comments kept as they are. */
export function mapCode(sql: string, onCode: (code: string) => string): string {
  return segments(sql).map((s) => (s.code ? onCode(s.text) : s.text)).join('');
}

/** The statements of a script, split at the semicolons of its code (each without its `;`; blank ones dropped). */
export function statements(sql: string): string[] {
  const out: string[] = [''];
  for (const s of segments(sql)) {
    if (!s.code) { out[out.length - 1] += s.text; continue; }
    const parts = s.text.split(';');
    out[out.length - 1] += parts[0];
    out.push(...parts.slice(1));
  }
  return out.filter((st) => segments(st).some((seg) => seg.code && seg.text.trim() !== ''));
}

export interface Numbered {
  /** The text with `$1`, `$2`, … in place of `?` and `@name`. */
  text: string;
  /** For each `$n`, its source: the index into the array, or the name in the object. */
  order: (number | string)[];
}

/**
 * `?` → `$1…$n` in order and `@name` → one `$k` per distinct name (PostgreSQL's numbered parameters), outside string
 * literals, quoted identifiers and comments. `@` followed by anything but a letter or `_` (`@>`) is left alone.
 */
export function numberParams(sql: string): Numbered {
  const order: (number | string)[] = [];
  const byName = new Map<string, number>();
  let positional = 0;
  const text = mapCode(sql, (code) =>
    code.replace(/\?|@([A-Za-z_][A-Za-z0-9_]*)/g, (whole, name: string | undefined) => {
      if (name === undefined) {
        order.push(positional++);
        return `$${order.length}`;
      }
      let n = byName.get(name);
      if (n === undefined) {
        order.push(name);
        byName.set(name, (n = order.length));
      }
      return `$${n}`;
    }),
  );
  if (positional > 0 && byName.size > 0) {
    throw storeError(SQL_ERROR_CODES.badQuery, `A statement uses both ? and @name parameters; use one kind: ${sql.trim().slice(0, 200)}`);
  }
  return { text, order };
}

/** The values of `params` in the order `numbered` asks for them. */
export function orderedValues(numbered: Numbered, params: SqlParams | undefined, sql: string): unknown[] {
  const { order } = numbered;
  if (order.length === 0) return [];
  const named = typeof order[0] === 'string';
  if (named !== isNamed(params)) {
    throw storeError(SQL_ERROR_CODES.badQuery, `The statement takes ${named ? 'named (@name) parameters from an object' : 'positional (?) parameters from an array'}: ${sql.trim().slice(0, 200)}`);
  }
  return order.map((key) => {
    if (typeof key === 'number') return (params as readonly unknown[])[key] ?? null; // as better-sqlite3 binds undefined
    const value = (params as Record<string, unknown>)[key];
    if (value === undefined) throw storeError(SQL_ERROR_CODES.badQuery, `Missing named parameter @${key}: ${sql.trim().slice(0, 200)}`);
    return value;
  });
}

/** A FIFO lock: acquire() resolves in the order it was called, one holder at a time. */
export class FifoLock {
  #held = false;
  readonly #waiters: (() => void)[] = [];

  /** Whether someone holds the lock or waits for it. */
  get busy(): boolean {
    return this.#held || this.#waiters.length > 0;
  }

  acquire(): Promise<void> {
    if (!this.busy) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Hands the lock to the next waiter (it stays held) or frees it. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }
}

/** A transaction or savepoint, as the async context of the code inside it sees it. */
export interface Scope {
  open: boolean;
  parent?: Scope;
  /** Savepoints made so far in the whole transaction (names them uniquely). */
  root: { savepoints: number };
}

/** Which transaction or savepoint the calling async context is in (AsyncLocalStorage), for both drivers. */
export class Scopes<S extends Scope> {
  readonly #als = new AsyncLocalStorage<S>();

  /** The innermost open transaction or savepoint of the calling context, if any. */
  current(): S | undefined {
    for (let s: Scope | undefined = this.#als.getStore(); s; s = s.parent) if (s.open) return s as S;
    return undefined;
  }

  /** Runs `fn` with `scope` as its context's transaction; the scope closes when `fn` ends. */
  async within<T>(scope: S, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.#als.run(scope, fn);
    } finally {
      scope.open = false;
    }
  }

  /** Runs `fn` in a savepoint `inner` of `outer`, issuing the savepoint statements through `exec`. */
  async savepoint<T>(outer: S, inner: S, exec: (statement: string) => unknown, fn: () => Promise<T>): Promise<T> {
    const name = `sp_${++outer.root.savepoints}`;
    await exec(`SAVEPOINT ${name}`);
    let result: T;
    try {
      result = await this.within(inner, fn);
    } catch (err) {
      await Promise.resolve()
        .then(() => exec(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`))
        .catch(() => undefined); // the transaction itself failed: its end reports it
      throw err;
    }
    await exec(`RELEASE SAVEPOINT ${name}`);
    return result;
  }
}
