/**
 * One of each schedule for the whole cluster (issue 23): the status polls, the offline-queue drain, the
 * reconciliation sweep, token upkeep and retention are each run by one instance at a time, the holder of the
 * schedule's lease. The holder renews its leases every third of their time; an instance that dies (a SIGKILL, a lost
 * host) renews nothing, and another instance takes the lease once it has run out — within `ttlMs`.
 *
 * A lease changing hands mid-interval must not run an interval twice: `claimInterval(key, n)` records "ran for
 * interval n" per key (a schedule, or a schedule and a connection for the per-connection status polls) and says yes
 * once per n in the cluster, and only to the lease's holder. Callers keep ticking as today (node-cron,
 * app/sync/schedules.ts, app/sync/intake/intake-schedule.ts) and ask `runs(schedule)` / `claimInterval` on each tick.
 *
 * Embedded (one process): `InProcessScheduleLeases` always holds every schedule; its interval bookkeeping is a Map.
 * PostgreSQL: `PgScheduleLeases`, lease rows timed by the database's clock (docs/reference/postgresql-coordination.md#leases).
 */
import type pg from 'pg';
import { ensureTables, instanceName, type HolderOptions } from './pg-pool.js';

export interface ScheduleLeases {
  /** This instance's name on the leases it holds. */
  readonly holder: string;
  /** Takes the schedule's lease when free or run out, renews it when ours; true while this instance holds it. */
  hold(schedule: string): Promise<boolean>;
  /**
   * True once per interval `n` of `key` in the cluster, to the holder of `schedule` (the lease is checked in the
   * same statement): the caller then runs that interval. False when it ran already, a later one ran, or the lease is
   * another instance's. `key` defaults to the schedule.
   */
  claimInterval(schedule: string, n: number, key?: string): Promise<boolean>;
  /** Gives the schedule up at once (graceful shutdown), so another instance need not wait for it to run out. */
  release(schedule: string): Promise<void>;
  /** The schedules this instance held at its last renewal (for /health). */
  held(): string[];
  /** Renews `schedules` every third of the lease time until `stop()`: `hold` for each. */
  start(schedules: readonly string[]): void;
  /** Stops renewing; `release` true gives every held lease up, false leaves them to run out (a death). */
  stop(opts?: { release?: boolean }): Promise<void>;
}

/** The interval number of `at` for a schedule run every `everyMs` (epoch-aligned). */
export const intervalOf = (at: number, everyMs: number) => Math.floor(at / everyMs);

/** One process: it holds every schedule; an interval runs once per key. */
export class InProcessScheduleLeases implements ScheduleLeases {
  readonly holder = instanceName('process');
  readonly #ran = new Map<string, number>();
  readonly #held = new Set<string>();

  async hold(schedule: string): Promise<boolean> {
    this.#held.add(schedule);
    return true;
  }

  async claimInterval(schedule: string, n: number, key = schedule): Promise<boolean> {
    const last = this.#ran.get(key);
    if (last !== undefined && last >= n) return false;
    this.#held.add(schedule);
    this.#ran.set(key, n);
    return true;
  }

  async release(schedule: string): Promise<void> {
    this.#held.delete(schedule);
  }

  held(): string[] {
    return [...this.#held].sort();
  }

  start(schedules: readonly string[]): void {
    for (const s of schedules) this.#held.add(s);
  }

  async stop(): Promise<void> {
    this.#held.clear();
  }
}

export interface PgScheduleLeasesOptions extends HolderOptions {
  /** How long a lease lasts without renewal, ms: how long a dead holder keeps its schedules. (Default: 15000) */
  ttlMs?: number;
}

/** Tables of the leases and of the intervals run; made by `ensureScheduleTables`. */
const TABLES = `
  CREATE TABLE IF NOT EXISTS cluster_schedule_leases (
    schedule   text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL,
    term       bigint NOT NULL DEFAULT 1   -- +1 whenever the lease changes hands
  );
  CREATE TABLE IF NOT EXISTS cluster_schedule_runs (
    run_key      text PRIMARY KEY,
    interval_no  bigint NOT NULL,
    holder       text NOT NULL,
    ran_at       timestamptz NOT NULL DEFAULT now()
  );`;

export async function ensureScheduleTables(pool: pg.Pool): Promise<void> {
  await ensureTables(pool, TABLES);
}

export class PgScheduleLeases implements ScheduleLeases {
  readonly holder: string;
  readonly #ttlMs: number;
  readonly #onError: (err: unknown) => void;
  /** Schedule → when our lease runs out by our last renewal (local ms, less a margin). */
  readonly #until = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly pool: pg.Pool, o: PgScheduleLeasesOptions = {}) {
    this.holder = o.holder ?? instanceName('schedules');
    this.#ttlMs = Math.max(200, o.ttlMs ?? 15_000);
    this.#onError = o.onError ?? (() => undefined);
  }

  async hold(schedule: string): Promise<boolean> {
    const asked = Date.now();
    // Taken when free, ours, or run out by the database's clock; one statement, so two instances never both win.
    const r = await this.pool.query(
      `INSERT INTO cluster_schedule_leases AS l (schedule, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (schedule) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
         term = CASE WHEN l.holder = excluded.holder THEN l.term ELSE l.term + 1 END
       WHERE l.holder = excluded.holder OR l.expires_at < now()
       RETURNING term`,
      [schedule, this.holder, this.#ttlMs],
    );
    if (r.rowCount === 1) this.#until.set(schedule, asked + this.#ttlMs * 0.9);
    else this.#until.delete(schedule);
    return r.rowCount === 1;
  }

  async claimInterval(schedule: string, n: number, key = schedule): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO cluster_schedule_runs AS r (run_key, interval_no, holder)
       SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM cluster_schedule_leases WHERE schedule = $4 AND holder = $3 AND expires_at > now())
       ON CONFLICT (run_key) DO UPDATE SET interval_no = excluded.interval_no, holder = excluded.holder, ran_at = now()
       WHERE r.interval_no < excluded.interval_no
       RETURNING 1`,
      [key, n, this.holder, schedule],
    );
    return r.rowCount === 1;
  }

  async release(schedule: string): Promise<void> {
    this.#until.delete(schedule);
    await this.pool.query('DELETE FROM cluster_schedule_leases WHERE schedule = $1 AND holder = $2', [schedule, this.holder]);
  }

  held(): string[] {
    const now = Date.now();
    return [...this.#until].filter(([, until]) => until > now).map(([s]) => s).sort();
  }

  start(schedules: readonly string[]): void {
    if (this.#timer) return;
    const renew = () => void Promise.all(schedules.map((s) => this.hold(s))).catch((err) => {
      this.#until.clear();
      this.#onError(err);
    });
    renew();
    this.#timer = setInterval(renew, Math.floor(this.#ttlMs / 3));
    this.#timer.unref();
  }

  async stop(opts: { release?: boolean } = {}): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (opts.release ?? true) await Promise.all([...this.#until.keys()].map((s) => this.release(s)));
    this.#until.clear();
  }
}
