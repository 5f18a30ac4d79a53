/**
 * The embedded job queue: JobQueue (job-queue.ts) over the SQLite outbox, JobRepository (jobs.ts), with no change of
 * behaviour. Every call is the repository's synchronous call, its result or error handed back as a promise. A claim
 * is capped at MAX_CLAIM jobs, which every handler's batch already is.
 */
import type { JobRepository } from './jobs.js';
import { MAX_CLAIM, type JobQueue } from './job-queue.js';

export class SqliteJobQueue implements JobQueue {
  constructor(private readonly jobs: JobRepository) {}

  enqueue: JobQueue['enqueue'] = async (input, now) => this.jobs.enqueue(input, now);
  get: JobQueue['get'] = async (id) => this.jobs.get(id);
  findLive: JobQueue['findLive'] = async (key) => this.jobs.findLive(key);
  dueSummary: JobQueue['dueSummary'] = async (kinds, now, memberId, opts) => this.jobs.dueSummary(kinds, now, memberId, opts);
  claimDue: JobQueue['claimDue'] = async (limit, kinds, now, memberId, opts) => this.jobs.claimDue(Math.min(limit, MAX_CLAIM), kinds, now, memberId, opts);
  complete: JobQueue['complete'] = async (job, now) => this.jobs.complete(job, now);
  drop: JobQueue['drop'] = async (job, now) => this.jobs.drop(job, now);
  retryLater: JobQueue['retryLater'] = async (id, runAt, error, now) => this.jobs.retryLater(id, runAt, error, now);
  waitUntil: JobQueue['waitUntil'] = async (id, runAt, reason, now) => this.jobs.waitUntil(id, runAt, reason, now);
  needsAttention: JobQueue['needsAttention'] = async (id, error, now) => this.jobs.needsAttention(id, error, now);
  retryNow: JobQueue['retryNow'] = async (filter, now) => this.jobs.retryNow(filter, now);
  pause: JobQueue['pause'] = async (memberId, kinds, reason, now) => this.jobs.pause(memberId, kinds, reason, now);
  pauseOne: JobQueue['pauseOne'] = async (id, reason, now) => this.jobs.pauseOne(id, reason, now);
  resume: JobQueue['resume'] = async (memberId, now) => this.jobs.resume(memberId, now);
  releaseRunning: JobQueue['releaseRunning'] = async (now) => this.jobs.releaseRunning(now);
  dismiss: JobQueue['dismiss'] = async (ids, memberId, now) => this.jobs.dismiss(ids, memberId, now);
  lastFinishedAt: JobQueue['lastFinishedAt'] = async (memberId, kind) => this.jobs.lastFinishedAt(memberId, kind);
  countCreatedSince: JobQueue['countCreatedSince'] = async (memberId, kind, since) => this.jobs.countCreatedSince(memberId, kind, since);
  countByState: JobQueue['countByState'] = async (memberId) => this.jobs.countByState(memberId);
  countByKindAndState: JobQueue['countByKindAndState'] = async () => this.jobs.countByKindAndState();
  list: JobQueue['list'] = async (filter) => this.jobs.list(filter);
  nextRunAt: JobQueue['nextRunAt'] = async () => this.jobs.nextRunAt();
  purgeFinished: JobQueue['purgeFinished'] = async (before) => this.jobs.purgeFinished(before);
  /** The store owns the database: closing the queue leaves it open. */
  close: JobQueue['close'] = async () => undefined;
}
