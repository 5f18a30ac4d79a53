/**
 * One gateway per Xero connection: every API call of that organisation goes through it, so Xero only ever
 * sees whole requests inside its limits (docs/reference/xero.md#rate-limits: 5 concurrent, 60 per minute, 5,000 per day).
 *
 * - at most `concurrent` calls in flight (p-queue);
 * - a sliding one-minute window with headroom (55 of 60). Xero's `X-MinLimit-Remaining` wins where it counts more
 *   calls than the window holds (an earlier process, another one on the same store): the calls it counts and the
 *   window does not are added to the window as of that answer, so they free no sooner than Xero frees them;
 * - the window, a pause in force and Xero's day are saved in the store as each call goes out and as it is answered
 *   (store/xero-limits.ts), and a gateway starts from what was saved: a restart inside a busy minute waits for that
 *   minute instead of meeting Xero's 429;
 * - page reads (spend `page`: a card's figures, online invoice, PDF) take at most `pagePerMinute` of the window's
 *   slots and never wait for one: when the window or the pages' share is full they end at once with `LimitReached`
 *   (a 429 to the page, saying when to try again), so a person clicking cannot delay a push;
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
import type { XeroLimitRepository, XeroLimitState } from '../store/xero-limits.js';

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
  /** Xero's own calls per window per organisation, which `X-MinLimit-Remaining` counts down from. (Default: 60) */
  xeroPerMinute?: number;
  /** Page calls per window at most (spend `page`), so the pushes keep the rest of the minute. (Default: 5) */
  pagePerMinute?: number;
}

export const DEFAULT_XERO_LIMITS: XeroLimits = { concurrent: 5, perMinute: 55, windowMs: 60_000, attempts: 4, backoffMs: 500, xeroPerMinute: 60, pagePerMinute: 5 };

/** Where a gateway keeps what it knows of Xero's limits across restarts (the store's `xeroLimits`). */
export type LimitMemory = Pick<XeroLimitRepository, 'load' | 'save'>;

/**
 * A call counted in the window: in flight (t = Infinity) or answered at t; or one Xero counted that this gateway
 * did not make (or made before a restart), as of the answer that said so. `page`: a page's read.
 */
interface Slot {
  t: number;
  page?: boolean;
  /** Sent to Xero (a page's slot is taken before its turn in the queue). */
  sent?: boolean;
}

export interface GatewayStats {
  calls: number;
  received429: number;
  retries: number;
  maxInFlight: number;
  minuteRemaining: number | null;
  dayRemaining: number | null;
}

type ApiResult<T> = { response: { headers?: Record<string, unknown> }; body: T };

/** Waits on the connector's clock (a timer in production; a test's clock may skip the wait: app/clock.ts). */
const sleep = (ms: number) => clock.sleep(ms);

export class XeroGateway {
  readonly #queue: PQueue;
  /**
   * Calls counted in the sliding window: in flight (t = Infinity) or finished at t. A call is timed by its
   * answer, not its start: Xero counted it on arrival, which lies between the two, so this never frees a
   * slot before Xero does.
   */
  readonly #window: Slot[] = [];
  #pausedUntil = 0;
  #inFlight = 0;
  #memoryFailed = false;
  readonly stats: GatewayStats = { calls: 0, received429: 0, retries: 0, maxInFlight: 0, minuteRemaining: null, dayRemaining: null };
  /** Calls started per hour (epoch ms of the hour → count), the last 48 hours, for the dashboard's chart. */
  readonly hourlyCalls = new Map<number, number>();

  constructor(
    readonly connectionId: number,
    private readonly connections: XeroConnections,
    private readonly logger: Logger,
    private readonly limits: XeroLimits = DEFAULT_XERO_LIMITS,
    private readonly memory?: LimitMemory,
  ) {
    this.#queue = new PQueue({ concurrency: limits.concurrent });
    this.budget = new DailyBudget(limits.perDay ?? 5000, clock.now, limits.dayMs);
    // The store answers asynchronously: every call waits for what was saved before it counts its own.
    this.#restored = this.restore();
  }

  readonly #restored: Promise<void>;

