// A clock for tests whose waits cost no real time (app/clock.ts): it runs with the system clock, and a wait on it
// (`clock.sleep`: the Xero gateway's pauses for Retry-After and for its minute to free, the daily budget's wait)
// moves it ahead by that wait instead of blocking. Everything that reads the clock sees the time pass — the gateway's
// window, the emulated organisation's limits and token lifetimes (startEnvironment gives the emulators this process's
// clock) — so the rules are the production ones, only the wait is skipped.
import { after } from 'node:test';
import { offsetClock, useClock, type OffsetClock } from '../../app/clock.js';

export interface SkipAheadClock extends OffsetClock {
  sleep(ms: number): Promise<void>;
  /** Time skipped by waits so far, ms. */
  skippedMs: number;
}

export function skipAheadClock(): SkipAheadClock {
  const c = Object.assign(offsetClock(), {
    skippedMs: 0,
    sleep(ms: number): Promise<void> {
      const wait = Math.max(0, ms);
      c.offsetMs += wait;
      c.skippedMs += wait;
      // A real turn of the event loop (a timer, not a microtask), so a loop of waits cannot starve the sockets.
      return new Promise<void>((r) => setTimeout(r, 0));
    },
  });
  return c;
}

/** Sets a skip-ahead clock for the rest of the test file (each test file runs in its own process under node --test). */
export function useSkipAheadClock(): SkipAheadClock {
  const c = skipAheadClock();
  const before = useClock(c);
  after(() => void useClock(before));
  return c;
}
