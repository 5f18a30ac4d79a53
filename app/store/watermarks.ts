/** Repository of watermarks: the high-water marks of incremental pulls (Xero If-Modified-Since, Bitrix24 >updatedTime). */
import { clock } from '../clock.js';
import type { Db } from './db.js';

export class WatermarkRepository {
  constructor(private readonly db: Db) {}

  get(scope: string, name: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM watermarks WHERE scope = ? AND name = ?').get(scope, name) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  /** The watermarks whose scope and name start with these prefixes, with when each last moved. */
  listByPrefix(scopePrefix: string, namePrefix: string): { scope: string; name: string; value: string; updatedAt: number }[] {
    return this.db
      .prepare(`SELECT scope, name, value, updated_at AS updatedAt FROM watermarks WHERE substr(scope, 1, ?) = ? AND substr(name, 1, ?) = ?`)
      .all(scopePrefix.length, scopePrefix, namePrefix.length, namePrefix) as { scope: string; name: string; value: string; updatedAt: number }[];
  }

  set(scope: string, name: string, value: string, now = clock.now()): void {
    this.db
      .prepare(
        `INSERT INTO watermarks (scope, name, value, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      )
      .run(scope, name, value, now);
  }
}
