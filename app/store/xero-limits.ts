/**
 * Repository of Xero limits as last known: per connection and per process (the connector, `npm run import`), the
 * calls in the current minute window, a pause in force, and Xero's own count of the day. A gateway made after a
 * restart, or by a second process on the same store, starts from what every process last saved, so it never
 * spends again the minute an earlier process already spent. Rows older than a day are dropped on the next save.
 */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';
import { PROCESS_HOLDER } from './leases.js';

const DAY_MS = 86_400_000;

export interface XeroLimitState {
  /** Epoch ms of each call counted in the minute window (answered then, or sent and not answered yet), oldest first. */
  minuteCalls: number[];
  /** No call may start before then (a 429's Retry-After), epoch ms; 0 when none. */
  pausedUntil: number;
  /** `X-MinLimit-Remaining` of the last answer; null when none was read. */
  minuteRemaining: number | null;
  /** Xero's `X-DayLimit-Remaining`, less the calls made since it said so; null when none was read. */
  dayRemaining: number | null;
  /** When Xero said `dayRemaining`, epoch ms. */
  dayReadAt: number | null;
  /** Xero refused calls for the day until then (429 `X-Rate-Limit-Problem: day`), epoch ms; 0 when not. */
  daySpentUntil: number;
}

interface Row {
  minute_calls: string;
  paused_until: number;
  minute_remaining: number | null;
  day_remaining: number | null;
  day_read_at: number | null;
  day_spent_until: number;
  updated_at: number;
}

export class XeroLimitRepository {
  constructor(private readonly db: SqlDb) {}

  /** Saves this process's view of a connection's limits. */
  async save(connectionId: number, state: XeroLimitState, holder = PROCESS_HOLDER, now = clock.now()): Promise<void> {
    await this.db.run(
      `INSERT INTO xero_limits (connection_id, holder, minute_calls, paused_until, minute_remaining, day_remaining, day_read_at, day_spent_until, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (connection_id, holder) DO UPDATE SET minute_calls = excluded.minute_calls, paused_until = excluded.paused_until,
         minute_remaining = excluded.minute_remaining, day_remaining = excluded.day_remaining, day_read_at = excluded.day_read_at,
         day_spent_until = excluded.day_spent_until, updated_at = excluded.updated_at`,
      [connectionId, holder, JSON.stringify(state.minuteCalls), state.pausedUntil, state.minuteRemaining, state.dayRemaining, state.dayReadAt, state.daySpentUntil, now],
    );
    await this.db.run('DELETE FROM xero_limits WHERE connection_id = ? AND updated_at < ?', [connectionId, now - DAY_MS]);
  }

  /**
   * What the processes last knew, merged: every call any of them counted in the window, the longest pause, and
   * Xero's latest word on the minute and the day. Undefined when nothing was saved.
   */
  async load(connectionId: number, now = clock.now()): Promise<XeroLimitState | undefined> {
    const rows = await this.db.all<Row>('SELECT * FROM xero_limits WHERE connection_id = ? AND updated_at >= ? ORDER BY updated_at', [connectionId, now - DAY_MS]);
    if (rows.length === 0) return undefined;
    const latestDay = rows.filter((r) => r.day_read_at !== null).sort((a, b) => a.day_read_at! - b.day_read_at!).at(-1);
    return {
      minuteCalls: rows.flatMap((r) => callTimes(r.minute_calls)).sort((a, b) => a - b),
      pausedUntil: Math.max(...rows.map((r) => r.paused_until)),
      minuteRemaining: rows.at(-1)!.minute_remaining,
      dayRemaining: latestDay?.day_remaining ?? null,
      dayReadAt: latestDay?.day_read_at ?? null,
      daySpentUntil: Math.max(...rows.map((r) => r.day_spent_until)),
    };
  }
}

function callTimes(json: string): number[] {
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.filter((t): t is number => typeof t === 'number' && Number.isFinite(t)) : [];
  } catch {
    return [];
  }
}
