/**
 * Xero's limits held for the cluster (issue 23; docs/reference/xero.md#rate-limits): per organisation 5 calls in
 * flight and 60 a minute, and the app's 10,000 a minute across every organisation — counted for all instances
 * together, not per process, and corrected from Xero's own counts in its answers' headers.
 *
 * `acquire(org)` waits for an in-flight slot, then for room in the minute (the organisation's and the app's), and
 * returns a permit; `permit.release()` after Xero's answer frees the slot. `observe(org, headers)` adopts
 * `X-MinLimit-Remaining`, `X-AppMinLimit-Remaining` and `X-DayLimit-Remaining` where they say less is left than
 * counted, so every instance obeys what one of them read. `pause(org, until)` shares a 429's Retry-After. A spent
 * day (Xero's word, less the calls since) refuses at once with `LimitReached` (XERO.DAY_LIMIT), as the gateway does.
 *
 * Embedded: `InProcessXeroCallLimits`, what app/xero/gateway.ts keeps per process today (a counter of calls in
 * flight, a sliding minute window, Xero's corrections), on the connector's clock. PostgreSQL: `PgXeroCallLimits`
 * (docs/reference/postgresql-coordination.md#xero-limits):
 * - the minute counts are rate-limiter-flexible's PostgreSQL limiter, one fixed counter per organisation per
 *   `bucketMs` (5 s); a call is let through when the buckets a minute back, its own included, hold fewer than the
 *   limit — so no sliding minute ever holds more (a fixed one-minute counter lets 2× through across its edge).
 *   The check and the count are one transaction under an advisory lock per organisation (and one for the app);
 * - the in-flight slots are rows leased to their instance and renewed by it; a dead instance's slots run out after
 *   `slotTtlMs` and are taken again;
 * - buckets and leases are timed by the database's clock, which every instance shares.
 */
import type pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { clock } from '../clock.js';
import { LimitReached, utcTime } from '../errors.js';
import { advisoryKey, ensureTables, inTransaction, instanceName, LOCK_CLASS, sleep, type HolderOptions } from './pg-pool.js';

export interface XeroCallLimitsConfig {
  /** Calls in flight per organisation. (Default: 5) */
  concurrent: number;
  /** Calls started per organisation per window, below Xero's 60 (the gateway's headroom). (Default: 55) */
  perMinute: number;
  /** Xero's own count per organisation per window, which `X-MinLimit-Remaining` counts down from. (Default: 60) */
  xeroPerMinute: number;
  /** Calls per window for the whole app, below Xero's 10,000. (Default: 9900) */
  appPerMinute: number;
  /** Xero's app-wide count per window, which `X-AppMinLimit-Remaining` counts down from. (Default: 10000) */
  xeroAppPerMinute: number;
  /** The window, ms; shorter only in tests. (Default: 60000) */
  windowMs: number;
  /** Length of Xero's counting day, ms: a day reading older than that no longer refuses. (Default: 86400000) */
  dayMs: number;
}

export const DEFAULT_CALL_LIMITS: XeroCallLimitsConfig = {
  concurrent: 5, perMinute: 55, xeroPerMinute: 60, appPerMinute: 9900, xeroAppPerMinute: 10_000, windowMs: 60_000, dayMs: 86_400_000,
};

/** Xero's counts in one answer's headers (null: absent). */
export interface XeroCounts {
  minuteRemaining?: number | null;
  appMinuteRemaining?: number | null;
  dayRemaining?: number | null;
}

export interface XeroPermit {
  /** Frees the in-flight slot (the call was answered or failed); the minute keeps counting the call. */
  release(): Promise<void>;
}

