/**
 * The outbox worker: claims due jobs, hands them to the handler of their kind in groups (one portal at a
 * time, up to the handler's batch size), and records each job's outcome as data on its row: done, retry
 * later with exponential back-off and jitter, needs attention (with the reason in words), or paused.
 */
import { clock } from '../clock.js';
import { AppError, LimitReached } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { Job } from '../store/jobs.js';
import { withRequestId } from '../request-context.js';
import type { Metrics } from '../metrics.js';
import { isStoreFaultCode, storeFaultCode, storeFaultError } from '../store/faults.js';
import { noteDropped, type DropReason } from './event-drops.js';

export type JobOutcome =
  | { kind: 'done' }
  | { kind: 'retry'; code: string; message: string; delayMs?: number }
  | { kind: 'attention'; code: string; message: string }
  | { kind: 'paused'; message: string }
  /** A limit of the other side holds the job until `until` (epoch ms): back in the queue, the attempt not counted. */
  | { kind: 'wait'; code: string; message: string; until: number }
  /** The job's event named nothing to work on (event-drops.ts): its row is deleted and the reason counted. */
  | { kind: 'dropped'; reason: DropReason };

/**
 * Claims up to `n` more due jobs of the group's kind and portal, for a handler whose batch turned out part-empty
 * (e.g. echoes of its own write-backs need no Xero request). While a burst is still arriving it waits for them, by
 * the same rule as claiming (`fillUntil`); stopping the worker ends the wait. Likely echoes (`likelyEcho` in the payload)
 * are not taken. The outbox records their outcomes too.
 */
export type ClaimMore = (n: number) => Promise<Job[]>;

export interface JobHandler {
  /** Jobs handed over at once (e.g. 50 invoices per Xero request). (Default: 1) */
  batchSize?: number;
  /** Works a group of jobs of one portal; returns an outcome per job id (missing ids count as done). */
  run(jobs: Job[], more?: ClaimMore): Promise<Map<number, JobOutcome>>;
}

export interface OutboxOptions {
  /** Idle wait between looks at the queue, ms. (Default: 1000) */
  idleMs?: number;
  /** Groups worked at the same time. (Default: 4) */
  parallelGroups?: number;
  /** Transient attempts before a job needs attention. (Default: 12) */
  maxAttempts?: number;
  /** Base back-off, ms; doubled per attempt up to an hour. (Default: 2000) */
  backoffMs?: number;
  /**
   * How long a wake-up waits, ms, so that a burst of events is claimed as one batch (up to 50 invoices in one Xero
   * request) and the intake path is not competing with a tick per event. (Default: 250)
   */
  wakeDelayMs?: number;
  /**
   * While events keep arriving (a wake-up within this many ms), a batch handler's partial batch waits to fill, so a
   * burst goes out as full requests. (Default: 400)
   */
  fillQuietMs?: number;
  /** A due job waits at most this long for its batch to fill, ms, unless a burst is arriving (`fillBurstMaxMs`); a lone document goes out once nothing else arrives for `fillQuietMs`. (Default: 1500) */
  fillMaxMs?: number;
  /** While the arrivals of the last second would fill the batch in time, it waits up to this long, ms. (Default: 10000) */
  fillBurstMaxMs?: number;
  /**
   * Whether the other side is throttling a portal's requests now (Bitrix24's 503 QUERY_LIMIT_EXCEEDED lately); with no
   * portal named, whether it throttles any. While it does, a batch handler's partial batch — echoes included — waits
   * up to `fillThrottledMs` to fill, so the scarce requests carry fuller batches. (Default: never)
   */
  throttled?: (memberId?: string | null) => boolean;
  /** How long a partial batch waits to fill while its portal is throttled, ms. (Default: 8000) */
  fillThrottledMs?: number;
}

/** What the filling rule looks at: a kind's due jobs, and when jobs arrived (wake-ups). */
export interface FillState {
  /** Due jobs (or, topping up a group, the group's sends plus the due jobs). */
  due: number;
  batchSize: number;
  /** When the oldest of them became due, ms. */
  oldestDueAt: number;
  /** Arrival times, ms, oldest first (only the last second matters). */
  arrivals: readonly number[];
  now: number;
}

