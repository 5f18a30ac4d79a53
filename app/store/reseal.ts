/**
 * At open: every secret still sealed in the old `v1:` format (no associated data, so it opened in any column or row)
 * is sealed again as `v2:`, bound to where it is stored, in one transaction; after that the secret box refuses `v1:`.
 * The contexts are the repositories' own (portals.ts, connections.ts, consents.ts, and the key check in index.ts).
 * A value APP_SECRET cannot open stops the start, as a wrong key does.
 */
import { StoreError } from './db.js';
import type { SqlDb } from './sql.js';
import { V1, type SecretBox } from './secret-box.js';
import { secretContext } from './connections.js';

interface SealedColumns {
  table: string;
  columns: string[];
  /** Columns that name the row, read along. */
  key: string[];
  context: (column: string, row: Record<string, unknown>) => string;
  where?: string;
}

const SEALED: SealedColumns[] = [
  { table: 'portals', columns: ['access_token', 'refresh_token', 'application_token'], key: ['member_id'], context: (c, r) => `portals.${c}:${String(r.member_id)}` },
  { table: 'connections', columns: ['access_token', 'refresh_token'], key: ['id', 'member_id', 'tenant_id'], context: (c, r) => secretContext(c as 'access_token' | 'refresh_token', String(r.member_id), String(r.tenant_id)) },
  { table: 'xero_consents', columns: ['payload'], key: ['id'], context: (c, r) => `xero_consents.${c}:${String(r.id)}` },
  { table: 'meta', columns: ['value'], key: ['key'], context: (_c, r) => `meta.${String(r.key)}`, where: `key = 'secret-key-check'` },
];

/** Re-seals every `v1:` value; returns how many were re-sealed. */
export async function resealV1Secrets(db: SqlDb, box: SecretBox): Promise<number> {
  let count = 0;
  await db.transaction(async () => {
    for (const t of SEALED) {
      const keyWhere = t.key.map((k) => `${k} = @${k}`).join(' AND ');
      for (const column of t.columns) {
        const rows = await db.all(`SELECT ${[...t.key, column].join(', ')} FROM ${t.table} WHERE substr(${column}, 1, ${V1.length}) = '${V1}'${t.where ? ` AND ${t.where}` : ''}`);
        for (const row of rows) {
          let plaintext: string;
          try {
            plaintext = box.openV1(String(row[column]));
          } catch {
            throw new StoreError('STORE.SECRET_KEY_MISMATCH', `A secret in ${t.table}.${column} cannot be decrypted: APP_SECRET differs from the one this database was written with. Restore the original APP_SECRET (or DATA_DIR/app-secret).`);
          }
          await db.run(`UPDATE ${t.table} SET ${column} = @sealed WHERE ${keyWhere}`, { ...Object.fromEntries(t.key.map((k) => [k, row[k]])), sealed: box.seal(plaintext, t.context(column, row)) });
          count += 1;
        }
      }
    }
  });
  return count;
}
