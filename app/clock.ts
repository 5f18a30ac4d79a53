/**
 * The connector's clock: the time of what it records and schedules (activity, links, jobs, watermarks, Xero's call
 * windows, the dashboard's charts) and the time it holds against the times Bitrix24 and Xero send (an event's `ts`,
 * `UpdatedDateUTC`, `operating_reset_at`). It is the system clock unless a test or the demo sets another with
 * `useClock` — e.g. an `offsetClock` set a month back and moved forward, so that a month of business is synced for
 * real at its own dates, the emulators reading the same clock.
 *
 * Waits for a moment of that time go through `clock.sleep`: the Xero gateway's pauses (a 429's Retry-After, a spent
 * minute, the transient back-off) and the daily budget's wait. On the system clock it is a timer; a test's clock may
 * move itself ahead instead, so that waiting for Xero's minute to free costs no real time while every rule that
 * reads the clock sees the minute pass (test/helpers/clock.ts).
 *
 * Left on `Date.now()`: elapsed times and timeouts measured on this machine (and the age of in-memory caches); the
 * lifetime of Bitrix24 tokens and the pace of b24jssdk's own request limiter, which the SDK keeps on the system clock;
 * and leases, which other processes share through the database.
 */
export interface Clock {
  /** Epoch ms. */
  now(): number;
  /** Resolves once `ms` have passed on this clock. (Default: a timer of the system clock) */
  sleep?(ms: number): Promise<void>;
}

/** A timer of the system clock. */
export const timer = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export const systemClock: Clock = { now: () => Date.now(), sleep: timer };

let current: Clock = systemClock;

/** The clock in use (process-wide). Whole milliseconds: the store keeps times as integers (BIGINT on PostgreSQL). */
export const clock: Required<Clock> = {
  now: () => Math.floor(current.now()),
  sleep: (ms) => (current.sleep ? current.sleep(Math.max(0, ms)) : timer(ms)),
};

/** Sets the clock in use; returns the one it replaces. */
export function useClock(next: Clock): Clock {
  const before = current;
  current = next;
  return before;
}

/** A clock that runs with the system clock at a distance (`offsetMs`, negative: behind) that `set` changes. */
export interface OffsetClock extends Clock {
  offsetMs: number;
  /** Puts the clock at `ms` (epoch ms); it runs on from there. */
  set(ms: number): void;
}

export function offsetClock(offsetMs = 0): OffsetClock {
  const c: OffsetClock = {
    offsetMs,
    now: () => Date.now() + c.offsetMs,
    set: (ms) => {
      c.offsetMs = ms - Date.now();
    },
  };
  return c;
}
