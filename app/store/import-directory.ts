/**
 * Repository of import directories (migration 10): the Bitrix24 records an import run's preview matches Xero records
 * against, with their match keys, on disk instead of in memory, so a portal of any size plans in flat memory. Rows
 * are written page by page as Bitrix24 is read and cleared when the preview ends (and with the run).
 */
import type { SqlDb } from './sql.js';

export interface DirectoryRow {
  kind: string;
  b24Id: string;
  data: unknown;
  /** Match keys: [key type, key]. */
  keys: [string, string][];
}

export class ImportDirectoryRepository {
  constructor(private readonly db: SqlDb) {}

  /** Adds one page of records and their keys (a record read twice keeps its first version). */
  async add(runId: number, rows: DirectoryRow[]): Promise<void> {
    await this.db.transaction(async () => {
      for (const r of rows) {
        await this.db.run('INSERT INTO import_directory (run_id, kind, b24_id, data) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', [runId, r.kind, r.b24Id, JSON.stringify(r.data)]);
        for (const [type, k] of r.keys) {
          if (k) await this.db.run('INSERT INTO import_directory_keys (run_id, kind, key_type, key, b24_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING', [runId, r.kind, type, k, r.b24Id]);
        }
      }
    });
  }

  async get<T>(runId: number, kind: string, b24Id: string): Promise<T | undefined> {
    const row = await this.db.get<{ data: string }>('SELECT data FROM import_directory WHERE run_id = ? AND kind = ? AND b24_id = ?', [runId, kind, b24Id]);
    return row && (JSON.parse(row.data) as T);
  }

  /** The ids of records with this key (at most `limit`; in the key's index order), numeric ids lowest first. */
  async find(runId: number, kind: string, keyType: string, key: string, limit = 6): Promise<string[]> {
    if (!key) return [];
    // Straight from the primary key's index: no sort in SQL (this runs a few times per Xero record).
    const rows = await this.db.all<{ b24_id: string }>('SELECT b24_id FROM import_directory_keys WHERE run_id = ? AND kind = ? AND key_type = ? AND key = ? LIMIT ?', [runId, kind, keyType, key, limit]);
    const ids = rows.map((r) => r.b24_id);
    return ids.length > 1 ? ids.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)) : ids;
  }

  /** Records `key` as used; true the first time, false when it was already there. */
  async claim(runId: number, kind: string, keyType: string, key: string): Promise<boolean> {
    const { changes } = await this.db.run(`INSERT INTO import_directory_keys (run_id, kind, key_type, key, b24_id) VALUES (?, ?, ?, ?, '') ON CONFLICT DO NOTHING`, [runId, kind, keyType, key]);
    return changes > 0;
  }

  async clear(runId: number): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.run('DELETE FROM import_directory_keys WHERE run_id = ?', [runId]);
      await this.db.run('DELETE FROM import_directory WHERE run_id = ?', [runId]);
    });
  }
}
