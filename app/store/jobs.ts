/**
 * The job outbox. A job is keyed by what it works on (`job_key`, e.g. `push-invoice:portal:smart_invoice:42`):
 * enqueuing a key that is already live coalesces into it (latest payload wins, `revision` bumped), so a
 * document is never worked twice at once and a change made during a run is not lost.
 * Retries are data: `attempts`, `run_at`, `last_error` live on the row (see `retryLater`).
 */
import { clock } from '../clock.js';
import type { Db } from './db.js';
import { countsOf, rowMapper } from './rows.js';
import { currentRequestId } from '../request-context.js';

export type JobState = 'pending' | 'running' | 'done' | 'needs_attention' | 'paused' | 'cancelled';

export interface Job<P = unknown> {
  id: number;
  memberId: string | null;
  kind: string;
  key: string;
  payload: P;
  state: JobState;
  revision: number;
  attempts: number;
  runAt: number;
  lockedAt: number | null;
  lastError: string | null;
  lastErrorCode: string | null;
  createdAt: number;
  updatedAt: number;
  /** The HTTP request that enqueued the job or last changed it (null for scheduled work). */
  requestId: string | null;
  /** Since when the job has stood for its present cause (`lastErrorCode`); null when it never needed attention. */
  attentionSince: number | null;
}

interface JobRow {
  id: number;
  member_id: string | null;
  kind: string;
  job_key: string;
  payload: string;
  state: JobState;
  revision: number;
  attempts: number;
  run_at: number;
  locked_at: number | null;
  last_error: string | null;
  last_error_code: string | null;
  created_at: number;
  updated_at: number;
  request_id: string | null;
  attention_since: number | null;
}

export interface EnqueueInput {
  memberId: string | null;
  kind: string;
  key: string;
  payload: unknown;
  /** When the job may run first. (Default: now) */
  runAt?: number;
  /** Payload fields of a live job with the same key that the new payload keeps when it lacks them. */
  sticky?: readonly string[];
}

const LIVE = `state IN ('pending', 'running', 'paused', 'needs_attention')`;

export class JobRepository {
  constructor(private readonly db: Db) {}

