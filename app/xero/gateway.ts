/**
 * One gateway per Xero connection: every API call of that organisation goes through it, so Xero only ever
 * sees whole requests inside its limits (xero-api.md §2: 5 concurrent, 60 per minute, 5,000 per day).
 *
 * - at most `concurrent` calls in flight (p-queue);
 * - a sliding one-minute window with headroom (55 of 60), tightened by `X-MinLimit-Remaining`;
 * - `Retry-After` on a 429 pauses the whole gateway, then the call is retried;
 * - the day spent (429 `X-Rate-Limit-Problem: day`, `X-DayLimit-Remaining: 0`, or the budget's own count) never makes
 *   a call sleep for hours: it fails at once with `LimitReached` ("Xero daily limit reached, retry at T"), its job goes
 *   back to the queue until T, and the budget refuses every call to the organisation until then;
 * - transient failures (network, 5xx) retried with exponential back-off and jitter; a 401 renews the token once.
 * Timeout: 30 s per call (axios default set in xero/connections.ts).
 */
import { clock } from '../clock.js';
import PQueue from 'p-queue';
import type { Logger } from '../log.js';
import { XeroApiError, toXeroError } from './errors.js';
import type { XeroConnections, XeroSession } from './connections.js';
import { DailyBudget, currentSpend, type BudgetStatus, type Spend } from './budget.js';
import { AppError, LimitReached, utcTime } from '../errors.js';

export interface XeroLimits {
  /** Calls in flight at once. (Default: 5) */
  concurrent: number;
  /** Calls started per window, kept below Xero's 60. (Default: 55) */
  perMinute: number;
  /** Window length in ms. (Default: 60000) */
  windowMs: number;
  /** Transient-failure attempts per call, the first included. (Default: 4) */
  attempts: number;
  /** First back-off delay in ms, doubled per attempt, with ±50 % jitter. (Default: 500) */
  backoffMs: number;
  /** Calls per organisation in 24 hours, spent by priority (budget.ts); XERO_DAILY_LIMIT. (Default: 5000) */
  perDay?: number;
  /** Length of Xero's counting day in ms; shorter only in tests and the benchmark's compressed day. (Default: 86400000) */
  dayMs?: number;
  /** Longest wait for the daily budget inside a call, ms; a longer one ends the call with `LimitReached`. (Default: 60000) */
  budgetWaitMs?: number;
}

export const DEFAULT_XERO_LIMITS: XeroLimits = { concurrent: 5, perMinute: 55, windowMs: 60_000, attempts: 4, backoffMs: 500 };

export interface GatewayStats {
  calls: number;
  received429: number;
  retries: number;
  maxInFlight: number;
  minuteRemaining: number | null;
  dayRemaining: number | null;
}

