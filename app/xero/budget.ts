/**
 * Xero's daily call budget per organisation, planned by priority (docs/reference/xero.md#rate-limits: 5,000 calls a day per tenant; the
 * free Starter tier 1,000). Xero counts a rolling 24 hours; so does the plan:
 * - pushes and write-backs may spend the whole budget;
 * - status polls stop when only the pushes' reserve is left, and stretch before that as the budget runs low;
 * - imports and contact sync pause when less than their share is left;
 * - pages (a card's figures, its online invoice and PDF, read when a person opens them) have their own small share
 *   of the day and stop at the pushes' reserve too, so no amount of clicking can eat the calls the pushes need.
 * Xero's own count (`X-DayLimit-Remaining`) wins when it is lower. What waits, and until when, is `status()`.
 * The spend of a call comes from the code around it (`spendingAs`), so the Xero speech stays unchanged.
 */
import { clock } from '../clock.js';
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * push: pushes and write-backs (and the look-ups they need); poll: status polls; import: imports and contact sync;
 * page: reads a person asks for on a page (a card's figures, online invoice and PDF).
 */
export type Spend = 'push' | 'poll' | 'import' | 'page';

const DAY_MS = 86_400_000;
/** Left for pushes only: polls stop below it. */
const PUSH_RESERVE = 0.3;
/** Imports and contact sync pause below this share left. */
const IMPORT_FLOOR = 0.5;
/** Polls start stretching below this share left. */
const POLL_STRETCH_BELOW = 0.9;
/** Pages may spend at most this share of the day, and never below the pushes' reserve. */
const PAGE_SHARE = 0.05;

const scope = new AsyncLocalStorage<Spend>();

/** Runs `fn` with its Xero calls counted as `spend`. */
export function spendingAs<T>(spend: Spend, fn: () => T): T {
  return scope.run(spend, fn);
}

/** A job handler whose Xero calls count as `spend`. */
export function spendingHandler<H extends { batchSize?: number; run(jobs: never[]): Promise<unknown> }>(spend: Spend, handler: H): H {
  return { ...handler, batchSize: handler.batchSize, run: (jobs: never[]) => spendingAs(spend, () => handler.run(jobs)) };
}

/** The spend of the calls made here (Default: push). */
export function currentSpend(): Spend {
  return scope.getStore() ?? 'push';
}

export interface BudgetStatus {
  limit: number;
  used: number;
  remaining: number;
  /** When the oldest counted call leaves the 24 hours (ms), or null when none is counted. */
  resetsAt: number | null;
  /** Work that waits for the budget, and until when (ms). */
  waiting: { what: string; spend: Spend; until: number }[];
  /** Status polls are currently this many times their interval apart (1: not stretched). */
  pollStretch: number;
}

/** Xero's own count of the day as last known, for keeping across a restart (store/xero-limits.ts). */
export interface DayAsXeroSaid {
  /** Calls left by Xero's count, less the calls made since it said so; null when Xero said nothing. */
  remaining: number | null;
  /** When Xero said it (ms). */
  at: number | null;
  /** Xero refuses calls for the day until then (ms); 0 when not. */
  spentUntil: number;
}

export class DailyBudget {
  /** Start times of the calls counted in the last 24 hours, oldest first. */
  readonly #calls: number[] = [];
  /** Start times of the page calls among them. */
  readonly #pageCalls: number[] = [];
  #xero: { remaining: number; at: number; callsBefore: number } | null = null;
  #counted = 0;
  /** Xero refused calls for the day (429 `X-Rate-Limit-Problem: day`) until then, ms; 0 when it did not. */
  #spentUntil = 0;

  constructor(
    readonly limit: number,
    private readonly now: () => number = clock.now,
    private readonly windowMs: number = DAY_MS,
  ) {}

  /** Counts a call of `spend` that is starting. */
  record(spend: Spend = 'push'): void {
    this.#calls.push(this.now());
    if (spend === 'page') this.#pageCalls.push(this.now());
    this.#counted += 1;
  }

  /** Xero's count as last known, for the next start. */
  asXeroSaid(): DayAsXeroSaid {
    const x = this.#xero;
    return { remaining: x ? x.remaining - (this.#counted - x.callsBefore) : null, at: x?.at ?? null, spentUntil: this.#spentUntil };
  }

  /** Starts from what Xero said before a restart (or to another process). */
  restore(saved: DayAsXeroSaid): void {
    if (saved.remaining !== null && saved.at !== null) this.#xero = { remaining: saved.remaining, at: saved.at, callsBefore: this.#counted };
    this.#spentUntil = Math.max(this.#spentUntil, saved.spentUntil);
  }

  /** Page calls counted in the last 24 hours. */
  pageUsed(): number {
    this.prune();
    return this.#pageCalls.length;
  }

  /** The most page calls in 24 hours. */
  get pageShare(): number {
    return Math.max(1, Math.floor(this.limit * PAGE_SHARE));
  }

  /** Adopts Xero's count of what is left today (`X-DayLimit-Remaining`). */
  observe(dayRemaining: number): void {
    this.#xero = { remaining: dayRemaining, at: this.now(), callsBefore: this.#counted };
  }

  used(): number {
    this.prune();
    return this.#calls.length;
  }

  /**
   * Xero answered 429 with `X-Rate-Limit-Problem: day` and `Retry-After`: nothing is left until `until` (ms),
   * whatever was counted; from then on Xero's earlier count no longer holds.
   */
  spentUntil(until: number): void {
    this.#spentUntil = Math.max(this.#spentUntil, until);
  }

  /** Until when Xero refuses calls for the day (ms), or 0. */
  get xeroSpentUntil(): number {
    return this.#spentUntil > this.now() ? this.#spentUntil : 0;
  }

  /** Calls left: ours, or Xero's when lower (less the calls made since Xero said it). */
  remaining(): number {
    if (this.#spentUntil > this.now()) return 0;
    if (this.#spentUntil && this.#xero && this.#xero.at <= this.#spentUntil) this.#xero = null; // its day has turned
    const own = this.limit - this.used();
    if (!this.#xero || this.now() - this.#xero.at > this.windowMs) return Math.max(0, own);
    const theirs = this.#xero.remaining - (this.#counted - this.#xero.callsBefore);
    return Math.max(0, Math.min(own, theirs));
  }

  /** Calls that must stay free for pushes when `spend` wants one. */
  private floor(spend: Spend): number {
    if (spend === 'push') return 0;
    return Math.ceil(this.limit * (spend === 'import' ? IMPORT_FLOOR : PUSH_RESERVE));
  }

  /** True when a call of `spend` may start now. */
  allows(spend: Spend): boolean {
    if (spend === 'page' && this.pageUsed() >= this.pageShare) return false;
    return this.remaining() > this.floor(spend);
  }

  /** When a call of `spend` may start (ms; now when it may). */
  availableAt(spend: Spend): number {
    const now = this.now();
    if (this.allows(spend)) return now;
    if (this.#spentUntil > now) return this.#spentUntil;
    this.prune();
    // Pages wait for their own share too: until enough of their calls leave the 24 hours.
    const pageFree = spend === 'page' && this.#pageCalls.length >= this.pageShare ? this.#pageCalls[this.#pageCalls.length - this.pageShare]! + this.windowMs : now;
    if (this.remaining() > this.floor(spend)) return Math.max(now + 1000, pageFree);
    // Enough calls must leave the window for the remaining budget to rise above the spend's floor.
    const short = this.floor(spend) + 1 - this.remaining();
    const own = this.#calls[Math.min(this.#calls.length - 1, Math.max(0, short - 1))];
    const atOwn = own !== undefined ? own + this.windowMs : now + 60 * 60_000;
    // Xero said less than we counted: its own day frees no sooner than ours; an hour at least.
    return Math.max(now + 1000, atOwn, pageFree);
  }

  /** Waits until a call of `spend` may start, and counts it (in the same turn, so parallel calls never overshoot). */
  async admit(spend: Spend): Promise<void> {
    for (;;) {
      if (this.allows(spend)) return this.record(spend);
      const wait = this.availableAt(spend) - this.now();
      await clock.sleep(Math.min(wait, 60_000));
    }
  }

  /** How many times its interval a status poll waits: 1 with budget to spare, more as it runs low. */
  pollStretch(): number {
    const share = this.remaining() / this.limit;
    if (share >= POLL_STRETCH_BELOW) return 1;
    const above = Math.max(share - PUSH_RESERVE, 0.01);
    return Math.min(60, Math.ceil((POLL_STRETCH_BELOW - PUSH_RESERVE) / above - 1e-9));
  }

  status(): BudgetStatus {
    this.prune();
    const waiting: BudgetStatus['waiting'] = [];
    for (const [spend, what] of [['poll', 'Status checks'], ['import', 'Imports and contact sync'], ['page', 'Card figures and PDFs'], ['push', 'Pushes']] as const) {
      if (!this.allows(spend)) waiting.push({ what, spend, until: this.availableAt(spend) });
    }
    return {
      limit: this.limit, used: this.#calls.length, remaining: this.remaining(),
      resetsAt: this.#calls.length ? this.#calls[0] + this.windowMs : null, waiting, pollStretch: this.pollStretch(),
    };
  }

  private prune(): void {
    const edge = this.now() - this.windowMs;
    for (const calls of [this.#calls, this.#pageCalls]) {
      let n = 0;
      while (n < calls.length && calls[n]! <= edge) n++;
      if (n) calls.splice(0, n);
    }
  }
}

/** One line for people: "Xero budget: 812 of 1,000 calls left today; status checks wait until 14:05 UTC." */
export function describeBudget(s: BudgetStatus): string {
  const time = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const head = `Xero budget: ${s.remaining.toLocaleString('en')} of ${s.limit.toLocaleString('en')} calls left in the last 24 hours`;
  const waits = s.waiting.map((w) => `${w.what} wait until ${time(w.until)}`);
  const stretch = s.pollStretch > 1 && !s.waiting.some((w) => w.spend === 'poll') ? [`status checks run ${s.pollStretch}× less often`] : [];
  const reset = s.resetsAt && s.remaining < s.limit ? [`calls free up from ${time(s.resetsAt)}`] : [];
  return `${[head, ...waits, ...stretch, ...reset].join('; ')}.`;
}
