/** Repository of per-portal settings: JSON values by key, validated by their users (see sync/settings). */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';

export class SettingsRepository {
  constructor(private readonly db: SqlDb) {}

  async get<T>(memberId: string, key: string): Promise<T | undefined> {
    const row = await this.db.get<{ value: string }>('SELECT value FROM settings WHERE member_id = ? AND key = ?', [memberId, key]);
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  async all(memberId: string): Promise<Record<string, unknown>> {
    const rows = await this.db.all<{ key: string; value: string }>('SELECT key, value FROM settings WHERE member_id = ?', [memberId]);
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  }

  async set(memberId: string, key: string, value: unknown, now = clock.now()): Promise<void> {
    await this.db.run(
      `INSERT INTO settings (member_id, key, value, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (member_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [memberId, key, JSON.stringify(value), now],
    );
  }
}