type ApiResult<T> = { response: { headers?: Record<string, unknown> }; body: T };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export class XeroGateway {
  readonly #queue: PQueue;
  /**
   * Calls counted in the sliding window: in flight (t = Infinity) or finished at t. A call is timed by its
   * answer, not its start: Xero counted it on arrival, which lies between the two, so this never frees a
   * slot before Xero does.
   */
  readonly #window: { t: number }[] = [];
  #pausedUntil = 0;
  #inFlight = 0;
  readonly stats: GatewayStats = { calls: 0, received429: 0, retries: 0, maxInFlight: 0, minuteRemaining: null, dayRemaining: null };
  /** Calls started per hour (epoch ms of the hour → count), the last 48 hours, for the dashboard's chart. */
  readonly hourlyCalls = new Map<number, number>();

  constructor(
    readonly connectionId: number,
    private readonly connections: XeroConnections,
    private readonly logger: Logger,
    private readonly limits: XeroLimits = DEFAULT_XERO_LIMITS,
  ) {
    this.#queue = new PQueue({ concurrency: limits.concurrent });
    this.budget = new DailyBudget(limits.perDay ?? 5000, clock.now, limits.dayMs);
  }

  /** The organisation's daily call budget (what waits, and until when: `budgetStatus`). */
  readonly budget: DailyBudget;

  /**
   * Runs one Xero API call for `what` (words for errors and logs). `fn` gets a session with a fresh token.
   * Writes must pass an Idempotency-Key inside `fn`, so a retry here cannot create twice.
   */
  async call<T>(what: string, fn: (s: XeroSession) => Promise<ApiResult<T>>): Promise<T> {
    let session = await this.connections.session(this.connectionId);
    let renewed = false;
    const spend = currentSpend();
    for (let attempt = 1; ; attempt++) {
      try {
        // Every attempt is a call Xero counts: each one waits for the day's budget of its priority, but never long.
        this.refuseLongWait(spend);
        await this.budget.admit(spend);
        return (await this.#queue.add(() => this.run(session, fn))) as T;
      } catch (raw) {
        if (raw instanceof LimitReached) throw raw;
        const err = toXeroError(raw, what);
        if (err.kind === 'unauthorized' && !renewed) {
          renewed = true;
          session = await this.connections.sessionAfterUnauthorized(this.connectionId, session.connection.accessToken ?? '');
          continue;
        }
        // Refused the organisation itself: when Xero no longer lists it for the token, the connection waits for an
        // admin to reconnect (its jobs pause) instead of each document failing.
        if ((err.kind === 'forbidden' || err.kind === 'unauthorized') && (await this.connections.confirmTenant(session))) {
          throw new AppError('XERO.NEEDS_RECONNECT', `${session.connection.tenantName ?? 'Xero'} needs reconnecting by a portal admin.`, 409);
        }
        if (err.kind === 'rate_limited') {
          this.stats.received429 += 1;
          const until = clock.now() + (err.retryAfterSeconds ?? 60) * 1000;
          this.logger.warn({ connectionId: this.connectionId, retryAfter: err.retryAfterSeconds, problem: err.limitProblem }, 'Xero rate limit hit; gateway paused');
          if (err.limitProblem === 'day') {
            // The day's calls are spent: the budget refuses everything until Xero's Retry-After, and this call's job
            // waits in the queue, not here (xero-api.md §2; https://developer.xero.com/documentation/auth-and-limits/xero-api-limits).
            this.budget.spentUntil(until);
            throw dayLimitReached(until);
          }
          this.#pausedUntil = Math.max(this.#pausedUntil, until);
          if (attempt >= this.limits.attempts + 2) throw err;
          this.stats.retries += 1;
          continue;
        }
        if (err.transient && attempt < this.limits.attempts) {
          this.stats.retries += 1;
          const delay = this.limits.backoffMs * 2 ** (attempt - 1);
          await sleep(delay * (0.5 + Math.random()));
          continue;
        }
        throw err;
      }
    }
  }

  /** Ends the call at once when the day's budget would keep it waiting longer than `budgetWaitMs`. */
  private refuseLongWait(spend: Spend): void {
    const freeAt = this.budget.availableAt(spend);
    if (freeAt - clock.now() <= (this.limits.budgetWaitMs ?? 60_000)) return;
    if (this.budget.remaining() === 0) throw dayLimitReached(freeAt);
    throw new LimitReached('XERO.DAY_BUDGET', `Xero's calls left today are kept for pushes; this waits until ${utcTime(freeAt)}.`, freeAt);
  }

  /** Calls counted in the current one-minute window (in flight or finished inside it). */
  get windowUsed(): number {
    const now = clock.now();
    return this.#window.filter((w) => w.t > now - this.limits.windowMs).length;
  }

  /** The limits this gateway keeps. */
  get limitsKept(): Readonly<XeroLimits> {
    return this.limits;
  }

  /** The pause in force (Retry-After, a spent minute, Xero's day spent), epoch ms; 0 when none. */
  get pausedUntil(): number {
    const until = Math.max(this.#pausedUntil, this.budget.xeroSpentUntil);
    return until > clock.now() ? until : 0;
  }

  /** Calls waiting or running, for health. */
  get backlog(): number {
    return this.#queue.size + this.#queue.pending;
  }

  private async run<T>(session: XeroSession, fn: (s: XeroSession) => Promise<ApiResult<T>>): Promise<T> {
    const slot = await this.acquireWindowSlot();
    this.#inFlight += 1;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.#inFlight);
    this.stats.calls += 1;
    countHour(this.hourlyCalls, clock.now());
    try {
      const result = await fn(session);
      this.observe(result.response?.headers ?? {});
      return result.body;
    } catch (err) {
      const parsed = toXeroError(err, 'call');
      if (parsed.kind !== 'network') this.observe(headersOf(err));
      throw err;
    } finally {
      this.#inFlight -= 1;
      slot.t = clock.now();
    }
  }

  /** Waits until a call may start: not paused, and fewer than `perMinute` calls in the sliding window. */
  private async acquireWindowSlot(): Promise<{ t: number }> {
    for (;;) {
      const now = clock.now();
      if (this.#pausedUntil > now) {
        await sleep(this.#pausedUntil - now);
        continue;
      }
      for (let i = this.#window.length - 1; i >= 0; i--) if (this.#window[i].t <= now - this.limits.windowMs) this.#window.splice(i, 1);
      if (this.#window.length < this.limits.perMinute) {
        const slot = { t: Number.POSITIVE_INFINITY };
        this.#window.push(slot);
        return slot;
      }
      const oldest = Math.min(...this.#window.map((w) => w.t));
      await sleep(Number.isFinite(oldest) ? oldest + this.limits.windowMs - now + 5 : 50);
    }
  }

  /** Adapts to Xero's own count of what is left. */
  private observe(headers: Record<string, unknown>): void {
    const minute = Number(headers['x-minlimit-remaining']);
    const day = Number(headers['x-daylimit-remaining']);
    if (Number.isFinite(minute)) {
      this.stats.minuteRemaining = minute;
      // Xero counts calls we did not make (other apps of the same org share nothing, but our own earlier
      // process may have): when it says the minute is used up, wait a window before the next start.
      if (minute <= 0) this.#pausedUntil = Math.max(this.#pausedUntil, clock.now() + this.limits.windowMs);
    }
    if (Number.isFinite(day) && headers['x-daylimit-remaining'] !== undefined && headers['x-daylimit-remaining'] !== '') {
      this.stats.dayRemaining = day;
      // A spent day stops calls through the budget (refuseLongWait), never by sleeping here.
      this.budget.observe(day);
    }
  }
}

const HOUR_MS = 3_600_000;

/** "Xero daily limit reached, retry at 2026-12-01 15:04:05 UTC." for the job and the dashboard. */
function dayLimitReached(retryAt: number): LimitReached {
  return new LimitReached('XERO.DAY_LIMIT', `Xero daily limit reached, retry at ${utcTime(retryAt)}.`, retryAt);
}

function countHour(hours: Map<number, number>, now: number): void {
  const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
  hours.set(hour, (hours.get(hour) ?? 0) + 1);
  for (const h of hours.keys()) if (h < hour - 48 * HOUR_MS) hours.delete(h);
}

function headersOf(err: unknown): Record<string, unknown> {
  if (typeof err === 'string') {
    try {
      return (JSON.parse(err) as { response?: { headers?: Record<string, unknown> } }).response?.headers ?? {};
    } catch {
      return {};
    }
  }
  return {};
}

/** What the daily budget of a connection lets wait, and until when (for the dashboard). */
export function budgetStatus(gateways: XeroGateways, connectionId: number): BudgetStatus {
  return gateways.for(connectionId).budget.status();
}

/** One gateway per connection, made on first use. */
export class XeroGateways {
  readonly #gateways = new Map<number, XeroGateway>();

  constructor(
    private readonly connections: XeroConnections,
    private readonly logger: Logger,
    private readonly limits: XeroLimits = DEFAULT_XERO_LIMITS,
  ) {}

  for(connectionId: number): XeroGateway {
    let g = this.#gateways.get(connectionId);
    if (!g) {
      g = new XeroGateway(connectionId, this.connections, this.logger, this.limits);
      this.#gateways.set(connectionId, g);
    }
    return g;
  }

  all(): XeroGateway[] {
    return [...this.#gateways.values()];
  }
}

export { XeroApiError };
