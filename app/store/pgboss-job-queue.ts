/**
 * The outbox on PostgreSQL, shared by any number of instances: JobQueue (job-queue.ts) on pg-boss 10, the last
 * pg-boss line that runs on Node 20 (docs/reference/pg-boss.md#version).
 *
 * Two records per job, written in one transaction (docs/reference/pg-boss.md#design):
 * - `outbox_jobs`, ours, is the job as the dashboard and the outbox know it: a numeric id (the Retry button posts
 *   ids), the document key with one live job per key (a partial unique index, so it holds across instances), the
 *   payload and its revision (coalescing updates a live job in place), the states pg-boss has no word for
 *   (needs attention with the time it first stood for its cause, paused), and the reasons as data.
 * - a pg-boss job, its "run ticket", for each run: made when the job becomes pending (queue = kind, singletonKey =
 *   document key on a `stately` queue, so PostgreSQL refuses a second queued or a second active run of a document;
 *   startAfter = run-at), taken to `active` by a claim (pg-boss's lease: `started_on` + `expireInSeconds`), and
 *   finished with pg-boss's own calls: `complete`, `fail` with the reason as its output, `cancel` when paused,
 *   `deleteJob` when dropped. pg-boss's maintenance fails leases that ran out and archives finished tickets.
 *
 * What pg-boss cannot do here, done by this file (docs/reference/pg-boss.md#gaps):
 * - Claiming. `fetch` takes one queue's next jobs by priority and creation; the outbox claims the due jobs of one
 *   kind, of one portal (a Xero batch is one organisation's), likely echoes last or left, oldest run-at first. The
 *   claim is one statement with pg-boss's own pattern (FOR UPDATE SKIP LOCKED over the tickets, then `active`,
 *   `started_on = now()`), joined to our rows for the filters.
 * - Heartbeat. pg-boss 10 has none: an instance moves `started_on` of its own active tickets on every
 *   `heartbeatMs`, so a long run keeps its lease and a dead instance's lease runs out after `leaseSeconds`; a claim
 *   then takes its jobs over (it does not wait for pg-boss's maintenance to fail them).
 * - Retry timing. pg-boss's retry computes its own delay; the outbox sets run-at itself (back-off with jitter, a
 *   limit's reset time) and counts attempts itself, so tickets have `retryLimit: 0` and a retry is a new ticket.
 *
 * Clocks (docs/reference/pg-boss.md#clocks): run-at, created/updated times and `attentionSince` are the connector's
 * clock (app/clock.ts), as embedded, and the claim compares run-at with the `now` it is given — so a test's or the
 * demo's moved clock works the same on both stores. Leases are timed by the database's `now()` (pg-boss's
 * `started_on`, `expire_in` and maintenance), since other instances read them.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { clock } from '../clock.js';
import { openClusterPool } from '../cluster/pg-pool.js';
import { currentRequestId } from '../request-context.js';
import { stickyFields, type EnqueueInput, type Job, type JobState } from './jobs.js';
import { MAX_CLAIM, type ClaimOptions, type JobQueue, type JobReason, type RetryFilter } from './job-queue.js';

export interface PgBossJobQueueOptions {
  connectionString: string;
  /** How long a claimed run is held without a heartbeat before another instance may take it over, s (>= 1). (Default: 60) */
  leaseSeconds?: number;
  /** How often this instance renews the leases of its runs, ms; 0: never (a test's hung instance). (Default: leaseSeconds·1000/3) */
  heartbeatMs?: number;
  /** This instance's name on the runs it holds. (Default: a random id) */
  instanceId?: string;
  /** The schema of pg-boss's tables. (Default: pgboss) */
  bossSchema?: string;
  /** Connections of this queue (ours and pg-boss's share one pool). (Default: 5) */
  maxConnections?: number;
  /** Errors of background work (pg-boss's maintenance, the heartbeat). (Default: ignored) */
  onError?: (err: unknown) => void;
}

const STATES: readonly JobState[] = ['pending', 'running', 'done', 'needs_attention', 'paused', 'cancelled'];
const LIVE = `state IN ('pending', 'running', 'paused', 'needs_attention')`;
/** 1 for a job whose payload says it is likely an echo of the connector's own write-back, else 0 (SQL). */
const LIKELY_ECHO = `(CASE WHEN o.payload->>'likelyEcho' = 'true' THEN 1 ELSE 0 END)`;
/** Advisory-lock class of enqueue's per-key lock (pg-boss uses the one-argument form, so the two never meet). */
const KEY_LOCK_CLASS = 0x0b0c;
/** Tickets are kept by pg-boss while queued for far longer than any wait (its default is 14 days). */
const TICKET_RETENTION_MINUTES = 10 * 365 * 24 * 60;
const OPEN_TIMEOUT_MS = 30_000;