export interface XeroCallLimits {
  /** Waits for a slot and room in the minute, at most `waitMs` (then `LimitReached` XERO.LIMIT_WAIT). */
  acquire(org: string, opts?: { waitMs?: number }): Promise<XeroPermit>;
  /** Adopts Xero's counts where they say less is left than counted here. */
  observe(org: string, counts: XeroCounts): Promise<void>;
  /** No call of the organisation starts before `until` (epoch ms; a 429's Retry-After). */
  pause(org: string, until: number): Promise<void>;
  /** What is counted now (for health and tests). */
  usage(org: string): Promise<{ inFlight: number; minute: number; app: number; dayRemaining: number | null }>;
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 120_000;

function waited(org: string, ms: number): LimitReached {
  return new LimitReached('XERO.LIMIT_WAIT', `Xero's limits for ${org} kept this call waiting for more than ${ms} ms.`, clock.now() + 1000);
}

function daySpent(retryAt: number): LimitReached {
  return new LimitReached('XERO.DAY_LIMIT', `Xero daily limit reached, retry at ${utcTime(retryAt)}.`, retryAt);
}

/** How many calls Xero counts that are not counted here, from its remaining count (0 when none or unknown). */
function missing(xeroLimit: number, remaining: number | null | undefined, counted: number): number {
  if (remaining === null || remaining === undefined || !Number.isFinite(remaining)) return 0;
  return Math.max(0, xeroLimit - Math.max(0, remaining) - counted);
}

/** A call counted in a window: in flight (t = Infinity) or answered at t, or one Xero counted, as of its answer. */
interface Counted { t: number }

interface OrgState {
  inFlight: number;
  waiters: (() => void)[];
  minute: Counted[];
  pausedUntil: number;
  day: { remaining: number; at: number } | null;
}

/** When the window has room for one more call: now, later (the n-th newest leaves), or Infinity (a call still in flight). */
function roomAt(window: Counted[], limit: number, windowMs: number, now: number): number {
  if (window.length < limit) return now;
  const times = window.map((w) => w.t).sort((x, y) => x - y);
  return times[times.length - limit]! + windowMs;
}

/**
 * One process: the counts of app/xero/gateway.ts, on the connector's clock. A call is timed by its answer, not its
 * start (Xero counted it on arrival, between the two), so the window never frees a call before Xero does.
 */
export class InProcessXeroCallLimits implements XeroCallLimits {
  readonly #c: XeroCallLimitsConfig;
  readonly #orgs = new Map<string, OrgState>();
  #app: Counted[] = [];

  constructor(config: Partial<XeroCallLimitsConfig> = {}) {
    this.#c = { ...DEFAULT_CALL_LIMITS, ...config };
  }

  #org(org: string): OrgState {
    let s = this.#orgs.get(org);
    if (!s) this.#orgs.set(org, (s = { inFlight: 0, waiters: [], minute: [], pausedUntil: 0, day: null }));
    return s;
  }

