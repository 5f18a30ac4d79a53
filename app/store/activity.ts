/** Repository of the activity log: what the connector did, in words for people. Never holds secrets. */
import { clock } from '../clock.js';
import type { Db } from './db.js';
import { rowMapper } from './rows.js';

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

  record(a: ActivityInput, now = clock.now()): void {
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
    ).map(fromActivityRow);
  }

  /**
   * One page of the log, newest first, with the number of matching entries. `kinds` are prefixes (`invoice.`
   * matches `invoice.created`); `subjects` any of the documents; `from`/`to` epoch ms, `to` exclusive.
   */
  page(filter: ActivityFilter & { offset: number; limit: number }): { rows: Activity[]; total: number } {
    const { where, args } = activityWhere(filter);
    const total = (this.db.prepare(`SELECT count(*) AS n FROM activity_log WHERE ${where}`).get(...args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT * FROM activity_log WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`)
      .all(...args, filter.limit, filter.offset) as ActivityRow[];
    return { rows: rows.map(fromActivityRow), total };
  }

  /**
   * Entries per time bucket (`bucketMs` wide, aligned to the epoch) from `from` on, split by what they say:
   * `synced` (a document created or updated in Xero), `errors` (level error). Buckets without entries are absent.
   */
  histogram(memberId: string, from: number, bucketMs: number): { bucket: number; synced: number; errors: number }[] {
    return this.db
      .prepare(
        `SELECT (created_at / CAST(@b AS INTEGER)) * CAST(@b AS INTEGER) AS bucket,
           sum(CASE WHEN kind IN ('invoice.created', 'invoice.updated', 'quote.created', 'quote.updated') THEN 1 ELSE 0 END) AS synced,
           sum(CASE WHEN level = 'error' THEN 1 ELSE 0 END) AS errors
         FROM activity_log WHERE member_id = @m AND created_at >= @from GROUP BY bucket ORDER BY bucket`,
      )
      .all({ b: bucketMs, m: memberId, from }) as { bucket: number; synced: number; errors: number }[];
  }

  /** Deletes entries older than `before` (retention). */
  purgeOlderThan(before: number): number {
    return this.db.prepare('DELETE FROM activity_log WHERE created_at < ?').run(before).changes;
  }
}

export interface ActivityFilter {
  memberId: string;
  subjects?: string[];
  kinds?: string[];
  levels?: ActivityLevel[];
  from?: number;
  to?: number;
}

function activityWhere(f: ActivityFilter): { where: string; args: unknown[] } {
  const where = ['member_id = ?'];
  const args: unknown[] = [f.memberId];
  if (f.subjects?.length) {
    where.push(`subject IN (${f.subjects.map(() => '?').join(', ')})`);
    args.push(...f.subjects);
  }
  if (f.kinds?.length) {
    where.push(`(${f.kinds.map(() => `substr(kind, 1, ?) = ?`).join(' OR ')})`);
    for (const k of f.kinds) args.push(k.length, k);
  }
  if (f.levels?.length) {
    where.push(`level IN (${f.levels.map(() => '?').join(', ')})`);
    args.push(...f.levels);
  }
  if (f.from !== undefined) {
    where.push('created_at >= ?');
    args.push(f.from);
  }
  if (f.to !== undefined) {
    where.push('created_at < ?');
    args.push(f.to);
  }
  return { where: where.join(' AND '), args };
}

const fromActivityRow = rowMapper<ActivityRow, Activity>()(
  ['id', 'member_id', 'level', 'kind', 'subject', 'message', 'details', 'created_at'],
  { details: (r) => (r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null) },
);
