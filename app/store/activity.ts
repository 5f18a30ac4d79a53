/** Repository of the activity log: what the connector did, in words for people. Never holds secrets. */
import type { Db } from './db.js';

export type ActivityLevel = 'info' | 'warn' | 'error';

export interface Activity {
  id: number;
  memberId: string | null;
  level: ActivityLevel;
  kind: string;
  subject: string | null;
  message: string;
  details: Record<string, unknown> | null;
  createdAt: number;
}

interface ActivityRow {
  id: number;
  member_id: string | null;
  level: ActivityLevel;
  kind: string;
  subject: string | null;
  message: string;
  details: string | null;
  created_at: number;
}

export type ActivityInput = Omit<Activity, 'id' | 'createdAt' | 'details' | 'subject'> & {
  subject?: string | null;
  details?: Record<string, unknown> | null;
};

export class ActivityRepository {
  constructor(private readonly db: Db) {}

  record(a: ActivityInput, now = Date.now()): void {
    this.db
      .prepare(
        'INSERT INTO activity_log (member_id, level, kind, subject, message, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(a.memberId, a.level, a.kind, a.subject ?? null, a.message, a.details ? JSON.stringify(a.details) : null, now);
  }

  /** Newest first. */
  list(filter: { memberId?: string; subject?: string; limit?: number } = {}): Activity[] {
    const where: string[] = ['1 = 1'];
    const args: unknown[] = [];
    if (filter.memberId) {
      where.push('member_id = ?');
      args.push(filter.memberId);
    }
    if (filter.subject) {
      where.push('subject = ?');
      args.push(filter.subject);
    }
    return (
      this.db
        .prepare(`SELECT * FROM activity_log WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`)
        .all(...args, filter.limit ?? 50) as ActivityRow[]
    ).map((r) => ({
      id: r.id,
      memberId: r.member_id,
      level: r.level,
      kind: r.kind,
      subject: r.subject,
      message: r.message,
      details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
      createdAt: r.created_at,
    }));
  }

  /** Deletes entries older than `before` (retention). */
  purgeOlderThan(before: number): number {
    return this.db.prepare('DELETE FROM activity_log WHERE created_at < ?').run(before).changes;
  }
}