  #prune(s: OrgState, now: number): void {
    const edge = now - this.#c.windowMs;
    s.minute = s.minute.filter((w) => w.t > edge);
    this.#app = this.#app.filter((w) => w.t > edge);
  }

  async acquire(org: string, opts: { waitMs?: number } = {}): Promise<XeroPermit> {
    const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
    const deadline = clock.now() + waitMs;
    const s = this.#org(org);
    while (s.inFlight >= this.#c.concurrent) {
      const left = deadline - clock.now();
      if (left <= 0) throw waited(org, waitMs);
      let wake!: () => void;
      const turn = new Promise<void>((r) => (wake = r));
      s.waiters.push(wake);
      await Promise.race([turn, clock.sleep(left)]);
      s.waiters = s.waiters.filter((w) => w !== wake);
    }
    s.inFlight += 1;
    let released = false;
    const freeSlot = () => {
      released = true;
      s.inFlight -= 1;
      s.waiters.shift()?.();
    };
    try {
      for (;;) {
        const now = clock.now();
        this.#prune(s, now);
        if (s.day && s.day.remaining <= 0 && now - s.day.at < this.#c.dayMs) throw daySpent(s.day.at + this.#c.dayMs);
        const freeAt = Math.max(s.pausedUntil, roomAt(s.minute, this.#c.perMinute, this.#c.windowMs, now), roomAt(this.#app, this.#c.appPerMinute, this.#c.windowMs, now));
        if (freeAt <= now) break;
        if (now >= deadline || (Number.isFinite(freeAt) && freeAt > deadline)) throw waited(org, waitMs);
        // A window full of calls in flight frees when one is answered: looked at again shortly.
        await clock.sleep(Math.min(Number.isFinite(freeAt) ? freeAt - now + 1 : 50, deadline - now));
      }
    } catch (err) {
      freeSlot();
      throw err;
    }
    const mine: Counted = { t: Number.POSITIVE_INFINITY };
    const app: Counted = { t: Number.POSITIVE_INFINITY };
    s.minute.push(mine);
    this.#app.push(app);
    if (s.day) s.day.remaining -= 1;
    return {
      release: async () => {
        if (released) return;
        mine.t = app.t = clock.now();
        freeSlot();
      },
    };
  }

  async observe(org: string, counts: XeroCounts): Promise<void> {
    const s = this.#org(org);
    const now = clock.now();
    this.#prune(s, now);
    // Calls Xero counts and this window does not (an earlier process, the import): counted as of now, the latest
    // they can have been made. Calls in flight count as Xero's already, as the gateway counts them.
    for (let n = missing(this.#c.xeroPerMinute, counts.minuteRemaining, s.minute.length); n > 0; n--) s.minute.push({ t: now });
    for (let n = missing(this.#c.xeroAppPerMinute, counts.appMinuteRemaining, this.#app.length); n > 0; n--) this.#app.push({ t: now });
    const day = counts.dayRemaining;
    if (day !== null && day !== undefined && Number.isFinite(day)) {
      // A lower count wins; a higher one only once the last reading is a window old (Xero's rolling day moved on).
      if (!s.day || day < s.day.remaining || now - s.day.at >= this.#c.windowMs) s.day = { remaining: day, at: now };
    }
  }

  async pause(org: string, until: number): Promise<void> {
    const s = this.#org(org);
    s.pausedUntil = Math.max(s.pausedUntil, until);
  }

  async usage(org: string) {
    const s = this.#org(org);
    this.#prune(s, clock.now());
    return { inFlight: s.inFlight, minute: s.minute.length, app: this.#app.length, dayRemaining: s.day?.remaining ?? null };
  }

  async close(): Promise<void> {
    this.#orgs.clear();
  }
}

export interface PgXeroCallLimitsOptions extends HolderOptions {
  limits?: Partial<XeroCallLimitsConfig>;
  /** Width of one minute counter, ms; a minute is checked over windowMs/bucketMs + 1 of them. (Default: 5000) */
  bucketMs?: number;
  /** How long an in-flight slot lasts without renewal, ms: how long a dead instance's calls hold their slots. (Default: 45000, above a call's 30 s timeout) */
  slotTtlMs?: number;
  /** How often a waiting caller looks again, ms at most. (Default: 100) */
  pollMs?: number;
}

const TABLES = `
  CREATE TABLE IF NOT EXISTS cluster_xero_in_flight (
    id         bigserial PRIMARY KEY,
    org        text NOT NULL,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL,
    counted_in bigint          -- the minute bucket the call was counted in when it started
  );
  CREATE INDEX IF NOT EXISTS cluster_xero_in_flight_org ON cluster_xero_in_flight (org);
  CREATE INDEX IF NOT EXISTS cluster_xero_in_flight_holder ON cluster_xero_in_flight (holder);
  CREATE TABLE IF NOT EXISTS cluster_xero_orgs (
    org           text PRIMARY KEY,
    paused_until  timestamptz,
    day_remaining integer,
    day_read_at   timestamptz
  );
  -- rate-limiter-flexible's table, as it would make it (lib/RateLimiterPostgres.js), made here under our lock: its
  -- own creation is not safe when several instances start at once.
  CREATE TABLE IF NOT EXISTS cluster_xero_minute (
    key    varchar(255) PRIMARY KEY,
    points integer NOT NULL DEFAULT 0,
    expire bigint
  );`;
const MINUTE_TABLE = 'cluster_xero_minute';
const KEY_PREFIX = 'xm';
const APP = '*app*';

/** The database's clock, epoch ms. */
const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

export class PgXeroCallLimits implements XeroCallLimits {
  readonly holder: string;
  readonly #c: XeroCallLimitsConfig;
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #slotTtlMs: number;
  readonly #pollMs: number;
  readonly #onError: (err: unknown) => void;
  /** The pool's limiter: it made the table and clears its expired rows; counting uses one on the transaction's connection. */
  readonly #limiter: RateLimiterPostgres;
  readonly #slots = new Set<string>();
  #beat: NodeJS.Timeout | undefined;

  private constructor(private readonly pool: pg.Pool, o: PgXeroCallLimitsOptions, limiter: RateLimiterPostgres) {
    this.holder = o.holder ?? instanceName('xero-limits');
    this.#c = { ...DEFAULT_CALL_LIMITS, ...o.limits };
    this.#bucketMs = Math.max(50, o.bucketMs ?? 5000);
    this.#buckets = Math.ceil(this.#c.windowMs / this.#bucketMs) + 1;
    this.#slotTtlMs = Math.max(300, o.slotTtlMs ?? 45_000);
    this.#pollMs = o.pollMs ?? 100;
    this.#onError = o.onError ?? (() => undefined);
    this.#limiter = limiter;
    this.#beat = setInterval(() => void this.#renew().catch((err) => this.#onError(err)), Math.floor(this.#slotTtlMs / 3));
    this.#beat.unref();
  }

  /** Opens the limits on `pool` (the instance's own), making the tables when missing. */
  static async open(pool: pg.Pool, o: PgXeroCallLimitsOptions = {}): Promise<PgXeroCallLimits> {
    await ensureTables(pool, TABLES);
    // https://github.com/animir/node-rate-limiter-flexible/wiki/PostgreSQL (storeClient: a pg Pool; tableCreated:
    // the table is there; clearExpiredByTimeout: it deletes the rows expired an hour ago every 5 minutes)
    return new PgXeroCallLimits(pool, o, new RateLimiterPostgres(limiterOptions(pool, MINUTE_TABLE, true, 1, true)));
  }

  /** The counter of `key` in bucket `b`, as rate-limiter-flexible names it (`<prefix>:<key>`). */
  #keys(key: string, b: number): string[] {
    return Array.from({ length: this.#buckets }, (_, i) => `${KEY_PREFIX}:${key}:${b - i}`);
  }

  /** A limiter on the transaction's connection, so its count is inside the lock (no queries of its own on creation). */
  #counter(c: pg.PoolClient): RateLimiterPostgres {
    return new RateLimiterPostgres(limiterOptions(c, MINUTE_TABLE, true, Math.ceil((this.#c.windowMs + 3 * this.#bucketMs) / 1000) + 60, false));
  }

  async #lock(c: pg.PoolClient, name: string): Promise<void> {
    const [cls, k] = advisoryKey(LOCK_CLASS.xeroLimits, name);
    // Held to the end of the transaction. https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
    await c.query('SELECT pg_advisory_xact_lock($1, $2)', [cls, k]);
  }

  /**
   * The calls counted a window back from bucket `b`, per key (an organisation, or APP for all): its buckets, and the
   * calls still in flight that were counted in a bucket older than that — a call counts until it is answered.
   */
  async #counted(c: pg.PoolClient, keys: string[], b: number): Promise<number[]> {
    const all = keys.flatMap((k) => this.#keys(k, b));
    const r = await c.query<{ key: string; points: number }>(`SELECT key, points FROM ${MINUTE_TABLE} WHERE key = ANY($1)`, [all]);
    const long = await c.query<{ org: string; n: string }>(
      'SELECT org, count(*) AS n FROM cluster_xero_in_flight WHERE counted_in < $1 AND expires_at >= now() GROUP BY org', [b - this.#buckets + 1]);
    return keys.map((k) => r.rows.filter((row) => row.key.startsWith(`${KEY_PREFIX}:${k}:`)).reduce((sum, row) => sum + row.points, 0)
      + long.rows.filter((row) => k === APP || row.org === k).reduce((sum, row) => sum + Number(row.n), 0));
  }

  async acquire(org: string, opts: { waitMs?: number } = {}): Promise<XeroPermit> {
    const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
    const deadline = Date.now() + waitMs;
    const slot = await this.#takeSlot(org, deadline, waitMs);
    let started = 0;
    try {
      for (;;) {
        const wait = await inTransaction(this.pool, async (c) => {
          await this.#lock(c, `minute:${org}`);
          await this.#lock(c, `minute:${APP}`);
          const r = await c.query<{ now: string; paused: string | null; day_remaining: number | null; day_read: string | null }>(
            `SELECT ${DB_NOW} AS now, (extract(epoch from o.paused_until) * 1000)::bigint AS paused, o.day_remaining,
                    (extract(epoch from o.day_read_at) * 1000)::bigint AS day_read
             FROM (SELECT 1) one LEFT JOIN cluster_xero_orgs o ON o.org = $1`, [org]);
          const row = r.rows[0]!;
          const now = Number(row.now);
          const dayRead = row.day_read === null ? null : Number(row.day_read);
          if (row.day_remaining !== null && row.day_remaining <= 0 && dayRead !== null && now - dayRead < this.#c.dayMs) throw daySpent(dayRead + this.#c.dayMs);
          const paused = row.paused === null ? 0 : Number(row.paused);
          if (paused > now) return paused - now;
          const b = Math.floor(now / this.#bucketMs);
          const [mine, app] = await this.#counted(c, [org, APP], b);
          // Room when the buckets back to a window before this one hold fewer than the limit: the oldest leaves at the next edge.
          if (mine! >= this.#c.perMinute || app! >= this.#c.appPerMinute) return (b + 1) * this.#bucketMs - now + 1;
          // rate-limiter-flexible's consume: one point on the bucket's counter (its upsert; it never refuses here).
          // https://github.com/animir/node-rate-limiter-flexible/wiki/API-methods#ratelimiterconsumekey-points--1-options--
          const counter = this.#counter(c);
          await counter.consume(`${org}:${b}`, 1);
          await counter.consume(`${APP}:${b}`, 1);
          if (row.day_remaining !== null) await c.query('UPDATE cluster_xero_orgs SET day_remaining = day_remaining - 1 WHERE org = $1', [org]);
          await c.query('UPDATE cluster_xero_in_flight SET counted_in = $2 WHERE id = $1', [slot.id, b]);
          started = b;
          return 0;
        });
        if (wait === 0) {
          let answered: Promise<void> | undefined;
          return { release: () => (answered ??= this.#answered(org, started, slot)) };
        }
        if (Date.now() + Math.min(wait, 1) > deadline) throw waited(org, waitMs);
        await sleep(Math.min(wait, this.#pollMs * 5, Math.max(1, deadline - Date.now())));
      }
    } catch (err) {
      await slot.release().catch((e) => this.#onError(e));
      throw err;
    }
  }

  /**
   * The call was answered: it moves from the bucket it started in to the one it ended in (a call is timed by its
   * answer, not its start: Xero counted it on arrival, between the two, so no bucket frees it before Xero does), and
   * its slot is freed.
   */
  async #answered(org: string, started: number, slot: XeroPermit): Promise<void> {
    const bucketNow = async (q: pg.Pool | pg.PoolClient) => Math.floor(Number((await q.query<{ now: string }>(`SELECT ${DB_NOW} AS now`)).rows[0]!.now) / this.#bucketMs);
    try {
      // Answered within the bucket it started in (most calls): nothing moves, and no lock is taken.
      if ((await bucketNow(this.pool)) === started) return;
      await inTransaction(this.pool, async (c) => {
        await this.#lock(c, `minute:${org}`);
        await this.#lock(c, `minute:${APP}`);
        const b = await bucketNow(c);
        // reward gives points back, consume takes them: https://github.com/animir/node-rate-limiter-flexible/wiki/API-methods
        const counter = this.#counter(c);
        for (const key of [org, APP]) {
          await counter.reward(`${key}:${started}`, 1);
          await counter.consume(`${key}:${b}`, 1);
        }
      });
    } finally {
      await slot.release();
    }
  }

  /** An in-flight slot of the organisation, leased to this instance; expired ones (a dead instance's) are taken back. */
  async #takeSlot(org: string, deadline: number, waitMs: number): Promise<XeroPermit & { id: string }> {
    for (;;) {
      const id = await inTransaction(this.pool, async (c) => {
        await this.#lock(c, `slots:${org}`);
        await c.query('DELETE FROM cluster_xero_in_flight WHERE org = $1 AND expires_at < now()', [org]);
        const r = await c.query(
          `INSERT INTO cluster_xero_in_flight (org, holder, expires_at)
           SELECT $1, $2, now() + $3 * interval '1 millisecond' WHERE (SELECT count(*) FROM cluster_xero_in_flight WHERE org = $1) < $4
           RETURNING id`,
          [org, this.holder, this.#slotTtlMs, this.#c.concurrent],
        );
        return r.rows[0]?.id as string | undefined;
      });
      if (id !== undefined) {
        this.#slots.add(id);
        let released = false;
        return {
          id,
          release: async () => {
            if (released) return;
            released = true;
            this.#slots.delete(id);
            await this.pool.query('DELETE FROM cluster_xero_in_flight WHERE id = $1', [id]);
          },
        };
      }
      if (Date.now() >= deadline) throw waited(org, waitMs);
      await sleep(Math.min(this.#pollMs * (0.5 + Math.random()), Math.max(1, deadline - Date.now())));
    }
  }

  /** Renews this instance's slots (a long call keeps its slot; a dead instance's run out). */
  async #renew(): Promise<void> {
    if (this.#slots.size === 0) return;
    await this.pool.query(`UPDATE cluster_xero_in_flight SET expires_at = now() + $2 * interval '1 millisecond' WHERE id = ANY($1)`, [[...this.#slots], this.#slotTtlMs]);
  }

  async observe(org: string, counts: XeroCounts): Promise<void> {
    const { minuteRemaining, appMinuteRemaining, dayRemaining } = counts;
    if (minuteRemaining != null || appMinuteRemaining != null) {
      await inTransaction(this.pool, async (c) => {
        await this.#lock(c, `minute:${org}`);
        await this.#lock(c, `minute:${APP}`);
        const now = Number((await c.query<{ now: string }>(`SELECT ${DB_NOW} AS now`)).rows[0]!.now);
        const b = Math.floor(now / this.#bucketMs);
        const [mine, app] = await this.#counted(c, [org, APP], b);
        // Calls Xero counts and no instance did (before a start, another process): counted as of now, so they leave
        // the window no sooner than Xero's.
        // penalty adds points to a key's counter: https://github.com/animir/node-rate-limiter-flexible/wiki/API-methods
        const counter = this.#counter(c);
        const more = missing(this.#c.xeroPerMinute, minuteRemaining, mine!);
        if (more > 0) await counter.penalty(`${org}:${b}`, more);
        const moreApp = missing(this.#c.xeroAppPerMinute, appMinuteRemaining, app!);
        if (moreApp > 0) await counter.penalty(`${APP}:${b}`, moreApp);
      });
    }
    if (dayRemaining != null && Number.isFinite(dayRemaining)) {
      // A lower count wins; a higher one only once the last reading is a window old (Xero's rolling day moved on):
      // answers arrive out of order across instances, and the lower of two close readings is the later count.
      await this.pool.query(
        `INSERT INTO cluster_xero_orgs AS o (org, day_remaining, day_read_at) VALUES ($1, $2, now())
         ON CONFLICT (org) DO UPDATE SET day_remaining = excluded.day_remaining, day_read_at = excluded.day_read_at
         WHERE o.day_remaining IS NULL OR excluded.day_remaining < o.day_remaining OR o.day_read_at < now() - $3 * interval '1 millisecond'`,
        [org, Math.max(0, Math.floor(dayRemaining)), this.#c.windowMs],
      );
    }
  }

  async pause(org: string, until: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO cluster_xero_orgs AS o (org, paused_until) VALUES ($1, to_timestamp($2 / 1000.0))
       ON CONFLICT (org) DO UPDATE SET paused_until = GREATEST(o.paused_until, excluded.paused_until)`,
      [org, until],
    );
  }

  async usage(org: string) {
    const c = await this.pool.connect();
    try {
      const now = Number((await c.query<{ now: string }>(`SELECT ${DB_NOW} AS now`)).rows[0]!.now);
      const [mine, app] = await this.#counted(c, [org, APP], Math.floor(now / this.#bucketMs));
      const r = await c.query<{ n: string; day: number | null }>(
        `SELECT (SELECT count(*) FROM cluster_xero_in_flight WHERE org = $1 AND expires_at >= now()) AS n,
                (SELECT day_remaining FROM cluster_xero_orgs WHERE org = $1) AS day`, [org]);
      return { inFlight: Number(r.rows[0]!.n), minute: mine!, app: app!, dayRemaining: r.rows[0]!.day };
    } finally {
      c.release();
    }
  }

  /** Stops renewing; `release` true frees this instance's slots, false leaves them to run out (a death). */
  async close(opts: { release?: boolean } = {}): Promise<void> {
    clearInterval(this.#beat);
    this.#beat = undefined;
    const ids = [...this.#slots];
    this.#slots.clear();
    if ((opts.release ?? true) && ids.length > 0) await this.pool.query('DELETE FROM cluster_xero_in_flight WHERE id = ANY($1)', [ids]);
  }
}

/** rate-limiter-flexible's PostgreSQL options: counters that never refuse (the limit is checked above), by key. */
function limiterOptions(client: pg.Pool | pg.PoolClient, tableName: string, tableCreated: boolean, durationSeconds: number, clearExpired: boolean) {
  return {
    // storeType is told by the client's class: a Pool, or one connection of it.
    storeClient: client, tableName, tableCreated, keyPrefix: KEY_PREFIX,
    points: 2 ** 30, duration: durationSeconds, clearExpiredByTimeout: clearExpired,
  };
}