  /**
   * Adds a job, or coalesces into the live job with the same key: its payload is replaced and its
   * revision bumped. A job waiting on a cause (`needs_attention`) is woken, since its document changed.
   */
  enqueue(input: EnqueueInput, now = clock.now()): Job {
    const runAt = input.runAt ?? now;
    const payload = JSON.stringify(input.payload ?? {});
    const requestId = currentRequestId() ?? null;
    const tx = this.db.transaction(() => {
      const live = this.db.prepare(`SELECT * FROM jobs WHERE job_key = ? AND ${LIVE}`).get(input.key) as
        | JobRow
        | undefined;
      if (!live) {
        const { lastInsertRowid } = this.db
          .prepare(
            `INSERT INTO jobs (member_id, kind, job_key, payload, state, run_at, created_at, updated_at, request_id)
             VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
          )
          .run(input.memberId, input.kind, input.key, payload, runAt, now, now, requestId);
        return Number(lastInsertRowid);
      }
      const kept = stickyFields(live.payload, input.payload, input.sticky);
      const next = kept ? JSON.stringify({ ...(input.payload as object), ...kept }) : payload;
      const woken = live.state === 'needs_attention';
      const nextRunAt = live.state === 'running' ? live.run_at : woken ? runAt : Math.min(live.run_at, runAt);
      this.db
        .prepare(
          `UPDATE jobs SET payload = ?, revision = revision + 1, state = ?, attempts = ?, run_at = ?, updated_at = ?,
             request_id = coalesce(?, request_id)
           WHERE id = ?`,
        )
        .run(next, woken ? 'pending' : live.state, woken ? 0 : live.attempts, nextRunAt, now, requestId, live.id);
      return live.id;
    });
    return this.get(tx())!;
  }

  get(id: number): Job | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row && fromRow(row);
  }

  findLive(key: string): Job | undefined {
    const row = this.db.prepare(`SELECT * FROM jobs WHERE job_key = ? AND ${LIVE}`).get(key) as JobRow | undefined;
    return row && fromRow(row);
  }

  /** How many jobs (of some kinds) are due now, and since when the oldest of them is due. */
  dueSummary(kinds: readonly string[], now = clock.now(), memberId?: string | null, opts: { freshOnly?: boolean } = {}): { count: number; oldestRunAt: number | null } {
    const [portal, args] = portalFilter(memberId);
    const fresh = opts.freshOnly ? `AND ${LIKELY_ECHO} = 0` : '';
    const row = this.db
      .prepare(`SELECT count(*) AS n, min(run_at) AS oldest FROM jobs WHERE state = 'pending' AND run_at <= ? AND kind IN (${kinds.map(() => '?').join(', ')}) ${portal} ${fresh}`)
      .get(now, ...kinds, ...args) as { n: number; oldest: number | null };
    return { count: row.n, oldestRunAt: row.oldest };
  }

  /**
   * Marks up to `limit` due jobs (optionally of some kinds, of one portal) as running and returns them, oldest first;
   * with `freshFirst`, jobs whose payload is a likely echo (`likelyEcho: true`, the connector's own write-back coming
   * back) come after the others; with `freshOnly`, they are left.
   */
  claimDue(limit: number, kinds?: readonly string[], now = clock.now(), memberId?: string | null, opts: { freshFirst?: boolean; freshOnly?: boolean } = {}): Job[] {
    const tx = this.db.transaction(() => {
      const kindFilter = kinds?.length ? `AND kind IN (${kinds.map(() => '?').join(', ')})` : '';
      const [portal, args] = portalFilter(memberId);
      const fresh = opts.freshOnly ? `AND ${LIKELY_ECHO} = 0` : '';
      const order = opts.freshFirst ? `${LIKELY_ECHO}, run_at, id` : 'run_at, id';
      const rows = this.db
        .prepare(
          `SELECT * FROM jobs WHERE state = 'pending' AND run_at <= ? ${kindFilter} ${portal} ${fresh} ORDER BY ${order} LIMIT ?`,
        )
        .all(now, ...(kinds ?? []), ...args, limit) as JobRow[];
      const mark = this.db.prepare(
        `UPDATE jobs SET state = 'running', locked_at = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?`,
      );
      for (const r of rows) mark.run(now, now, r.id);
      return rows.map((r) => r.id);
    });
    return tx().map((id) => this.get(id)!);
  }

  /**
   * Finishes a run. If a newer revision was coalesced in while it ran, the job goes back to pending
   * so the latest state is worked too; otherwise it is done.
   */
  complete(job: Pick<Job, 'id' | 'revision'>, now = clock.now()): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = CASE WHEN revision = ? THEN 'done' ELSE 'pending' END,
           attempts = CASE WHEN revision = ? THEN attempts ELSE 0 END,
           locked_at = NULL, last_error = NULL, last_error_code = NULL, run_at = ?, updated_at = ?
         WHERE id = ? AND state = 'running'`,
      )
      .run(job.revision, job.revision, now, now, job.id);
  }

  /**
   * Deletes a run's job that named nothing to work on (a dropped event), unless a newer revision was coalesced in
   * while it ran: that one goes back to pending, as after `complete`. Returns whether the job was deleted.
   */
  drop(job: Pick<Job, 'id' | 'revision'>, now = clock.now()): boolean {
    if (this.db.prepare(`DELETE FROM jobs WHERE id = ? AND state = 'running' AND revision = ?`).run(job.id, job.revision).changes > 0) return true;
    this.complete(job, now);
    return false;
  }

  /** A transient failure: try again at `runAt`. */
  retryLater(id: number, runAt: number, error: { code: string; message: string }, now = clock.now()): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = 'pending', run_at = ?, locked_at = NULL, last_error = ?, last_error_code = ?,
           updated_at = ? WHERE id = ? AND state = 'running'`,
      )
      .run(runAt, error.message, error.code, now, id);
  }

  /**
   * Held by a limit of the other side until `runAt` (Xero's day spent, a Bitrix24 method's operating time): back to
   * pending with the reason shown, and this run not counted as an attempt.
   */
  waitUntil(id: number, runAt: number, reason: { code: string; message: string }, now = clock.now()): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = 'pending', run_at = ?, locked_at = NULL, attempts = max(0, attempts - 1), last_error = ?,
           last_error_code = ?, updated_at = ? WHERE id = ? AND state = 'running'`,
      )
      .run(runAt, reason.message, reason.code, now, id);
  }

  /**
   * A permanent failure: kept with its reason until the cause is fixed or someone retries it. A retry (by hand, by a
   * sweep, by a new event) that meets the same cause again keeps the time it first stood for it.
   */
  needsAttention(id: number, error: { code: string; message: string }, now = clock.now()): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = 'needs_attention', locked_at = NULL, last_error = @message, last_error_code = @code,
           attention_since = CASE WHEN last_error_code = @code AND attention_since IS NOT NULL THEN attention_since ELSE @now END,
           updated_at = @now WHERE id = @id`,
      )
      .run({ message: error.message, code: error.code, now, id });
  }

  /** Puts `needs_attention` jobs back in the queue (by hand, or because their cause was fixed). */
  retryNow(filter: { ids?: number[]; errorCode?: string; memberId?: string }, now = clock.now()): number {
    const where: string[] = [`state = 'needs_attention'`];
    const args: unknown[] = [];
    if (filter.ids) {
      where.push(`id IN (${filter.ids.map(() => '?').join(', ') || 'NULL'})`);
      args.push(...filter.ids);
    }
    if (filter.errorCode) {
      where.push('last_error_code = ?');
      args.push(filter.errorCode);
    }
    if (filter.memberId) {
      where.push('member_id = ?');
      args.push(filter.memberId);
    }
    return this.db
      .prepare(`UPDATE jobs SET state = 'pending', attempts = 0, run_at = ?, updated_at = ? WHERE ${where.join(' AND ')}`)
      .run(now, now, ...args).changes;
  }

  /** Pauses the pending jobs of a portal's kinds (e.g. while its Xero connection needs reconnecting). */
  pause(memberId: string, kinds: readonly string[], reason: string, now = clock.now()): number {
    return this.db
      .prepare(
        `UPDATE jobs SET state = 'paused', last_error = ?, last_error_code = 'XERO.NEEDS_RECONNECT', updated_at = ?
         WHERE member_id = ? AND state IN ('pending', 'running') AND kind IN (${kinds.map(() => '?').join(', ')})`,
      )
      .run(reason, now, memberId, ...kinds).changes;
  }

  /** Pauses one job that could not run because its Xero connection needs reconnecting. */
  pauseOne(id: number, reason: string, now = clock.now()): void {
    this.db
      .prepare(
        `UPDATE jobs SET state = 'paused', locked_at = NULL, last_error = ?, last_error_code = 'XERO.NEEDS_RECONNECT',
           updated_at = ? WHERE id = ?`,
      )
      .run(reason, now, id);
  }

  resume(memberId: string, now = clock.now()): number {
    return this.db
      .prepare(
        `UPDATE jobs SET state = 'pending', run_at = ?, locked_at = NULL, last_error = NULL, last_error_code = NULL,
           updated_at = ? WHERE member_id = ? AND state = 'paused'`,
      )
      .run(now, now, memberId).changes;
  }

  /** Returns interrupted runs to the queue (at shutdown, and at start after a crash). */
  releaseRunning(now = clock.now()): number {
    return this.db
      .prepare(`UPDATE jobs SET state = 'pending', locked_at = NULL, run_at = ?, updated_at = ? WHERE state = 'running'`)
      .run(now, now).changes;
  }

  /** Sets jobs waiting on a cause aside for good (an admin's "Dismiss"); returns how many. */
  dismiss(ids: number[], memberId: string, now = clock.now()): number {
    if (!ids.length) return 0;
    return this.db
      .prepare(`UPDATE jobs SET state = 'cancelled', locked_at = NULL, updated_at = ? WHERE member_id = ? AND state = 'needs_attention' AND id IN (${ids.map(() => '?').join(', ')})`)
      .run(now, memberId, ...ids).changes;
  }

  /** When a portal's job of `kind` last finished (done), or null. */
  lastFinishedAt(memberId: string, kind: string): number | null {
    const row = this.db.prepare(`SELECT max(updated_at) AS t FROM jobs WHERE member_id = ? AND kind = ? AND state = 'done'`).get(memberId, kind) as { t: number | null };
    return row.t;
  }

  /** Jobs of `kind` created since `since` (epoch ms). */
  countCreatedSince(memberId: string, kind: string, since: number): number {
    return (this.db.prepare('SELECT count(*) AS n FROM jobs WHERE member_id = ? AND kind = ? AND created_at >= ?').get(memberId, kind, since) as { n: number }).n;
  }

  countByState(memberId?: string): Record<JobState, number> {
    const rows = (
      memberId
        ? this.db.prepare('SELECT state AS key, count(*) AS n FROM jobs WHERE member_id = ? GROUP BY state').all(memberId)
        : this.db.prepare('SELECT state AS key, count(*) AS n FROM jobs GROUP BY state').all()
    ) as { key: JobState; n: number }[];
    return countsOf({ pending: 0, running: 0, done: 0, needs_attention: 0, paused: 0, cancelled: 0 }, rows);
  }

  /** How many jobs there are of each kind in each state (the metrics' outbox gauge). */
  countByKindAndState(): { kind: string; state: JobState; count: number }[] {
    return this.db.prepare('SELECT kind, state, count(*) AS count FROM jobs GROUP BY kind, state').all() as { kind: string; state: JobState; count: number }[];
  }

  list(filter: { memberId?: string; states?: JobState[]; limit?: number } = {}): Job[] {
    const where: string[] = ['1 = 1'];
    const args: unknown[] = [];
    if (filter.memberId) {
      where.push('member_id = ?');
      args.push(filter.memberId);
    }
    if (filter.states?.length) {
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      args.push(...filter.states);
    }
    return (
      this.db
        .prepare(`SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY updated_at DESC, id DESC LIMIT ?`)
        .all(...args, filter.limit ?? 100) as JobRow[]
    ).map(fromRow);
  }

  /** Earliest run time of a pending job, for the worker's next wake-up. */
  nextRunAt(): number | undefined {
    const row = this.db.prepare(`SELECT min(run_at) AS t FROM jobs WHERE state = 'pending'`).get() as {
      t: number | null;
    };
    return row.t ?? undefined;
  }

  /** Deletes finished jobs older than `before` (retention). */
  purgeFinished(before: number): number {
    return this.db
      .prepare(`DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND updated_at < ?`)
      .run(before).changes;
  }
}

const fromRow = rowMapper<JobRow, Job>()(
  ['id', 'member_id', 'kind', 'payload', 'state', 'revision', 'attempts', 'run_at', 'locked_at', 'last_error', 'last_error_code', 'created_at', 'updated_at', 'request_id', 'attention_since'],
  { key: (r) => r.job_key, payload: (r) => JSON.parse(r.payload) as unknown, requestId: (r) => r.request_id ?? null, attentionSince: (r) => r.attention_since ?? null },
);

/** The `sticky` fields the live job's payload has and the new one lacks, or undefined when there are none. */
function stickyFields(livePayload: string, next: unknown, sticky: readonly string[] | undefined): Record<string, unknown> | undefined {
  if (!sticky?.length || !next || typeof next !== 'object') return undefined;
  const live = JSON.parse(livePayload) as Record<string, unknown>;
  const kept = Object.fromEntries(sticky.filter((f) => Object.hasOwn(live, f) && !Object.hasOwn(next, f)).map((f) => [f, live[f]]));
  return Object.keys(kept).length ? kept : undefined;
}

/** 1 for a job whose payload says it is likely an echo of the connector's own write-back, else 0 (SQL). */
const LIKELY_ECHO = `coalesce(json_extract(payload, '$.likelyEcho'), 0)`;

/** The SQL condition (and its argument) for "of this portal"; none when `memberId` is undefined. */
function portalFilter(memberId: string | null | undefined): [string, string[]] {
  if (memberId === undefined) return ['', []];
  return memberId === null ? ['AND member_id IS NULL', []] : ['AND member_id = ?', [memberId]];
}