/**
 * The filling rule: until when (ms) a partial batch waits, or 0 when it goes out now. It waits only while jobs keep
 * arriving (the last one within `quietMs`), at most `maxMs` after its oldest job became due, and, while a burst is
 * arriving fast enough to fill the batch in time (the arrival rate of the last second), up to `burstMaxMs`.
 * A lone job with nothing after it goes out `quietMs` after it arrived.
 */
export function fillUntil(s: FillState, o: { quietMs: number; maxMs: number; burstMaxMs: number }): number {
  if (s.batchSize <= 1 || s.due <= 0 || s.due >= s.batchSize) return 0;
  const last = s.arrivals.length ? s.arrivals[s.arrivals.length - 1] : Number.NEGATIVE_INFINITY;
  const quietEnd = last + o.quietMs;
  if (quietEnd <= s.now) return 0;
  const perSecond = s.arrivals.filter((t) => t > s.now - 1000 && t <= s.now).length;
  const burstEnd = s.oldestDueAt + o.burstMaxMs;
  const fillsInTime = perSecond > 0 && s.now + ((s.batchSize - s.due) / perSecond) * 1000 <= burstEnd;
  const until = Math.min(quietEnd, fillsInTime ? burstEnd : s.oldestDueAt + o.maxMs);
  return until > s.now ? until : 0;
}

/** Resolves once the I/O that is ready now has been handled (two turns of the event loop). */
function afterPendingIo(): Promise<void> {
  return new Promise((r) => setImmediate(() => setImmediate(r)));
}

/** Back-off for the n-th attempt: base·2^(n−1), at most an hour, ±25 % jitter. */
export function backoffDelay(attempt: number, baseMs: number): number {
  const raw = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 60 * 60_000);
  return Math.round(raw * (0.75 + Math.random() * 0.5));
}

/** Turns a thrown error into an outcome: transient errors retry, AppErrors with 4xx meaning need attention. */
export function outcomeOf(err: unknown): JobOutcome {
  if (err instanceof LimitReached) return { kind: 'wait', code: err.code, message: err.message, until: err.retryAt };
  const fault = storeFaultCode(err);
  if (fault) return { kind: 'retry', code: fault, message: storeFaultError(fault).message };
  if (err instanceof AppError) {
    if (err.code === 'XERO.NEEDS_RECONNECT' || err.code === 'XERO.DISCONNECTED') return { kind: 'paused', message: err.message };
    const transient = (err as { transient?: boolean }).transient ?? (err.status >= 500 && !err.code.startsWith('SYNC.'));
    return transient ? { kind: 'retry', code: err.code, message: err.message } : { kind: 'attention', code: err.code, message: err.message };
  }
  return { kind: 'retry', code: 'INTERNAL', message: 'An unexpected error occurred; the job will be tried again.' };
}

