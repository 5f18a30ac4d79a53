/**
 * The job outbox. A job is keyed by what it works on (`job_key`, e.g. `push-invoice:portal:smart_invoice:42`):
 * enqueuing a key that is already live coalesces into it (latest payload wins, `revision` bumped), so a
 * document is never worked twice at once and a change made during a run is not lost.
 * Retries are data: `attempts`, `run_at`, `last_error` live on the row (see `retryLater`).
 */
import { clock } from '../clock.js';
import type { StoreError } from './db.js';
import { SQL_ERROR_CODES, type SqlDb } from './sql.js';
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
  likely_echo: number;
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
  constructor(private readonly db: SqlDb) {}

  /**
   * Adds a job, or coalesces into the live job with the same key: its payload is replaced and its
   * revision bumped. A job waiting on a cause (`needs_attention`) is woken, since its document changed.
   */
  async enqueue(input: EnqueueInput, now = clock.now()): Promise<Job> {
    const runAt = input.runAt ?? now;
    const payload = JSON.stringify(input.payload ?? {});
    const likelyEcho = isLikelyEcho(input.payload) ? 1 : 0;
    const requestId = currentRequestId() ?? null;
    const id = await this.db.transaction(async () => {
      for (;;) {
        const live = await this.db.get<JobRow>(`SELECT * FROM jobs WHERE job_key = ? AND ${LIVE}`, [input.key]);
        if (live) {
          const kept = stickyFields(JSON.parse(live.payload), input.payload, input.sticky);
          const next = kept ? JSON.stringify({ ...(input.payload as object), ...kept }) : payload;
          const woken = live.state === 'needs_attention';
          const nextRunAt = live.state === 'running' ? live.run_at : woken ? runAt : Math.min(live.run_at, runAt);
          // Coalesced into the revision read: an instance that coalesced meanwhile makes this read again.
          const { changes } = await this.db.run(
            `UPDATE jobs SET payload = ?, likely_echo = ?, revision = revision + 1, state = ?, attempts = ?, run_at = ?, updated_at = ?,
               request_id = coalesce(?, request_id)
             WHERE id = ? AND revision = ? AND state = ?`,
            [next, likelyEcho, woken ? 'pending' : live.state, woken ? 0 : live.attempts, nextRunAt, now, requestId, live.id, live.revision, live.state],
          );
          if (changes > 0) return live.id;
          continue;
        }
        try {
          // A savepoint: on PostgreSQL a refused insert would otherwise abort the whole transaction.
          const { lastId } = await this.db.transaction(() =>
            this.db.run(
              `INSERT INTO jobs (member_id, kind, job_key, payload, likely_echo, state, run_at, created_at, updated_at, request_id)
               VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
              [input.memberId, input.kind, input.key, payload, likelyEcho, runAt, now, now, requestId],
              { returning: 'id' },
            ),
          );
          return lastId!;
        } catch (err) {
          // Another instance made the key's live job first (jobs_live_key): coalesce into it.
          if ((err as StoreError).code !== SQL_ERROR_CODES.conflict) throw err;
        }
      }
    });
    return (await this.get(id))!;
  }

  async get(id: number): Promise<Job | undefined> {
    const row = (await this.db.get('SELECT * FROM jobs WHERE id = ?', [id])) as JobRow | undefined;
    return row && fromRow(row);
  }

  async findLive(key: string): Promise<Job | undefined> {
    const row = (await this.db.get(`SELECT * FROM jobs WHERE job_key = ? AND ${LIVE}`, [key])) as JobRow | undefined;
    return row && fromRow(row);
  }

  /** How many jobs (of some kinds) are due now, and since when the oldest of them is due. */
  async dueSummary(kinds: readonly string[], now = clock.now(), memberId?: string | null, opts: { freshOnly?: boolean } = {}): Promise<{ count: number; oldestRunAt: number | null }> {
    const [portal, args] = portalFilter(memberId);
    const fresh = opts.freshOnly ? 'AND likely_echo = 0' : '';
    const row = (await this.db.get(`SELECT count(*) AS n, min(run_at) AS oldest FROM jobs WHERE state = 'pending' AND run_at <= ? AND kind IN (${kinds.map(() => '?').join(', ')}) ${portal} ${fresh}`, [now, ...kinds, ...args])) as { n: number; oldest: number | null };
    return { count: row.n, oldestRunAt: row.oldest };
  }

  /**
   * Marks up to `limit` due jobs (optionally of some kinds, of one portal) as running and returns them, oldest first;
   * with `freshFirst`, jobs whose payload is a likely echo (`likelyEcho: true`, the connector's own write-back coming
   * back) come after the others; with `freshOnly`, they are left.
   */
  async claimDue(limit: number, kinds?: readonly string[], now = clock.now(), memberId?: string | null, opts: { freshFirst?: boolean; freshOnly?: boolean } = {}): Promise<Job[]> {
    const kindFilter = kinds?.length ? `AND kind IN (${kinds.map(() => '?').join(', ')})` : '';
    const [portal, args] = portalFilter(memberId);
    const fresh = opts.freshOnly ? 'AND likely_echo = 0' : '';
    const order = opts.freshFirst ? 'likely_echo, run_at, id' : 'run_at, id';
    // One statement: the outer `state = 'pending'` is checked again on each row as it is written, so of two
    // instances claiming at once each job goes to one (PostgreSQL re-reads a row another transaction just wrote).
    const rows = await this.db.all<JobRow>(
      `UPDATE jobs SET state = 'running', locked_at = ?, attempts = attempts + 1, updated_at = ?
       WHERE state = 'pending' AND id IN (SELECT id FROM jobs WHERE state = 'pending' AND run_at <= ? ${kindFilter} ${portal} ${fresh} ORDER BY ${order} LIMIT ?)
       RETURNING *`,
      [now, now, now, ...(kinds ?? []), ...args, limit],
    );
    // RETURNING keeps no order: the claim's order is put back.
    const key = (r: JobRow) => [opts.freshFirst ? r.likely_echo : 0, r.run_at, r.id];
    return rows
      .sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
      })
      .map(fromRow);
  }

  /**
   * Finishes a run. If a newer revision was coalesced in while it ran, the job goes back to pending
   * so the latest state is worked too; otherwise it is done.
   */
  async complete(job: Pick<Job, 'id' | 'revision'>, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE jobs SET state = CASE WHEN revision = ? THEN 'done' ELSE 'pending' END,
           attempts = CASE WHEN revision = ? THEN attempts ELSE 0 END,
           locked_at = NULL, last_error = NULL, last_error_code = NULL, run_at = ?, updated_at = ?
         WHERE id = ? AND state = 'running'`, [job.revision, job.revision, now, now, job.id]);
  }

  /**
   * Deletes a run's job that named nothing to work on (a dropped event), unless a newer revision was coalesced in
   * while it ran: that one goes back to pending, as after `complete`. Returns whether the job was deleted.
   */
  async drop(job: Pick<Job, 'id' | 'revision'>, now = clock.now()): Promise<boolean> {
    if ((await this.db.run(`DELETE FROM jobs WHERE id = ? AND state = 'running' AND revision = ?`, [job.id, job.revision])).changes > 0) return true;
    await this.complete(job, now);
    return false;
  }

  /** A transient failure: try again at `runAt`. */
  async retryLater(id: number, runAt: number, error: { code: string; message: string }, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE jobs SET state = 'pending', run_at = ?, locked_at = NULL, last_error = ?, last_error_code = ?,
           updated_at = ? WHERE id = ? AND state = 'running'`, [runAt, error.message, error.code, now, id]);
  }

  /**
   * Held by a limit of the other side until `runAt` (Xero's day spent, a Bitrix24 method's operating time): back to
   * pending with the reason shown, and this run not counted as an attempt.
   */
  async waitUntil(id: number, runAt: number, reason: { code: string; message: string }, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE jobs SET state = 'pending', run_at = ?, locked_at = NULL, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, last_error = ?,
           last_error_code = ?, updated_at = ? WHERE id = ? AND state = 'running'`, [runAt, reason.message, reason.code, now, id]);
  }

  /**
   * A permanent failure: kept with its reason until the cause is fixed or someone retries it. A retry (by hand, by a
   * sweep, by a new event) that meets the same cause again keeps the time it first stood for it.
   */
  async needsAttention(id: number, error: { code: string; message: string }, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE jobs SET state = 'needs_attention', locked_at = NULL, last_error = @message, last_error_code = @code,
           attention_since = CASE WHEN last_error_code = @code AND attention_since IS NOT NULL THEN attention_since ELSE @now END,
           updated_at = @now WHERE id = @id`, { message: error.message, code: error.code, now, id });
  }

  /** Puts `needs_attention` jobs back in the queue (by hand, or because their cause was fixed). */
  async retryNow(filter: { ids?: number[]; errorCode?: string; memberId?: string }, now = clock.now()): Promise<number> {
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
    return (await this.db.run(`UPDATE jobs SET state = 'pending', attempts = 0, run_at = ?, updated_at = ? WHERE ${where.join(' AND ')}`, [now, now, ...args])).changes;
  }

  /** Pauses the pending jobs of a portal's kinds (e.g. while its Xero connection needs reconnecting). */
  async pause(memberId: string, kinds: readonly string[], reason: string, now = clock.now()): Promise<number> {
    return (await this.db.run(`UPDATE jobs SET state = 'paused', last_error = ?, last_error_code = 'XERO.NEEDS_RECONNECT', updated_at = ?
         WHERE member_id = ? AND state IN ('pending', 'running') AND kind IN (${kinds.map(() => '?').join(', ')})`, [reason, now, memberId, ...kinds])).changes;
  }

  /** Pauses one job that could not run because its Xero connection needs reconnecting. */
  async pauseOne(id: number, reason: string, now = clock.now()): Promise<void> {
    await this.db.run(`UPDATE jobs SET state = 'paused', locked_at = NULL, last_error = ?, last_error_code = 'XERO.NEEDS_RECONNECT',
           updated_at = ? WHERE id = ?`, [reason, now, id]);
  }

  async resume(memberId: string, now = clock.now()): Promise<number> {
    return (await this.db.run(`UPDATE jobs SET state = 'pending', run_at = ?, locked_at = NULL, last_error = NULL, last_error_code = NULL,
           updated_at = ? WHERE member_id = ? AND state = 'paused'`, [now, now, memberId])).changes;
  }

  /** Returns interrupted runs to the queue (at shutdown, and at start after a crash). */
  async releaseRunning(now = clock.now()): Promise<number> {
    return (await this.db.run(`UPDATE jobs SET state = 'pending', locked_at = NULL, run_at = ?, updated_at = ? WHERE state = 'running'`, [now, now])).changes;
  }

  /** Sets jobs waiting on a cause aside for good (an admin's "Dismiss"); returns how many. */
  async dismiss(ids: number[], memberId: string, now = clock.now()): Promise<number> {
    if (!ids.length) return 0;
    return (await this.db.run(`UPDATE jobs SET state = 'cancelled', locked_at = NULL, updated_at = ? WHERE member_id = ? AND state = 'needs_attention' AND id IN (${ids.map(() => '?').join(', ')})`, [now, memberId, ...ids])).changes;
  }

  /** When a portal's job of `kind` last finished (done), or null. */
  async lastFinishedAt(memberId: string, kind: string): Promise<number | null> {
    const row = (await this.db.get(`SELECT max(updated_at) AS t FROM jobs WHERE member_id = ? AND kind = ? AND state = 'done'`, [memberId, kind])) as { t: number | null };
    return row.t;
  }

  /** Jobs of `kind` created since `since` (epoch ms). */
  async countCreatedSince(memberId: string, kind: string, since: number): Promise<number> {
    return ((await this.db.get('SELECT count(*) AS n FROM jobs WHERE member_id = ? AND kind = ? AND created_at >= ?', [memberId, kind, since])) as { n: number }).n;
  }

  async countByState(memberId?: string): Promise<Record<JobState, number>> {
    const rows = (
      memberId
        ? (await this.db.all('SELECT state AS key, count(*) AS n FROM jobs WHERE member_id = ? GROUP BY state', [memberId]))
        : (await this.db.all('SELECT state AS key, count(*) AS n FROM jobs GROUP BY state'))
    ) as { key: JobState; n: number }[];
    return countsOf({ pending: 0, running: 0, done: 0, needs_attention: 0, paused: 0, cancelled: 0 }, rows);
  }

  /** How many jobs there are of each kind in each state (the metrics' outbox gauge). */
  async countByKindAndState(): Promise<{ kind: string; state: JobState; count: number }[]> {
    return (await this.db.all('SELECT kind, state, count(*) AS count FROM jobs GROUP BY kind, state')) as { kind: string; state: JobState; count: number }[];
  }

  async list(filter: { memberId?: string; states?: JobState[]; limit?: number } = {}): Promise<Job[]> {
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
      (await this.db.all(`SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY updated_at DESC, id DESC LIMIT ?`, [...args, filter.limit ?? 100])) as JobRow[]
    ).map(fromRow);
  }

  /** Earliest run time of a pending job, for the worker's next wake-up. */
  async nextRunAt(): Promise<number | undefined> {
    const row = (await this.db.get(`SELECT min(run_at) AS t FROM jobs WHERE state = 'pending'`)) as {
      t: number | null;
    };
    return row.t ?? undefined;
  }

  /** Deletes finished jobs older than `before` (retention). */
  async purgeFinished(before: number): Promise<number> {
    return (await this.db.run(`DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND updated_at < ?`, [before])).changes;
  }
}

const fromRow = rowMapper<JobRow, Job>()(
  ['id', 'member_id', 'kind', 'payload', 'state', 'revision', 'attempts', 'run_at', 'locked_at', 'last_error', 'last_error_code', 'created_at', 'updated_at', 'request_id', 'attention_since'],
  { key: (r) => r.job_key, payload: (r) => JSON.parse(r.payload) as unknown, requestId: (r) => r.request_id ?? null, attentionSince: (r) => r.attention_since ?? null },
);

/** The `sticky` fields the live job's payload has and the new one lacks, or undefined when there are none. */
export function stickyFields(live: unknown, next: unknown, sticky: readonly string[] | undefined): Record<string, unknown> | undefined {
  if (!sticky?.length || !next || typeof next !== 'object' || !live || typeof live !== 'object') return undefined;
  const l = live as Record<string, unknown>;
  const kept = Object.fromEntries(sticky.filter((f) => Object.hasOwn(l, f) && !Object.hasOwn(next, f)).map((f) => [f, l[f]]));
  return Object.keys(kept).length ? kept : undefined;
}

/** Whether a job's payload says it is likely an echo of the connector's own write-back (the likely_echo column). */
function isLikelyEcho(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && (payload as { likelyEcho?: unknown }).likelyEcho === true;
}

/** The SQL condition (and its argument) for "of this portal"; none when `memberId` is undefined. */
function portalFilter(memberId: string | null | undefined): [string, string[]] {
  if (memberId === undefined) return ['', []];
  return memberId === null ? ['AND member_id IS NULL', []] : ['AND member_id = ?', [memberId]];
}
