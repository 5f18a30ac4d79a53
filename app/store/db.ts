/**
 * What both store dialects share about opening: the SQLite file's name, the store's error, what an open failure of
 * the file means in words, and the schema version of a raw SQLite file (backup.ts checks copies with it). Opening
 * and migrating are index.ts's (openStore, openPostgresStore) over sqlite-driver.ts / postgres-driver.ts and
 * migrate-sql.ts.
 */
import type Database from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

export const DB_FILE = 'connector.db';

export class StoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export interface OpenStoreOptions {
  /** Migrations to apply; tests pass their own list. (Default: MIGRATIONS) */
  migrations?: readonly Migration[];
  /** Milliseconds a writer waits for a lock before failing. (Default: 5000) */
  busyTimeoutMs?: number;
}

export function describeOpenFailure(file: string, err: unknown): StoreError {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError(
      'STORE.CORRUPT',
      `${file} is not a readable SQLite database (corrupt or not ours). Restore it from a backup, or move it away to start with an empty store.`,
    );
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_PERM') {
    return new StoreError(
      'STORE.CANNOT_OPEN',
      `${file} cannot be opened for writing (${code}). Check that DATA_DIR is writable by this user.`,
    );
  }
  return new StoreError('STORE.OPEN_FAILED', `${file} could not be opened: ${(err as Error).message}`);
}

/** The schema version recorded in the database (0 for a fresh one). */
export function schemaVersion(db: Db): number {
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

