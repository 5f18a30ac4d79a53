/** Repository of watermarks: the high-water marks of incremental pulls (Xero If-Modified-Since, Bitrix24 >updatedTime). */
import { clock } from '../clock.js';
import type { SqlDb } from './sql.js';

export class WatermarkRepository {
  constructor(private readonly db: SqlDb) {}

  async get(scope: string, name: string): Promise<string | undefined> {
    return (await this.db.get<{ value: string }>('SELECT value FROM watermarks WHERE scope = ? AND name = ?', [scope, name]))?.value;
  }

  /** The watermarks whose scope and name start with these prefixes, with when each last moved. */
  listByPrefix(scopePrefix: string, namePrefix: string): Promise<{ scope: string; name: string; value: string; updatedAt: number }[]> {
    return this.db.all(
      `SELECT scope, name, value, updated_at AS "updatedAt" FROM watermarks WHERE substr(scope, 1, ?) = ? AND substr(name, 1, ?) = ?`,
      [scopePrefix.length, scopePrefix, namePrefix.length, namePrefix],
    );
  }

  async set(scope: string, name: string, value: string, now = clock.now()): Promise<void> {
    await this.db.run(
      `INSERT INTO watermarks (scope, name, value, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [scope, name, value, now],
    );
  }
}