  /** Resolves once the gateway holds what the store remembered of this connection's limits (calls wait for it too). */
  ready(): Promise<void> {
    return this.#restored;
  }

  /** The organisation's daily call budget (what waits, and until when: `budgetStatus`). */
  readonly budget: DailyBudget;

  /**
   * Runs one Xero API call for `what` (words for errors and logs). `fn` gets a session with a fresh token.
   * Writes must pass an Idempotency-Key inside `fn`, so a retry here cannot create twice.
   */
  async call<T>(what: string, fn: (s: XeroSession) => Promise<ApiResult<T>>): Promise<T> {
    await this.#restored;
    let session = await this.connections.session(this.connectionId);
    let renewed = false;
    const spend = currentSpend();
    for (let attempt = 1; ; attempt++) {
      try {
        // Every attempt is a call Xero counts: each one waits for the day's budget of its priority, but never long;
        // a page's read does not wait at all, and takes its slot in the window now.
        const slot = spend === 'page' ? (await this.pageSlot()) : undefined;
        if (!slot) {
          this.refuseLongWait(spend);
          await this.budget.admit(spend);
        }
        return (await this.#queue.add(() => this.run(session, fn, slot))) as T;
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
            // waits in the queue, not here (docs/reference/xero.md#rate-limits; https://developer.xero.com/documentation/auth-and-limits/xero-api-limits).
            this.budget.spentUntil(until);
            await this.remember();
            throw dayLimitReached(until);
          }
          this.#pausedUntil = Math.max(this.#pausedUntil, until);
          await this.remember();
          if (spend === 'page') throw pageWaits(until);
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

  /**
   * A slot in the window for a page read, taken now, or `LimitReached` at once: pages get at most `pagePerMinute`
   * slots, only free ones, never during a pause, and only within their share of the day (budget.ts).
   */
  private async pageSlot(): Promise<Slot> {
    const now = clock.now();
    this.prune(now);
    const pages = this.#window.filter((w) => w.page);
    const cap = this.limits.pagePerMinute ?? 5;
    if (this.#pausedUntil > now) throw pageWaits(this.#pausedUntil);
    if (pages.length >= cap || this.#window.length >= this.limits.perMinute) {
      // Free again when enough calls leave the window (a page's own, or any).
      const leaving = (pages.length >= cap ? pages : this.#window).map((w) => w.t).filter(Number.isFinite).sort((a, b) => a - b);
      throw pageWaits((leaving[0] ?? now + 1000) + this.limits.windowMs);
    }
    if (!this.budget.allows('page')) throw pageWaits(this.budget.availableAt('page'));
    this.budget.record('page');
    const slot: Slot = { t: Number.POSITIVE_INFINITY, page: true };
    this.#window.push(slot);
    await this.remember();
    return slot;
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

  private async run<T>(session: XeroSession, fn: (s: XeroSession) => Promise<ApiResult<T>>, reserved?: Slot): Promise<T> {
    const slot = reserved ?? (await this.acquireWindowSlot());
    this.#inFlight += 1;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.#inFlight);
    this.stats.calls += 1;
    slot.sent = true;
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
      await this.remember();
    }
  }

  /**
   * Waits until a call may start: not paused, and fewer than `perMinute` calls in the sliding window. The slot is
   * saved before the call goes out, so a process killed while it is on the wire leaves it counted.
   */
  private async acquireWindowSlot(): Promise<Slot> {
    for (;;) {
      const now = clock.now();
      if (this.#pausedUntil > now) {
        await sleep(this.#pausedUntil - now);
        continue;
      }
      this.prune(now);
      if (this.#window.length < this.limits.perMinute) {
        const slot: Slot = { t: Number.POSITIVE_INFINITY };
        this.#window.push(slot);
        await this.remember();
        return slot;
      }
      const oldest = Math.min(...this.#window.map((w) => w.t));
      await sleep(Number.isFinite(oldest) ? oldest + this.limits.windowMs - now + 5 : 50);
    }
  }

  private prune(now: number): void {
    for (let i = this.#window.length - 1; i >= 0; i--) if (this.#window[i]!.t <= now - this.limits.windowMs) this.#window.splice(i, 1);
  }

  /**
   * Adapts to Xero's own count of what is left. Xero counts calls this window does not hold (our own earlier
   * process, `npm run import` beside the connector; other apps share nothing): those are added as of now, the
   * latest they can have been made, so they leave the window no sooner than they leave Xero's.
   * Source: https://developer.xero.com/documentation/guides/oauth2/limits/ (every answer carries the remaining
   * minute, day and app-minute calls).
   */
  private observe(headers: Record<string, unknown>): void {
    const minute = headerNumber(headers['x-minlimit-remaining']);
    const day = headerNumber(headers['x-daylimit-remaining']);
    if (minute !== null) {
      this.stats.minuteRemaining = minute;
      const now = clock.now();
      this.prune(now);
      const counted = (this.limits.xeroPerMinute ?? 60) - minute;
      const held = this.#window.filter((w) => w.sent || Number.isFinite(w.t)).length;
      for (let missing = counted - held; missing > 0; missing--) this.#window.push({ t: now });
    }
    if (day !== null) {
      this.stats.dayRemaining = day;
      // A spent day stops calls through the budget (refuseLongWait), never by sleeping here.
      this.budget.observe(day);
    }
  }

  /** What this gateway knows of Xero's limits now (a call in flight counts as made now). */
  private state(): XeroLimitState {
    const now = clock.now();
    this.prune(now);
    const day = this.budget.asXeroSaid();
    return {
      minuteCalls: this.#window.map((w) => Math.min(w.t, now)).sort((a, b) => a - b),
      pausedUntil: this.#pausedUntil,
      minuteRemaining: this.stats.minuteRemaining,
      dayRemaining: day.remaining,
      dayReadAt: day.at,
      daySpentUntil: day.spentUntil,
    };
  }

  /** Saves what is known for the next gateway of this connection; a store that cannot write costs only the memory. */
  private async remember(): Promise<void> {
    if (!this.memory) return;
    try {
      await this.memory.save(this.connectionId, this.state());
      this.#memoryFailed = false;
    } catch (err) {
      if (!this.#memoryFailed) this.logger.warn({ err, connectionId: this.connectionId }, 'Xero limits could not be saved; a restart now starts from an empty minute');
      this.#memoryFailed = true;
    }
  }

  /** Starts from what this or another process last saved: the calls still in the window, a pause, Xero's day. */
  private async restore(): Promise<void> {
    let saved: XeroLimitState | undefined;
    try {
      saved = await this.memory?.load(this.connectionId);
    } catch (err) {
      this.logger.warn({ err, connectionId: this.connectionId }, 'Xero limits could not be read; starting from an empty minute');
    }
    if (!saved) return;
    const edge = clock.now() - this.limits.windowMs;
    for (const t of saved.minuteCalls) if (t > edge) this.#window.push({ t });
    this.#pausedUntil = saved.pausedUntil;
    this.stats.minuteRemaining = saved.minuteRemaining;
    this.stats.dayRemaining = saved.dayRemaining;
    this.budget.restore({ remaining: saved.dayRemaining, at: saved.dayReadAt, spentUntil: saved.daySpentUntil });
  }
}

/** A rate-limit header's number, or null when absent or not a number. */
function headerNumber(v: unknown): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isFinite(n) ? n : null;
}

/** A page's Xero read refused for now: the pushes keep Xero's calls; the page may ask again at `retryAt`. */
function pageWaits(retryAt: number): LimitReached {
  const seconds = Math.max(1, Math.ceil((retryAt - clock.now()) / 1000));
  return new LimitReached('XERO.PAGE_BUDGET', `Xero's calls are kept for syncing documents just now; try again in ${seconds} s (at ${utcTime(retryAt)}).`, retryAt, 429);
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
    private readonly memory?: LimitMemory,
  ) {}

  for(connectionId: number): XeroGateway {
    let g = this.#gateways.get(connectionId);
    if (!g) {
      g = new XeroGateway(connectionId, this.connections, this.logger, this.limits, this.memory);
      this.#gateways.set(connectionId, g);
    }
    return g;
  }

  all(): XeroGateway[] {
    return [...this.#gateways.values()];
  }
}

export { XeroApiError };
