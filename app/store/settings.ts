/** Repository of per-portal settings: JSON values by key, validated by their users (see sync/settings). */
import { clock } from '../clock.js';
import type { Db } from './db.js';

export class SettingsRepository {
  constructor(private readonly db: Db) {}

  get<T>(memberId: string, key: string): T | undefined {
    const row = this.db.prepare('SELECT value FROM settings WHERE member_id = ? AND key = ?').get(memberId, key) as
      | { value: string }
      | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  all(memberId: string): Record<string, unknown> {
    const rows = this.db.prepare('SELECT key, value FROM settings WHERE member_id = ?').all(memberId) as {
      key: string;
      value: string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  }

  set(memberId: string, key: string, value: unknown, now = clock.now()): void {
    this.db
      .prepare(
        `INSERT INTO settings (member_id, key, value, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (member_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      )
      .run(memberId, key, JSON.stringify(value), now);
  }
}
