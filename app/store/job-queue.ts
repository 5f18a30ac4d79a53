/**
 * The job interface of the outbox, asynchronous so that it can sit on the embedded SQLite store
 * (sqlite-job-queue.ts, over JobRepository) or on PostgreSQL with a job engine (pgboss-job-queue.ts, pg-boss 10).
 * The methods are named and shaped after JobRepository's (jobs.ts), so that moving a caller from `store.jobs.x(…)`
 * to `await queue.x(…)` is mechanical. Both implementations run the same contract suite
 * (test/store/job-queue.test.ts); the guarantees below are what that suite checks.
 *
 * Times (`now`, `runAt`, `createdAt`, …) are epoch ms of the connector's clock (app/clock.ts), as in JobRepository:
 * a test or the demo may move it. A claim's lease is the exception on PostgreSQL: it is timed by the database's
 * clock, since other instances read it (see pgboss-job-queue.ts and docs/reference/pg-boss.md#clocks).
 */
import type { EnqueueInput, Job, JobState } from './jobs.js';

export type { EnqueueInput, Job, JobState } from './jobs.js';

/** The most jobs one claim returns: a Xero request carries up to 50 documents of one organisation. */
export const MAX_CLAIM = 50;

/** Why a job stopped or waits, kept as data on the job (`lastErrorCode`, `lastError`) for the dashboard. */
export interface JobReason {
  code: string;
  message: string;
}

export interface ClaimOptions {
  /** Likely echoes (payload `likelyEcho: true`, the connector's own write-back coming back) come after the others. */
  freshFirst?: boolean;
  /** Likely echoes are left in the queue. */
  freshOnly?: boolean;
}

export interface RetryFilter {
  ids?: number[];
  errorCode?: string;
  memberId?: string;
}

export interface JobQueue {
  /**
   * Adds a job, or coalesces into the live job with the same key. Guarantee: at most one live job
   * (pending, running, paused or needs attention) per key, also across instances sharing a database. Coalescing
   * replaces the payload (keeping the `sticky` fields the new payload lacks), bumps `revision` and keeps the earlier
   * run-at of the two (a running job keeps its own); a job that needed attention is woken (pending, attempts 0,
   * run-at from the input), since its document changed. Returns the live job.
   */
  enqueue(input: EnqueueInput, now?: number): Promise<Job>;

  get(id: number): Promise<Job | undefined>;

  /** The live job of a key, if any. */
  findLive(key: string): Promise<Job | undefined>;

  /** How many pending jobs of some kinds are due at `now` (of one portal, when `memberId` is given), and since when the oldest is due. */
  dueSummary(kinds: readonly string[], now?: number, memberId?: string | null, opts?: { freshOnly?: boolean }): Promise<{ count: number; oldestRunAt: number | null }>;

  /**
   * Marks up to `limit` (at most MAX_CLAIM) due jobs as running and returns them, oldest run-at first. Guarantees:
   * only jobs whose run-at has come; only of `kinds` (all kinds when none are named); only of one portal when
   * `memberId` is given (null: the jobs of no portal); a job is handed to one claimer at a time, also when several
   * claim at once (from several instances); each claim counts one attempt.
   */
  claimDue(limit: number, kinds?: readonly string[], now?: number, memberId?: string | null, opts?: ClaimOptions): Promise<Job[]>;

  /**
   * Finishes a run: done, unless a newer revision was coalesced in while it ran (then pending again, attempts 0, so
   * the latest state is worked too). Only a running job is finished.
   */
  complete(job: Pick<Job, 'id' | 'revision'>, now?: number): Promise<void>;

  /** Deletes a running job that named nothing to work on, unless a newer revision came in (then as `complete`). Returns whether it was deleted. */
  drop(job: Pick<Job, 'id' | 'revision'>, now?: number): Promise<boolean>;

  /** A transient failure of a running job: pending again at `runAt`, the reason kept on the job. */
  retryLater(id: number, runAt: number, error: JobReason, now?: number): Promise<void>;

  /** Held by a limit of the other side until `runAt`: pending again with the reason shown, this run not counted as an attempt. */
  waitUntil(id: number, runAt: number, reason: JobReason, now?: number): Promise<void>;

  /**
   * A permanent failure: the job needs attention, with its reason, until it is retried. `attentionSince` is the time
   * it first stood for this cause (kept when a retry meets the same cause again).
   */
  needsAttention(id: number, error: JobReason, now?: number): Promise<void>;

  /** Puts jobs that need attention back in the queue (by ids, by error code, by portal, or all); returns how many. */
  retryNow(filter: RetryFilter, now?: number): Promise<number>;

  /** Pauses a portal's pending and running jobs of some kinds (its Xero connection needs reconnecting); returns how many. */
  pause(memberId: string, kinds: readonly string[], reason: string, now?: number): Promise<number>;

  /** Pauses one job that could not run because its Xero connection needs reconnecting. */
  pauseOne(id: number, reason: string, now?: number): Promise<void>;

  /** Puts a portal's paused jobs back in the queue, due now; returns how many. */
  resume(memberId: string, now?: number): Promise<number>;

  /**
   * Returns interrupted runs to the queue, due now (at shutdown, and at start after a crash); returns how many.
   * Embedded, that is every running job (one process owns them all). On PostgreSQL it is this instance's runs: the
   * runs of another instance are its own, and when that instance dies they are taken over once their lease ends.
   */
  releaseRunning(now?: number): Promise<number>;

  /** Sets a portal's jobs that need attention aside for good (cancelled); returns how many. */
  dismiss(ids: number[], memberId: string, now?: number): Promise<number>;

  /** When a portal's job of `kind` last finished (done), or null. */
  lastFinishedAt(memberId: string, kind: string): Promise<number | null>;

  /** A portal's jobs of `kind` created since `since`. */
  countCreatedSince(memberId: string, kind: string, since: number): Promise<number>;

  /** Jobs per state (of one portal, when given); every state is present. */
  countByState(memberId?: string): Promise<Record<JobState, number>>;

  /** Jobs per kind and state (the metrics' outbox gauge). */
  countByKindAndState(): Promise<{ kind: string; state: JobState; count: number }[]>;

  /** Jobs, last changed first (default limit 100). */
  list(filter?: { memberId?: string; states?: JobState[]; limit?: number }): Promise<Job[]>;

  /** Earliest run-at of a pending job, for the worker's next wake-up. */
  nextRunAt(): Promise<number | undefined>;

  /** Deletes done and cancelled jobs last changed before `before` (retention); returns how many. */
  purgeFinished(before: number): Promise<number>;

  /** Stops the queue's own work (timers, connections). Idempotent. */
  close(): Promise<void>;
}
