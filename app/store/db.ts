/**
 * Opens the SQLite store (WAL, foreign keys, busy timeout) and brings its schema to the latest version.
 * Every way this can fail ends in a StoreError whose message names the problem and the fix.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

/** Prepares each SQL text once per connection and hands the same statement back (for statements run per record). */
export function statementCache(db: Db): (text: string) => Database.Statement<unknown[]> {
  const statements = new Map<string, Database.Statement<unknown[]>>();
  return (text) => {
    let s = statements.get(text);
    if (!s) statements.set(text, (s = db.prepare(text)));
    return s;
  };
}

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

export function openDatabase(dataDir: string, options: OpenStoreOptions = {}): Db {
  const file = path.join(dataDir, DB_FILE);
  let db: Db;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
    db.pragma('journal_mode = WAL');
  } catch (err) {
    throw describeOpenFailure(file, err);
  }
  try {
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    migrate(db, options.migrations ?? MIGRATIONS, file);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw describeOpenFailure(file, err);
  }
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

function migrate(db: Db, migrations: readonly Migration[], file: string): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const current = schemaVersion(db);
  const latest = latestVersion(migrations);
  if (current > latest) {
    throw new StoreError(
      'STORE.SCHEMA_TOO_NEW',
      `${file} has schema version ${current}, newer than this connector knows (${latest}). Run the newer connector version, or restore a backup made by this one.`,
    );
  }
  const pending = [...migrations].filter((m) => m.version > current).sort((a, b) => a.version - b.version);
  for (const m of pending) {
    const apply = db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      );
    });
    try {
      apply();
    } catch (err) {
      throw new StoreError(
        'STORE.MIGRATION_FAILED',
        `Migration ${m.version} (${m.name}) failed and was rolled back; the store stays at version ${schemaVersion(db)}. Cause: ${(err as Error).message}`,
      );
    }
  }
}
