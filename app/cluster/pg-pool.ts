/**
 * PostgreSQL plumbing shared by the coordination modules of app/cluster/: a pool opened with timeouts (as
 * app/store/pgboss-job-queue.ts opens its own), a transaction helper, and advisory-lock keys from text. The modules
 * take any `pg.Pool`: this one, or the store's (`PostgresDb.pool` of app/store/postgres-driver.ts, whose BIGINTs come
 * back as numbers — the modules read both).
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';

export interface ClusterPoolOptions {
  connectionString: string;
  /** Connections at most. (Default: 4) */
  max?: number;
  /** Shown in pg_stat_activity. (Default: cluster) */
  name?: string;
  /** Errors of idle connections (a restarted server, a terminated backend). (Default: ignored) */
  onError?: (err: unknown) => void;
}

/** Connect, statement and query timeouts, and no transaction left idle holding locks. */
export function openClusterPool(o: ClusterPoolOptions): pg.Pool {
  // https://node-postgres.com/apis/pool https://node-postgres.com/apis/client
  const pool = new pg.Pool({
    connectionString: o.connectionString, max: o.max ?? 4, connectionTimeoutMillis: 5000,
    statement_timeout: 15_000, query_timeout: 20_000, idle_in_transaction_session_timeout: 30_000,
    application_name: (o.name ?? 'cluster').slice(0, 60),
  });
  pool.on('error', (err) => (o.onError ?? (() => undefined))(err));
  return pool;
}

/** Runs `fn` in one transaction on one connection of `pool`; rolls back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    c.release();
    return out;
  } catch (err) {
    // A broken connection is dropped, not handed to the next caller.
    await c.query('ROLLBACK').then(() => c.release(), () => c.release(true));
    throw err;
  }
}

/**
 * The two-integer key of an advisory lock for `text` in `lockClass` (docs/reference/postgresql-coordination.md#advisory-locks):
 * the first 32 bits of its SHA-1. Two names meeting on one key only wait for each other; nothing is lost.
 */
export function advisoryKey(lockClass: number, text: string): [number, number] {
  return [lockClass, createHash('sha1').update(text).digest().readInt32BE(0)];
}

/**
 * Runs `ddl` (CREATE … IF NOT EXISTS) once at a time across instances: PostgreSQL does not serialise concurrent
 * creations of one table, and the loser would fail on a duplicate type name.
 */
export async function ensureTables(pool: pg.Pool, ddl: string): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1, $2)', advisoryKey(LOCK_CLASS.schema, 'tables'));
    await c.query(ddl);
  });
}

/** Advisory-lock classes of app/cluster/ (pgboss-job-queue.ts uses 0x0b0c; pg-boss the one-argument form). */
export const LOCK_CLASS = { singleFlight: 0x0c01, xeroLimits: 0x0c02, schema: 0x0c03 } as const;

/** What every holder of leases in app/cluster/ is told: its name on them, and where its background errors go. */
export interface HolderOptions {
  /** This instance's name in the `holder` columns. (Default: a unique name per start) */
  holder?: string;
  /** Errors of the background renewal (the database away): the leases then run out and other instances take over. */
  onError?: (err: unknown) => void;
}

/** A name for this instance in the `holder` columns: unique per start. */
export function instanceName(prefix = 'instance'): string {
  return `${prefix}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
