/**
 * Repository of event tallies: what a portal's events caused, counted per minute in the store, so a cap holds across
 * every process on it and a flood shows as a few counters, never as rows per event.
 */
import { clock } from '../clock.js';
import type { Statement } from 'better-sqlite3';
import { statementCache, type Db } from './db.js';

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
  private readonly sql: (text: string) => Statement<unknown[]>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  /** Counts one `what` in the current minute when fewer than `limit` were counted in it; false (nothing counted) otherwise. */
  take(memberId: string, what: string, limit: number, now = clock.now()): boolean {
    if (limit <= 0) return false;
    const minute = Math.floor(now / MINUTE) * MINUTE;
    // One statement: the count and the check cannot be split by another process.
    const taken = this
      .sql(EVENT_TALLY_SQL.take)
      .run(memberId, minute, what, limit).changes;
    return taken > 0;
  }

  /** Counts `n` of `what` in the current minute. */
  add(memberId: string, what: string, n = 1, now = clock.now()): void {
    this
      .sql(EVENT_TALLY_SQL.add)
      .run(memberId, Math.floor(now / MINUTE) * MINUTE, what, n);
  }

  /** The counts of the tallies named `prefix…` since `since` (ms), by name without the prefix. */
  since(memberId: string, prefix: string, since: number): Map<string, number> {
    const rows = this
      .sql(EVENT_TALLY_SQL.since)
      .all(memberId, Math.floor(since / MINUTE) * MINUTE, prefix.length, prefix) as { what: string; n: number }[];
    return new Map(rows.map((r) => [r.what.slice(prefix.length), r.n]));
  }

  /** Deletes the minutes before `before` (retention); returns how many rows went. */
  purgeOlderThan(before: number): number {
    return this.sql('DELETE FROM event_tallies WHERE minute < ?').run(before).changes;
  }
}