interface Row {
  id: string;
  member_id: string | null;
  kind: string;
  job_key: string;
  payload: unknown;
  state: JobState;
  revision: number;
  attempts: number;
  run_at: string;
  locked_at: string | null;
  locked_by: string | null;
  ticket: string | null;
  last_error: string | null;
  last_error_code: string | null;
  created_at: string;
  updated_at: string;
  request_id: string | null;
  attention_since: string | null;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

function fromRow(r: Row): Job {
  return {
    id: Number(r.id), memberId: r.member_id, kind: r.kind, key: r.job_key, payload: r.payload, state: r.state,
    revision: r.revision, attempts: r.attempts, runAt: Number(r.run_at), lockedAt: num(r.locked_at),
    lastError: r.last_error, lastErrorCode: r.last_error_code, createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at), requestId: r.request_id, attentionSince: num(r.attention_since),
  };
}

/** Rejects when `p` has not settled within `ms` (for the calls whose driver has no timeout of its own). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

type Client = pg.PoolClient;

export class PgBossJobQueue implements JobQueue {
  readonly instanceId: string;
  readonly #pool: pg.Pool;
  readonly #boss: PgBoss;
  readonly #schema: string;
  readonly #leaseSeconds: number;
  readonly #onError: (err: unknown) => void;
  readonly #queues = new Map<string, Promise<void>>();
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: PgBossJobQueueOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.#schema = options.bossSchema ?? 'pgboss';
    if (!/^\w{1,50}$/.test(this.#schema)) throw new Error('bossSchema: letters, digits and _ only');
    this.#leaseSeconds = Math.max(1, Math.round(options.leaseSeconds ?? 60));
    this.#onError = options.onError ?? (() => undefined);
    // The cluster's pool: connect, statement and query timeouts, and no transaction left idle holding locks.
    this.#pool = openClusterPool({ connectionString: options.connectionString, max: options.maxConnections ?? 5, name: `outbox-${this.instanceId.slice(0, 8)}`, onError: (err) => this.#onError(err) });
    // pg-boss on our pool ("db" option: bring your own connection), without its cron (we schedule nothing there).
    // https://github.com/timgit/pg-boss/blob/10.4.0/docs/api/constructor.md
    this.#boss = new PgBoss({
      db: { executeSql: (text, values) => this.#pool.query(text, values) }, schema: this.#schema, schedule: false,
      // Finished tickets stay a day for whoever looks at pg-boss's tables; our rows keep the outbox's own history.
      archiveCompletedAfterSeconds: 24 * 3600,
    });
    this.#boss.on('error', (err) => this.#onError(err));
    const beat = options.heartbeatMs ?? Math.floor((this.#leaseSeconds * 1000) / 3);
    if (beat > 0) this.#heartbeat = setInterval(() => void this.beat().catch((err) => this.#onError(err)), beat).unref();
  }

  /** Opens the queue: pg-boss installs or migrates its schema, and our table is made if missing. */
  static async open(options: PgBossJobQueueOptions): Promise<PgBossJobQueue> {
    const q = new PgBossJobQueue(options);
    try {
      // start(): creates or migrates pg-boss's schema under its advisory lock and starts its maintenance.
      // https://github.com/timgit/pg-boss/blob/10.4.0/docs/api/ops.md
      await within(q.#boss.start(), OPEN_TIMEOUT_MS, 'pg-boss start');
      await q.tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1, 0)', [KEY_LOCK_CLASS]);
        await c.query(OUTBOX_SCHEMA);
      });
      await q.repairTickets(true);
      return q;
    } catch (err) {
      await q.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    // stop(): ends pg-boss's maintenance timers; the pool is ours, closed after it.
    // https://github.com/timgit/pg-boss/blob/10.4.0/docs/api/ops.md
    await within(this.#boss.stop({ graceful: false, wait: true, timeout: 5000 }), 10_000, 'pg-boss stop').catch((err) => this.#onError(err));
    await this.#pool.end();
  }

  /** Runs `work` in one transaction (pg-boss's calls in it go through the same connection, `db` option). */
  private async tx<T>(work: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** pg-boss's "db" option for a call made inside our transaction. https://github.com/timgit/pg-boss/blob/10.4.0/docs/api/jobs.md */
  private via(c: Client): { db: PgBoss.Db } {
    return { db: { executeSql: (text, values) => c.query(text, values) } };
  }

  /** Makes the kind's pg-boss queue once (idempotent across instances). */
  private ensureQueue(kind: string): Promise<void> {
    let made = this.#queues.get(kind);
    if (!made) {
      // createQueue: a `stately` queue allows one queued and one active job per singletonKey; retries are ours.
      // https://github.com/timgit/pg-boss/blob/10.4.0/docs/api/queues.md
      made = this.#boss.createQueue(kind, { name: kind, policy: 'stately', retryLimit: 0, expireInSeconds: this.#leaseSeconds, retentionMinutes: TICKET_RETENTION_MINUTES });
      made.catch(() => this.#queues.delete(kind));
      this.#queues.set(kind, made);
    }
    return made;
  }

  /** A new run ticket for a job that became pending. */
  private async issue(c: Client, row: Row): Promise<void> {
    await this.ensureQueue(row.kind);
    // send(): the ticket, due at run-at, one per document key and state (stately queue).
    // https://github.com/timgit/pg-boss/blob/10.4.0/docs/api/jobs.md
    const ticket = await this.#boss.send(row.kind, { jobId: Number(row.id), memberId: row.member_id }, {
      singletonKey: row.job_key, startAfter: new Date(Number(row.run_at)), expireInSeconds: this.#leaseSeconds, ...this.via(c),
    });
    if (!ticket) throw new Error(`pg-boss refused a second queued run of ${row.job_key}`);
    await c.query('UPDATE outbox_jobs SET ticket = $1 WHERE id = $2', [ticket, row.id]);
  }

  /** Ends a run's ticket with pg-boss's call for how it ended (a ticket no longer active is left as it is). */
  private async retire(c: Client, row: Row, how: 'complete' | 'fail' | 'cancel' | 'delete', reason?: JobReason): Promise<void> {
    if (!row.ticket) return;
    const db = this.via(c);
    // complete / fail (its output: the reason) / cancel / deleteJob. https://github.com/timgit/pg-boss/blob/10.4.0/docs/api/jobs.md
    if (how === 'complete') await this.#boss.complete(row.kind, row.ticket, {}, db);
    else if (how === 'fail') await this.#boss.fail(row.kind, row.ticket, reason ?? {}, db);
    else if (how === 'cancel') await this.#boss.cancel(row.kind, row.ticket, db);
    else await this.#boss.deleteJob(row.kind, row.ticket, db);
  }

  /** A running job this instance holds, locked for the transaction. */
  private async held(c: Client, id: number): Promise<Row | undefined> {
    return (await c.query<Row>(`SELECT * FROM outbox_jobs WHERE id = $1 AND state = 'running' AND locked_by = $2 FOR UPDATE`, [id, this.instanceId])).rows[0];
  }

  private async one(text: string, values: unknown[]): Promise<Row | undefined> {
    return (await this.#pool.query<Row>(text, values)).rows[0];
  }

  async enqueue(input: EnqueueInput, now = clock.now()): Promise<Job> {
    const runAt = input.runAt ?? now;
    const payload = input.payload ?? {};
    const requestId = currentRequestId() ?? null;
    await this.ensureQueue(input.kind);
    return fromRow(await this.tx(async (c) => {
      // One enqueue of a key at a time, across instances; the unique index on live keys backs it.
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [KEY_LOCK_CLASS, input.key]);
      const live = (await c.query<Row>(`SELECT * FROM outbox_jobs WHERE job_key = $1 AND ${LIVE} FOR UPDATE`, [input.key])).rows[0];
      if (!live) {
        const row = (await c.query<Row>(
          `INSERT INTO outbox_jobs (member_id, kind, job_key, payload, state, run_at, created_at, updated_at, request_id)
           VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6, $7) RETURNING *`,
          [input.memberId, input.kind, input.key, JSON.stringify(payload), runAt, now, requestId],
        )).rows[0]!;
        await this.issue(c, row);
        return row;
      }
      const kept = stickyFields(live.payload, payload, input.sticky);
      const next = kept ? { ...(payload as object), ...kept } : payload;
      const woken = live.state === 'needs_attention';
      const liveRunAt = Number(live.run_at);
      const nextRunAt = live.state === 'running' ? liveRunAt : woken ? runAt : Math.min(liveRunAt, runAt);
      const row = (await c.query<Row>(
        `UPDATE outbox_jobs SET payload = $1, revision = revision + 1, state = $2, attempts = $3, run_at = $4, updated_at = $5,
           request_id = coalesce($6, request_id) WHERE id = $7 RETURNING *`,
        [JSON.stringify(next), woken ? 'pending' : live.state, woken ? 0 : live.attempts, nextRunAt, now, requestId, live.id],
      )).rows[0]!;
      if (woken) await this.issue(c, row);
      else if (live.state === 'pending' && nextRunAt !== liveRunAt && row.ticket) {
        // The ticket's startAfter mirrors run-at (pg-boss's own view of when the run is due).
        await c.query(`UPDATE ${this.#schema}.job SET start_after = $1 WHERE name = $2 AND id = $3 AND state < 'active'`, [new Date(nextRunAt), row.kind, row.ticket]);
      }
      return row;
    }));
  }

  async get(id: number): Promise<Job | undefined> {
    const row = await this.one('SELECT * FROM outbox_jobs WHERE id = $1', [id]);
    return row && fromRow(row);
  }

  async findLive(key: string): Promise<Job | undefined> {
    const row = await this.one(`SELECT * FROM outbox_jobs WHERE job_key = $1 AND ${LIVE}`, [key]);
    return row && fromRow(row);
  }

  async dueSummary(kinds: readonly string[], now = clock.now(), memberId?: string | null, opts: { freshOnly?: boolean } = {}): Promise<{ count: number; oldestRunAt: number | null }> {
    const args: unknown[] = [now, [...kinds]];
    const portal = portalFilter(memberId, args);
    const fresh = opts.freshOnly ? `AND ${LIKELY_ECHO} = 0` : '';
    const { rows } = await this.#pool.query<{ n: string; oldest: string | null }>(
      `SELECT count(*) AS n, min(run_at) AS oldest FROM outbox_jobs o WHERE state = 'pending' AND run_at <= $1 AND kind = ANY($2) ${portal} ${fresh}`, args,
    );
    return { count: Number(rows[0]!.n), oldestRunAt: num(rows[0]!.oldest) };
  }

  async claimDue(limit: number, kinds?: readonly string[], now = clock.now(), memberId?: string | null, opts: ClaimOptions = {}): Promise<Job[]> {
    const n = Math.min(Math.max(0, Math.floor(limit)), MAX_CLAIM);
    if (n === 0) return [];
    const args: unknown[] = [now, n, this.instanceId];
    const kindFilter = kinds?.length ? `AND o.kind = ANY($${args.push([...kinds])})` : '';
    const portal = portalFilter(memberId, args);
    const fresh = opts.freshOnly ? `AND ${LIKELY_ECHO} = 0` : '';
    const order = opts.freshFirst ? `${LIKELY_ECHO}, o.run_at, o.id` : 'o.run_at, o.id';
    // The claim, pg-boss's fetch with our filters: due rows whose ticket is queued, or running rows whose lease ran
    // out (their instance died or hung; pg-boss's maintenance may have failed the ticket already), locked with SKIP
    // LOCKED so that concurrent claimers never take the same job; the tickets become active with a fresh lease.
    // https://github.com/timgit/pg-boss/blob/10.4.0/docs/sql.md
    const { rows } = await this.#pool.query<Row & { echo: number }>(
      `WITH picked AS (
         SELECT o.id, o.kind, o.ticket, ${LIKELY_ECHO} AS echo FROM outbox_jobs o
         JOIN ${this.#schema}.job b ON b.name = o.kind AND b.id = o.ticket
         WHERE o.run_at <= $1 ${kindFilter} ${portal} ${fresh}
           AND ((o.state = 'pending' AND b.state < 'active')
             OR (o.state = 'running' AND (b.state <> 'active' OR b.started_on + b.expire_in < now())))
         ORDER BY ${order} LIMIT $2
         FOR UPDATE OF o, b SKIP LOCKED
       ), tickets AS (
         UPDATE ${this.#schema}.job b SET state = 'active', started_on = now(), completed_on = NULL,
           retry_count = CASE WHEN b.started_on IS NOT NULL THEN b.retry_count + 1 ELSE b.retry_count END
         FROM picked p WHERE b.name = p.kind AND b.id = p.ticket
       )
       UPDATE outbox_jobs o SET state = 'running', locked_at = $1, locked_by = $3, attempts = attempts + 1, updated_at = $1
       FROM picked p WHERE o.id = p.id RETURNING o.*, p.echo`,
      args,
    );
    const sorted = rows.sort((a, b) => (opts.freshFirst ? a.echo - b.echo : 0) || Number(a.run_at) - Number(b.run_at) || Number(a.id) - Number(b.id));
    return sorted.map(fromRow);
  }

  private async beat(): Promise<void> {
    await this.renewLeases();
    await this.repairTickets(false);
  }

  /**
   * Queues again, with a new ticket, the running (and with `pendingToo`, pending) jobs whose ticket is no longer in
   * pg-boss's job table: pg-boss's maintenance archives a lease-expired ticket after a day, and a claim joins the
   * ticket, so such a job would otherwise never be claimed. Runs at open (both) and on every heartbeat (running only:
   * few rows). Returns how many.
   */
  async repairTickets(pendingToo: boolean, now = clock.now()): Promise<number> {
    if (this.#closed) return 0;
    const states = pendingToo ? `('running', 'pending')` : `('running')`;
    const missing = `o.state IN ${states} AND NOT EXISTS (SELECT 1 FROM ${this.#schema}.job b WHERE b.name = o.kind AND b.id = o.ticket)`;
    return this.requeueWhere(missing, [], '', now);
  }

  /** Moves `started_on` of this instance's active tickets: its runs keep their leases while it lives. */
  async renewLeases(): Promise<number> {
    if (this.#closed) return 0;
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#schema}.job b SET started_on = now() FROM outbox_jobs o
       WHERE o.state = 'running' AND o.locked_by = $1 AND b.name = o.kind AND b.id = o.ticket AND b.state = 'active'`,
      [this.instanceId],
    );
    return rowCount ?? 0;
  }

  async complete(job: Pick<Job, 'id' | 'revision'>, now = clock.now()): Promise<void> {
    await this.tx(async (c) => {
      const row = await this.held(c, job.id);
      if (row) await this.finish(c, row, job.revision, now);
    });
  }

  /** Done, or back to pending with a new ticket when a newer revision came in while it ran. */
  private async finish(c: Client, row: Row, revision: number, now: number): Promise<void> {
    const same = row.revision === revision;
    await this.retire(c, row, 'complete');
    const next = (await c.query<Row>(
      `UPDATE outbox_jobs SET state = $1, attempts = $2, locked_at = NULL, locked_by = NULL, last_error = NULL,
         last_error_code = NULL, run_at = $3, updated_at = $3 WHERE id = $4 RETURNING *`,
      [same ? 'done' : 'pending', same ? row.attempts : 0, now, row.id],
    )).rows[0]!;
    if (!same) await this.issue(c, next);
  }

  async drop(job: Pick<Job, 'id' | 'revision'>, now = clock.now()): Promise<boolean> {
    return this.tx(async (c) => {
      const row = await this.held(c, job.id);
      if (!row) return false;
      if (row.revision !== job.revision) {
        await this.finish(c, row, job.revision, now);
        return false;
      }
      await this.retire(c, row, 'delete');
      await c.query('DELETE FROM outbox_jobs WHERE id = $1', [row.id]);
      return true;
    });
  }

  /** Back to pending at `runAt` with the reason, a new ticket; `uncount` takes this run's attempt back. */
  private async requeue(id: number, runAt: number, reason: JobReason, now: number, uncount: boolean): Promise<void> {
    await this.tx(async (c) => {
      const row = await this.held(c, id);
      if (!row) return;
      await this.retire(c, row, 'fail', reason);
      const next = (await c.query<Row>(
        `UPDATE outbox_jobs SET state = 'pending', run_at = $1, locked_at = NULL, locked_by = NULL,
           attempts = CASE WHEN $2 THEN greatest(0, attempts - 1) ELSE attempts END, last_error = $3, last_error_code = $4,
           updated_at = $5 WHERE id = $6 RETURNING *`,
        [runAt, uncount, reason.message, reason.code, now, id],
      )).rows[0]!;
      await this.issue(c, next);
    });
  }

  async retryLater(id: number, runAt: number, error: JobReason, now = clock.now()): Promise<void> {
    await this.requeue(id, runAt, error, now, false);
  }

  async waitUntil(id: number, runAt: number, reason: JobReason, now = clock.now()): Promise<void> {
    await this.requeue(id, runAt, reason, now, true);
  }

  async needsAttention(id: number, error: JobReason, now = clock.now()): Promise<void> {
    await this.tx(async (c) => {
      const row = (await c.query<Row>('SELECT * FROM outbox_jobs WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!row) return;
      if (row.state === 'pending' || row.state === 'running') await this.retire(c, row, 'fail', error);
      await c.query(
        `UPDATE outbox_jobs SET state = 'needs_attention', locked_at = NULL, locked_by = NULL, last_error = $1, last_error_code = $2,
           attention_since = CASE WHEN last_error_code = $2 AND attention_since IS NOT NULL THEN attention_since ELSE $3 END,
           updated_at = $3 WHERE id = $4`,
        [error.message, error.code, now, id],
      );
    });
  }

  /** Puts the rows `where` selects (locked) back in the queue, due now, each with a new ticket; returns how many. */
  private async requeueWhere(where: string, args: unknown[], set: string, now: number, retire?: 'fail' | 'cancel'): Promise<number> {
    return this.tx(async (c) => {
      const rows = (await c.query<Row>(`SELECT * FROM outbox_jobs o WHERE ${where} FOR UPDATE`, args)).rows;
      for (const row of rows) {
        if (retire) await this.retire(c, row, retire, { code: 'RELEASED', message: 'The run was interrupted; the job is queued again.' });
        const next = (await c.query<Row>(`UPDATE outbox_jobs SET state = 'pending', run_at = $1, locked_at = NULL, locked_by = NULL, updated_at = $1${set} WHERE id = $2 RETURNING *`, [now, row.id])).rows[0]!;
        await this.issue(c, next);
      }
      return rows.length;
    });
  }

  async retryNow(filter: RetryFilter, now = clock.now()): Promise<number> {
    const where = [`o.state = 'needs_attention'`];
    const args: unknown[] = [];
    if (filter.ids) where.push(`o.id = ANY($${args.push(filter.ids)}::bigint[])`);
    if (filter.errorCode) where.push(`o.last_error_code = $${args.push(filter.errorCode)}`);
    if (filter.memberId) where.push(`o.member_id = $${args.push(filter.memberId)}`);
    return this.requeueWhere(where.join(' AND '), args, ', attempts = 0', now);
  }

  async pause(memberId: string, kinds: readonly string[], reason: string, now = clock.now()): Promise<number> {
    return this.tx(async (c) => {
      const rows = (await c.query<Row>(`SELECT * FROM outbox_jobs WHERE member_id = $1 AND state IN ('pending', 'running') AND kind = ANY($2) FOR UPDATE`, [memberId, [...kinds]])).rows;
      for (const row of rows) await this.pauseRow(c, row, reason, now);
      return rows.length;
    });
  }

  async pauseOne(id: number, reason: string, now = clock.now()): Promise<void> {
    await this.tx(async (c) => {
      const row = (await c.query<Row>('SELECT * FROM outbox_jobs WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (row) await this.pauseRow(c, row, reason, now);
    });
  }

  private async pauseRow(c: Client, row: Row, reason: string, now: number): Promise<void> {
    if (row.state === 'pending' || row.state === 'running') await this.retire(c, row, 'cancel');
    await c.query(
      `UPDATE outbox_jobs SET state = 'paused', locked_at = NULL, locked_by = NULL, last_error = $1, last_error_code = 'XERO.NEEDS_RECONNECT', updated_at = $2 WHERE id = $3`,
      [reason, now, row.id],
    );
  }

  async resume(memberId: string, now = clock.now()): Promise<number> {
    return this.requeueWhere(`o.member_id = $1 AND o.state = 'paused'`, [memberId], ', last_error = NULL, last_error_code = NULL', now);
  }

  async releaseRunning(now = clock.now()): Promise<number> {
    return this.requeueWhere(`o.state = 'running' AND o.locked_by = $1`, [this.instanceId], '', now, 'fail');
  }

  async dismiss(ids: number[], memberId: string, now = clock.now()): Promise<number> {
    if (!ids.length) return 0;
    const { rowCount } = await this.#pool.query(
      `UPDATE outbox_jobs SET state = 'cancelled', locked_at = NULL, locked_by = NULL, updated_at = $1
       WHERE member_id = $2 AND state = 'needs_attention' AND id = ANY($3::bigint[])`,
      [now, memberId, ids],
    );
    return rowCount ?? 0;
  }

  async lastFinishedAt(memberId: string, kind: string): Promise<number | null> {
    const { rows } = await this.#pool.query<{ t: string | null }>(`SELECT max(updated_at) AS t FROM outbox_jobs WHERE member_id = $1 AND kind = $2 AND state = 'done'`, [memberId, kind]);
    return num(rows[0]!.t);
  }

  async countCreatedSince(memberId: string, kind: string, since: number): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox_jobs WHERE member_id = $1 AND kind = $2 AND created_at >= $3', [memberId, kind, since]);
    return Number(rows[0]!.n);
  }

  async countByState(memberId?: string): Promise<Record<JobState, number>> {
    const { rows } = memberId
      ? await this.#pool.query<{ state: JobState; n: string }>('SELECT state, count(*) AS n FROM outbox_jobs WHERE member_id = $1 GROUP BY state', [memberId])
      : await this.#pool.query<{ state: JobState; n: string }>('SELECT state, count(*) AS n FROM outbox_jobs GROUP BY state');
    const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of rows) counts[r.state] = Number(r.n);
    return counts;
  }

  async countByKindAndState(): Promise<{ kind: string; state: JobState; count: number }[]> {
    const { rows } = await this.#pool.query<{ kind: string; state: JobState; count: string }>('SELECT kind, state, count(*) AS count FROM outbox_jobs GROUP BY kind, state');
    return rows.map((r) => ({ kind: r.kind, state: r.state, count: Number(r.count) }));
  }

  async list(filter: { memberId?: string; states?: JobState[]; limit?: number } = {}): Promise<Job[]> {
    const where = ['true'];
    const args: unknown[] = [];
    if (filter.memberId) where.push(`member_id = $${args.push(filter.memberId)}`);
    if (filter.states?.length) where.push(`state = ANY($${args.push(filter.states)})`);
    const { rows } = await this.#pool.query<Row>(`SELECT * FROM outbox_jobs WHERE ${where.join(' AND ')} ORDER BY updated_at DESC, id DESC LIMIT $${args.push(filter.limit ?? 100)}`, args);
    return rows.map(fromRow);
  }

  async nextRunAt(): Promise<number | undefined> {
    const { rows } = await this.#pool.query<{ t: string | null }>(`SELECT min(run_at) AS t FROM outbox_jobs WHERE state = 'pending'`);
    return num(rows[0]!.t) ?? undefined;
  }

  async purgeFinished(before: number): Promise<number> {
    // Their tickets are finished already; pg-boss's maintenance archives and deletes those on its own.
    const { rowCount } = await this.#pool.query(`DELETE FROM outbox_jobs WHERE state IN ('done', 'cancelled') AND updated_at < $1`, [before]);
    return rowCount ?? 0;
  }
}

/** The SQL condition for "of this portal" (its argument pushed to `args`); none when `memberId` is undefined. */
function portalFilter(memberId: string | null | undefined, args: unknown[]): string {
  if (memberId === undefined) return '';
  return memberId === null ? 'AND o.member_id IS NULL' : `AND o.member_id = $${args.push(memberId)}`;
}

/**
 * Our table. Times are epoch ms of the connector's clock; `ticket` is the pg-boss job of the current run and
 * `locked_by` the instance holding it. The portal's foreign key (and its cascade) comes with the PostgreSQL store's
 * migrations, where `portals` lives.
 */
const OUTBOX_SCHEMA = `
  CREATE TABLE IF NOT EXISTS outbox_jobs (
    id               bigserial PRIMARY KEY,
    member_id        text,
    kind             text NOT NULL,
    job_key          text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'running', 'done', 'needs_attention', 'paused', 'cancelled')),
    revision         integer NOT NULL DEFAULT 1,
    attempts         integer NOT NULL DEFAULT 0,
    run_at           bigint NOT NULL,
    locked_at        bigint,
    locked_by        text,
    ticket           uuid,
    last_error       text,
    last_error_code  text,
    created_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    request_id       text,
    attention_since  bigint
  );
  CREATE UNIQUE INDEX IF NOT EXISTS outbox_jobs_live_key ON outbox_jobs (job_key) WHERE ${LIVE};
  CREATE INDEX IF NOT EXISTS outbox_jobs_due ON outbox_jobs (kind, state, run_at);
  CREATE INDEX IF NOT EXISTS outbox_jobs_member ON outbox_jobs (member_id, state);
`;
