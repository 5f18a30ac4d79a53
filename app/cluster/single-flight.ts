/**
 * Single-flight across the cluster (issue 23: tokens refreshed once). `run(key, fn)`: at most one caller in the
 * cluster runs `fn` for `key` at a time; the others wait, then run theirs after, one by one in the order they asked —
 * so a token refresh that lost the race reads the stored pair again under the lock and finds it renewed (as
 * app/bitrix/portal-tokens.ts and app/xero/connections.ts do today under their `b24-token:` / `xero-token:` leases).
 * A caller that cannot start within `waitMs` fails with `SingleFlightTimeout` and never runs `fn`.
 *
 * Embedded: `InProcessSingleFlight`, a queue of promises per key. PostgreSQL: `PgSingleFlight`, a session-level
 * advisory lock on the key's hash held on one connection for the duration of `fn`
 * (docs/reference/postgresql-coordination.md#advisory-locks): PostgreSQL queues the waiters, and a holder whose
 * instance dies loses its connection and with it the lock, so a dead instance keeps nobody waiting.
 */
import type pg from 'pg';
import { advisoryKey, LOCK_CLASS } from './pg-pool.js';

export interface SingleFlight {
  run<T>(key: string, fn: () => Promise<T>, opts?: { waitMs?: number }): Promise<T>;
}

export class SingleFlightTimeout extends Error {
  constructor(readonly key: string, readonly waitMs: number) {
    super(`Another caller kept "${key}" for more than ${waitMs} ms.`);
  }
}

const DEFAULT_WAIT_MS = 65_000;

/** One process: each key's callers run one after the other, in the order they asked. */
export class InProcessSingleFlight implements SingleFlight {
  /** Per key, the end of the last caller's turn (settled, never rejected). */
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>, opts: { waitMs?: number } = {}): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    const tail = before.then(() => mine);
    this.#tails.set(key, tail);
    const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      const turn = await Promise.race([before.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), waitMs)))]);
      // Timed out: this caller gives its turn up (the next one's starts when the one before it ends).
      if (!turn) throw new SingleFlightTimeout(key, waitMs);
      return await fn();
    } finally {
      clearTimeout(timer);
      done();
      if (this.#tails.get(key) === tail) void tail.then(() => this.#tails.get(key) === tail && this.#tails.delete(key));
    }
  }
}

/** Across instances: an advisory lock on the key, held on one connection of `pool` while `fn` runs. */
export class PgSingleFlight implements SingleFlight {
  constructor(private readonly pool: pg.Pool) {}

  async run<T>(key: string, fn: () => Promise<T>, opts: { waitMs?: number } = {}): Promise<T> {
    const waitMs = Math.max(1, Math.round(opts.waitMs ?? DEFAULT_WAIT_MS));
    const [cls, k] = advisoryKey(LOCK_CLASS.singleFlight, key);
    const c = await this.pool.connect();
    // A connection lost while held (a PostgreSQL restart, a terminated backend) emits 'error' on the checked-out
    // client: heard here, so it fails this caller's queries instead of the process; the client is dropped below.
    let lost: Error | undefined;
    const onLost = (err: Error) => (lost = err);
    c.on('error', onLost);
    let locked = false;
    try {
      // lock_timeout bounds the wait for the lock (advisory ones included); the statement timeout is lifted above it
      // for this one statement. https://www.postgresql.org/docs/15/runtime-config-client.html#GUC-LOCK-TIMEOUT
      await c.query(`SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`, [`${waitMs}ms`, `${waitMs + 5000}ms`]);
      try {
        // https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
        await c.query({ text: 'SELECT pg_advisory_lock($1, $2)', values: [cls, k], query_timeout: waitMs + 10_000 } as pg.QueryConfig);
      } catch (err) {
        if ((err as { code?: string }).code === '55P03') throw new SingleFlightTimeout(key, waitMs); // lock_not_available
        throw err;
      }
      locked = true;
      await c.query('RESET lock_timeout; RESET statement_timeout');
      return await fn();
    } finally {
      const done = (err?: Error) => {
        c.off('error', onLost);
        c.release(err ?? lost);
      };
      if (locked) {
        // Unlocked on the same session; a connection that broke meanwhile took the lock with it and is dropped.
        await c.query('SELECT pg_advisory_unlock($1, $2)', [cls, k]).then(() => done(), (err: Error) => done(err));
      } else {
        await c.query('RESET lock_timeout; RESET statement_timeout').then(() => done(), (err: Error) => done(err));
      }
    }
  }
}
