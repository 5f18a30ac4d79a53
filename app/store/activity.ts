/** Repository of the activity log: what the connector did, in words for people. Never holds secrets. */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';
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
  constructor(private readonly db: SqlDb) {}

  async record(a: ActivityInput, now = clock.now()): Promise<void> {
    await this.db.run('INSERT INTO activity_log (member_id, level, kind, subject, message, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      a.memberId, a.level, a.kind, a.subject ?? null, a.message, a.details ? JSON.stringify(a.details) : null, now,
    ]);
  }

  /** Newest first. */
  async list(filter: { memberId?: string; subject?: string; limit?: number } = {}): Promise<Activity[]> {
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
    const rows = await this.db.all<ActivityRow>(`SELECT * FROM activity_log WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`, [...args, filter.limit ?? 50]);
    return rows.map(fromActivityRow);
  }

  /**
   * One page of the log, newest first, with the number of matching entries. `kinds` are prefixes (`invoice.`
   * matches `invoice.created`); `subjects` any of the documents; `from`/`to` epoch ms, `to` exclusive.
   */
  async page(filter: ActivityFilter & { offset: number; limit: number }): Promise<{ rows: Activity[]; total: number }> {
    const { where, args } = activityWhere(filter);
    const total = (await this.db.get<{ n: number }>(`SELECT count(*) AS n FROM activity_log WHERE ${where}`, args))!.n;
    const rows = await this.db.all<ActivityRow>(`SELECT * FROM activity_log WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, [...args, filter.limit, filter.offset]);
    return { rows: rows.map(fromActivityRow), total };
  }

  /**
   * Entries per time bucket (`bucketMs` wide, aligned to the epoch) from `from` on, split by what they say:
   * `synced` (a document created or updated in Xero), `errors` (level error). Buckets without entries are absent.
   */
  histogram(memberId: string, from: number, bucketMs: number): Promise<{ bucket: number; synced: number; errors: number }[]> {
    return this.db.all(
        `SELECT (created_at / CAST(@b AS BIGINT)) * CAST(@b AS BIGINT) AS bucket,
           sum(CASE WHEN kind IN ('invoice.created', 'invoice.updated', 'quote.created', 'quote.updated') THEN 1 ELSE 0 END) AS synced,
           sum(CASE WHEN level = 'error' THEN 1 ELSE 0 END) AS errors
         FROM activity_log WHERE member_id = @m AND created_at >= @from GROUP BY bucket ORDER BY bucket`,
        { b: bucketMs, m: memberId, from },
      );
  }

  /** Deletes entries older than `before` (retention). */
  async purgeOlderThan(before: number): Promise<number> {
    return (await this.db.run('DELETE FROM activity_log WHERE created_at < ?', [before])).changes;
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