export class Outbox {
  readonly #handlers = new Map<string, JobHandler>();
  #timer: NodeJS.Timeout | undefined;
  #timerDue = 0;
  #running = new Set<Promise<void>>();
  #stopped = true;
  /** Set by `stop()`: waits to top a group up end (a worked `drain()` never sets it). */
  #halting = false;
  /** Per kind and portal, the group now waiting to top itself up: one at a time, so waiting groups never split what arrives. */
  readonly #filling = new Map<string, Promise<void>>();
  #ticking = false;
  /** Wake-up times of the last second (job arrivals), oldest first. */
  readonly #arrivals: number[] = [];
  /** Until when a partial batch waits for the burst arriving (0: nothing waits). */
  #holdUntil = 0;
  /** Outcomes of groups that ran while the database refused writes: written before any new work is claimed. */
  readonly #unrecorded: Array<{ jobs: Job[]; outcomes: Map<number, JobOutcome> }> = [];
  readonly #opts: Required<OutboxOptions>;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    options: OutboxOptions = {},
    private readonly metrics?: Metrics,
  ) {
    this.#opts = { idleMs: 1000, parallelGroups: 4, maxAttempts: 12, backoffMs: 2000, wakeDelayMs: 250, fillQuietMs: 400, fillMaxMs: 1500, fillBurstMaxMs: 10_000, throttled: () => false, fillThrottledMs: 8000, ...options };
  }

  register(kind: string, handler: JobHandler): void {
    this.#handlers.set(kind, handler);
  }

  start(): void {
    this.#stopped = false;
    this.#halting = false;
    this.schedule(0);
  }

  /**
   * Look at the queue soon (after an enqueue); wake-ups within `wakeDelayMs` share one look. An `arrival` is new work
   * the filling rule waits for while a burst comes; an `echo` (likely the connector's own write-back) is not.
   */
  wake(what: 'arrival' | 'echo' = 'arrival'): void {
    if (this.#stopped) return;
    const now = clock.now();
    if (what === 'arrival') this.#arrivals.push(now);
    while (this.#arrivals.length && this.#arrivals[0] <= now - 1000) this.#arrivals.shift();
    this.schedule(this.#opts.wakeDelayMs);
  }

  private schedule(delayMs: number): void {
    const due = clock.now() + delayMs;
    if (this.#timer && this.#timerDue <= due) return;
    clearTimeout(this.#timer);
    this.#timerDue = due;
    // Made outside the waking request's context: the worker sets each group's own request id.
    this.#timer = withRequestId(undefined, () => setTimeout(() => {
      this.#timer = undefined;
      void this.tick();
    }, delayMs));
  }

  /** Stops claiming; waits for the groups in flight (their jobs finish or go back to the queue). */
  async stop(deadlineMs = 7000): Promise<void> {
    this.#stopped = true;
    this.#halting = true;
    clearTimeout(this.#timer);
    await Promise.race([Promise.allSettled([...this.#running]), new Promise((r) => setTimeout(r, deadlineMs).unref())]);
  }

  /** Works everything due now until the queue is empty (tests and the demo). */
  async drain(maxRounds = 1000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      const worked = await this.runOnce();
      await Promise.allSettled([...this.#running]);
      if (!worked) return;
    }
  }

  private async tick(): Promise<void> {
    if (this.#stopped || this.#ticking) return;
    this.#ticking = true;
    try {
      // Events that arrived while the process was busy are taken in first (I/O runs after timers), so the filling
      // rule never mistakes a busy moment for the end of a burst.
      await afterPendingIo();
      await this.runOnce(true);
    } catch (err) {
      // A refused write (locked, disk full) is reported by the store's fault listeners; the next tick probes again.
      if (!this.store.faults.note(err)) this.logger.error({ err }, 'outbox tick failed');
    } finally {
      this.#ticking = false;
      if (!this.#stopped) {
        const next = await this.store.jobs.nextRunAt();
        let wait = this.#running.size > 0 ? 50 : next === undefined ? this.#opts.idleMs : Math.min(this.#opts.idleMs, Math.max(0, next - clock.now()));
        // While the database refuses writes, probe it once per idle wait rather than spinning on the due jobs.
        if (this.store.faults.current()) wait = Math.max(wait, this.#opts.idleMs);
        // A batch waiting to fill: sleep until the wait ends (a new event's wake-up comes sooner), never spin on
        // the held jobs that are already due.
        if (this.#holdUntil) {
          const held = Math.max(1, this.#holdUntil - clock.now());
          wait = wait === 0 ? held : Math.min(wait, held);
        }
        this.schedule(wait);
      }
    }
  }

  /**
   * Claims and starts as many groups as allowed (without waiting for them); returns whether anything was started.
   * With `fill`, a partial batch waits while a burst is still arriving (see `fillQuietMs`).
   */
  private async runOnce(fill = false): Promise<boolean> {
    let started = false;
    this.#holdUntil = 0;
    // While the database refuses writes no new work is taken: its results could not be kept.
    if (!(await this.writable())) return false;
    for (const [kind, handler] of this.#handlers) {
      while (this.#running.size < this.#opts.parallelGroups) {
        if (fill && await this.waitsToFill(kind, handler.batchSize ?? 1)) break;
        // Likely echoes last: while a burst arrives, batches fill with documents that need a Xero request.
        const jobs = await this.store.jobs.claimDue(handler.batchSize ?? 1, [kind], clock.now(), undefined, { freshFirst: true });
        if (jobs.length === 0) break;
        started = true;
        // One portal per group: a batch never mixes organisations.
        const groups = new Map<string, Job[]>();
        for (const j of jobs) groups.set(j.memberId ?? '', [...(groups.get(j.memberId ?? '') ?? []), j]);
        for (const group of groups.values()) {
          // A freed slot gets a look at once: the worker never waits on a group to claim what is due meanwhile.
          const size = handler.batchSize ?? 1;
          const p = this.work(handler, group, size > 1 ? this.claimMore(kind, size, group) : undefined).finally(() => {
            this.#running.delete(p);
            if (!this.#stopped) this.schedule(0);
          });
          this.#running.add(p);
        }
      }
    }
    return started;
  }

  /** Whether the store takes writes: outcomes kept back are written first; during a fault, a probe decides. */
  private async writable(): Promise<boolean> {
    if (this.store.faults.current() && !(await this.store.faults.probe())) return false;
    while (this.#unrecorded.length) {
      const { jobs, outcomes } = this.#unrecorded[0]!;
      if (!(await this.recordGroup(jobs, outcomes))) return false;
      this.#unrecorded.shift();
    }
    return true;
  }

  /** Writes a group's outcomes in one transaction; false (noted as a store fault) when the database refuses. */
  private async recordGroup(jobs: Job[], outcomes: Map<number, JobOutcome>): Promise<boolean> {
    try {
      // One transaction for the group's outcomes: one commit instead of one per job.
      await this.store.transaction(async () => {
        for (const job of jobs) await this.record(job, outcomes.get(job.id) ?? { kind: 'done' });
      });
      this.store.faults.ok();
      return true;
    } catch (err) {
      if (!this.store.faults.note(err)) throw err;
      return false;
    }
  }

  /** True when `kind`'s due jobs are fewer than a batch and the filling rule lets them wait (`fillUntil`). */
  private async waitsToFill(kind: string, batchSize: number): Promise<boolean> {
    if (batchSize <= 1) return false;
    const now = clock.now();
    // Likely echoes of our own write-backs never hold a batch (they need no Xero request): only the others count.
    const { count, oldestRunAt } = await this.store.jobs.dueSummary([kind], now, undefined, { freshOnly: true });
    let until = oldestRunAt === null ? 0 : this.fillUntil(count, batchSize, oldestRunAt, now);
    // Throttled: the due jobs, echoes too, wait for a fuller batch (each group costs requests the portal rations).
    if (this.#opts.throttled(undefined)) {
      const all = await this.store.jobs.dueSummary([kind], now);
      if (all.oldestRunAt !== null) until = Math.max(until, this.throttledUntil(all.count, batchSize, all.oldestRunAt, now));
    }
    if (!until) return false;
    this.#holdUntil = this.#holdUntil ? Math.min(this.#holdUntil, until) : until;
    return true;
  }

  /** While throttled: a partial batch waits until `fillThrottledMs` after its oldest job became due (0: it goes now). */
  private throttledUntil(due: number, batchSize: number, oldestDueAt: number, now: number): number {
    const until = oldestDueAt + this.#opts.fillThrottledMs;
    return due < batchSize && until > now ? until : 0;
  }

  private fillUntil(due: number, batchSize: number, oldestDueAt: number, now: number): number {
    const o = this.#opts;
    return fillUntil({ due, batchSize, oldestDueAt, arrivals: this.#arrivals, now }, { quietMs: o.fillQuietMs, maxMs: o.fillMaxMs, burstMaxMs: o.fillBurstMaxMs });
  }

  /** The `ClaimMore` of a group: what it claims is added to `jobs`, so its outcome is recorded with the group's. */
  private claimMore(kind: string, batchSize: number, jobs: Job[]): ClaimMore {
    const memberId = jobs[0]?.memberId ?? null;
    const oldest = Math.min(...jobs.map((j) => j.runAt));
    const key = `${kind}\n${memberId ?? ''}`;
    let toppedUp = false;
    return async (n) => {
      if (n <= 0) return [];
      for (let other = this.#filling.get(key); other; other = this.#filling.get(key)) await other;
      let done!: () => void;
      this.#filling.set(key, new Promise<void>((r) => (done = r)));
      try {
        for (;;) {
          const now = clock.now();
          // Open while the group's own fill would still wait (a burst arriving); once closed, one top-up more at most.
          // (Throttling does not stretch this wait: a group waiting here holds a slot; the wait before claiming does not.)
          const open = !this.#halting && this.fillUntil(batchSize - n, batchSize, oldest, now) > 0;
          if (!open && (toppedUp || this.#halting)) return [];
          // Only documents that will likely need a request count: echoes of our own write-backs do not fill a send.
          const { count } = await this.store.jobs.dueSummary([kind], now, memberId, { freshOnly: true });
          const until = count >= n || !open ? 0 : this.fillUntil(batchSize - n + count, batchSize, oldest, now);
          if (!until) {
            toppedUp = true;
            // Likely echoes are left to groups of their own: they would only delay this group's request.
            const more = await this.store.jobs.claimDue(n, [kind], now, memberId, { freshOnly: true });
            jobs.push(...more);
            return more;
          }
          await new Promise((r) => setTimeout(r, Math.min(until - now, 100)));
          await afterPendingIo();
        }
      } finally {
        this.#filling.delete(key);
        done();
      }
    };
  }

  private async work(handler: JobHandler, jobs: Job[], more?: ClaimMore): Promise<void> {
    // The group runs with the request id(s) that caused its jobs, so the handler's log lines carry them.
    const requestIds = [...new Set(jobs.map((j) => j.requestId).filter((r): r is string => Boolean(r)))];
    return withRequestId(requestIds.length ? requestIds.join(',') : undefined, () => this.workInContext(handler, jobs, more));
  }

  private async workInContext(handler: JobHandler, jobs: Job[], more?: ClaimMore): Promise<void> {
    let outcomes: Map<number, JobOutcome>;
    try {
      outcomes = await handler.run([...jobs], more);
    } catch (err) {
      const o = outcomeOf(err);
      if (!(err instanceof AppError) && !this.store.faults.note(err)) this.logger.error({ err }, 'job handler failed');
      outcomes = new Map(jobs.map((j) => [j.id, o]));
    }
    // The jobs stay running (never done without their writes) until their outcomes can be written.
    if (!(await this.recordGroup(jobs, outcomes))) this.#unrecorded.push({ jobs, outcomes });
  }

  /** A document that stopped for a cause shows in the activity log (and the dashboard's error chart) once per stop. */
  /** Logs that a job needs attention, once per cause: a retry that meets the same cause again adds no line. */
  private async noteAttention(job: Job, code: string, message: string): Promise<void> {
    if (job.attentionSince !== null && job.lastErrorCode === code) return;
    const p = job.payload as { type?: unknown; id?: unknown } | null;
    const subject = p && typeof p.type === 'string' && typeof p.id === 'string' ? `${p.type}:${p.id}` : null;
    await this.store.activity.record({ memberId: job.memberId, level: 'error', kind: 'job.attention', subject, message });
  }

  private async record(job: Job, outcome: JobOutcome): Promise<void> {
    const { jobs } = this.store;
    this.metrics?.jobOutcome(job.kind, outcome.kind);
    withRequestId(job.requestId ?? undefined, () =>
      this.logger.info({ jobId: job.id, kind: job.kind, key: job.key, attempt: job.attempts, outcome: outcome.kind, ...(outcome.kind === 'done' ? {} : outcome.kind === 'dropped' ? { reason: outcome.reason } : { code: 'code' in outcome ? outcome.code : undefined, message: outcome.message }) }, 'job worked'),
    );
    switch (outcome.kind) {
      case 'done':
        await jobs.complete(job);
        break;
      case 'retry':
        // The database refusing writes is no fault of the job: it never gives up on that.
        if (job.attempts >= this.#opts.maxAttempts && !isStoreFaultCode(outcome.code)) {
          await jobs.needsAttention(job.id, { code: outcome.code, message: `${outcome.message} (gave up after ${job.attempts} attempts; retry by hand once the cause is fixed)` });
          await this.noteAttention(job, outcome.code, outcome.message);
        } else {
          await jobs.retryLater(job.id, clock.now() + (outcome.delayMs ?? backoffDelay(job.attempts, this.#opts.backoffMs)), outcome);
        }
        break;
      case 'attention':
        await jobs.needsAttention(job.id, outcome);
        await this.noteAttention(job, outcome.code, outcome.message);
        break;
      case 'paused':
        await jobs.pauseOne(job.id, outcome.message);
        break;
      case 'wait':
        await jobs.waitUntil(job.id, outcome.until, outcome);
        break;
      case 'dropped':
        if ((await jobs.drop(job)) && job.memberId) await noteDropped(this.store, this.metrics, job.memberId, outcome.reason);
        break;
    }
  }
}
