/**
 * Repository of event tallies: what a portal's events caused, counted per minute in the store, so a cap holds across
 * every process on it and a flood shows as a few counters, never as rows per event.
 */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';

const MINUTE = 60_000;

/**
 * The statements, in the form both SQLite and PostgreSQL run alike (test/store/event-tallies.test.ts): the existing
 * row's n is named event_tallies.n (a bare n is ambiguous on PostgreSQL), and sum() is cast back to BIGINT
 * (PostgreSQL's sum of a BIGINT is NUMERIC). docs/reference/postgresql.md#our-queries-on-both-dialects
 */
export const EVENT_TALLY_SQL = {
  take: `INSERT INTO event_tallies (member_id, minute, what, n) VALUES (?, ?, ?, 1)
         ON CONFLICT (member_id, minute, what) DO UPDATE SET n = event_tallies.n + 1 WHERE event_tallies.n < ?`,
  add: `INSERT INTO event_tallies (member_id, minute, what, n) VALUES (?, ?, ?, ?)
         ON CONFLICT (member_id, minute, what) DO UPDATE SET n = event_tallies.n + excluded.n`,
  since: `SELECT what, CAST(sum(n) AS BIGINT) AS n FROM event_tallies WHERE member_id = ? AND minute >= ? AND substr(what, 1, ?) = ? GROUP BY what ORDER BY what`,
} as const;

export class EventTallyRepository {
  constructor(private readonly db: SqlDb) {}

  /** Counts one `what` in the current minute when fewer than `limit` were counted in it; false (nothing counted) otherwise. */
  async take(memberId: string, what: string, limit: number, now = clock.now()): Promise<boolean> {
    if (limit <= 0) return false;
    const minute = Math.floor(now / MINUTE) * MINUTE;
    // One statement: the count and the check cannot be split by another process.
    const { changes } = await this.db.run(EVENT_TALLY_SQL.take, [memberId, minute, what, limit]);
    return changes > 0;
  }

  /** Counts `n` of `what` in the current minute. */
  async add(memberId: string, what: string, n = 1, now = clock.now()): Promise<void> {
    await this.db.run(EVENT_TALLY_SQL.add, [memberId, Math.floor(now / MINUTE) * MINUTE, what, n]);
  }

  /** The counts of the tallies named `prefix…` since `since` (ms), by name without the prefix. */
  async since(memberId: string, prefix: string, since: number): Promise<Map<string, number>> {
    const rows = await this.db.all<{ what: string; n: number }>(EVENT_TALLY_SQL.since, [memberId, Math.floor(since / MINUTE) * MINUTE, prefix.length, prefix]);
    return new Map(rows.map((r) => [r.what.slice(prefix.length), r.n]));
  }

  /** Deletes the minutes before `before` (retention); returns how many rows went. */
  async purgeOlderThan(before: number): Promise<number> {
    return (await this.db.run('DELETE FROM event_tallies WHERE minute < ?', [before])).changes;
  }
}
