/**
 * Repository of import directories (migration 10): the Bitrix24 records an import run's preview matches Xero records
 * against, with their match keys, on disk instead of in memory, so a portal of any size plans in flat memory. Rows
 * are written page by page as Bitrix24 is read and cleared when the preview ends (and with the run).
 */
import type { Statement } from 'better-sqlite3';
import { statementCache, type Db } from './db.js';

export interface DirectoryRow {
  kind: string;
  b24Id: string;
  data: unknown;
  /** Match keys: [key type, key]. */
  keys: [string, string][];
}

export class ImportDirectoryRepository {
  private readonly sql: (text: string) => Statement<unknown[]>;

  constructor(private readonly db: Db) {
    this.sql = statementCache(db);
  }

  /** Adds one page of records and their keys (a record read twice keeps its first version). */
  add(runId: number, rows: DirectoryRow[]): void {
    const record = this.sql('INSERT OR IGNORE INTO import_directory (run_id, kind, b24_id, data) VALUES (?, ?, ?, ?)');
    const key = this.sql('INSERT OR IGNORE INTO import_directory_keys (run_id, kind, key_type, key, b24_id) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of rows) {
        record.run(runId, r.kind, r.b24Id, JSON.stringify(r.data));
        for (const [type, k] of r.keys) if (k) key.run(runId, r.kind, type, k, r.b24Id);
      }
    })();
  }

  get<T>(runId: number, kind: string, b24Id: string): T | undefined {
    const row = this.sql('SELECT data FROM import_directory WHERE run_id = ? AND kind = ? AND b24_id = ?').get(runId, kind, b24Id) as { data: string } | undefined;
    return row && (JSON.parse(row.data) as T);
  }

  /** The ids of records with this key (at most `limit`; in the key's index order), numeric ids lowest first. */
  find(runId: number, kind: string, keyType: string, key: string, limit = 6): string[] {
    if (!key) return [];
    // Straight from the primary key's index: no sort in SQL (this runs a few times per Xero record).
    const ids = this.sql('SELECT b24_id FROM import_directory_keys WHERE run_id = ? AND kind = ? AND key_type = ? AND key = ? LIMIT ?')
      .pluck().all(runId, kind, keyType, key, limit) as string[];
    return ids.length > 1 ? ids.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)) : ids;
  }

  /** Records `key` as used; true the first time, false when it was already there. */
  claim(runId: number, kind: string, keyType: string, key: string): boolean {
    return this.sql(`INSERT OR IGNORE INTO import_directory_keys (run_id, kind, key_type, key, b24_id) VALUES (?, ?, ?, ?, '')`).run(runId, kind, keyType, key).changes > 0;
  }

  clear(runId: number): void {
    this.db.transaction(() => {
      this.sql('DELETE FROM import_directory_keys WHERE run_id = ?').run(runId);
      this.sql('DELETE FROM import_directory WHERE run_id = ?').run(runId);
    })();
  }
}
