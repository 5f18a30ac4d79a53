/**
 * Online backup and restore of the SQLite store.
 *
 * Backup uses SQLite's online backup API (better-sqlite3 `db.backup`, https://www.sqlite.org/backup.html and
 * https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#backupdestination-options--promise): pages are
 * copied in steps while the connector keeps reading and writing, and the copy is one consistent snapshot. The copy
 * is then checked (`PRAGMA integrity_check`, schema version) before it is reported as good.
 *
 * Restore (connector stopped) checks the file the same way, refuses a schema newer than this version knows, and
 * that APP_SECRET opens the secrets sealed in it; only then it replaces DATA_DIR/connector.db, keeping the old file
 * as connector.db.before-restore-<time>. The APP_SECRET is not in the backup: keep DATA_DIR/app-secret (or the
 * environment's APP_SECRET) with it.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { DB_FILE, latestVersion, schemaVersion, StoreError } from './db.js';
import { openStore } from './index.js';

export interface BackupReport {
  file: string;
  bytes: number;
  schemaVersion: number;
  ms: number;
}

/** Copies the live store of `dataDir` to `target` while it is in use; checks the copy. */
export async function backupStore(dataDir: string, target: string): Promise<BackupReport> {
  const source = path.join(dataDir, DB_FILE);
  if (!existsSync(source)) throw new StoreError('STORE.NOT_FOUND', `${source} does not exist; check DATA_DIR.`);
  const dest = path.resolve(target);
  if (dest === path.resolve(source)) throw new StoreError('STORE.BACKUP_TARGET', 'The backup file must not be the live database.');
  const started = Date.now();
  const db = new Database(source, { fileMustExist: true, timeout: 5000 });
  const partial = `${dest}.partial`;
  try {
    rmSync(partial, { force: true });
    // 256 pages per step, yielding between steps so the connector's writers are not held up.
    await db.backup(partial, { progress: () => 256 });
  } finally {
    db.close();
  }
  const version = checkFile(partial);
  renameSync(partial, dest);
  return { file: dest, bytes: statSync(dest).size, schemaVersion: version, ms: Date.now() - started };
}

export interface RestoreReport {
  file: string;
  schemaVersion: number;
  /** Where the replaced database was kept (undefined when there was none). */
  previous?: string;
}

/** Replaces the store of `dataDir` with `backup`. The connector must be stopped. */
export async function restoreStore(dataDir: string, backup: string, appSecret: string, now = new Date()): Promise<RestoreReport> {
  const file = path.resolve(backup);
  if (!existsSync(file)) throw new StoreError('STORE.NOT_FOUND', `${file} does not exist.`);
  const version = checkFile(file);
  // The secrets in the backup must open with this APP_SECRET, or the restored store would be useless:
  // a scratch copy is opened as the connector would open it.
  const scratch = path.join(dataDir, '.restore-check');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    copyFileSync(file, path.join(scratch, DB_FILE));
    try {
      await (await openStore(scratch, appSecret)).close();
    } catch (err) {
      if (err instanceof StoreError && err.code === 'STORE.SECRET_KEY_MISMATCH') {
        throw new StoreError(err.code, `${file} was sealed with another APP_SECRET; restore it with the app-secret file (or APP_SECRET) kept with the backup. Nothing was changed.`);
      }
      throw err;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const live = path.join(dataDir, DB_FILE);
  const staging = `${live}.restoring`;
  copyFileSync(file, staging);
  let previous: string | undefined;
  if (existsSync(live)) {
    previous = `${live}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
    renameSync(live, previous);
    for (const ext of ['-wal', '-shm']) if (existsSync(live + ext)) renameSync(live + ext, previous + ext);
  }
  renameSync(staging, live);
  return { file: live, schemaVersion: version, previous };
}

/** Integrity and schema check of a database file; returns its schema version. */
function checkFile(file: string): number {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new StoreError('STORE.BACKUP_UNREADABLE', `${file} is not a readable SQLite database: ${(err as Error).message}`);
  }
  try {
    const result = db.pragma('integrity_check', { simple: true });
    if (result !== 'ok') throw new StoreError('STORE.BACKUP_CORRUPT', `${file} failed the integrity check: ${String(result)}`);
    const hasSchema = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
    if (!hasSchema) throw new StoreError('STORE.BACKUP_NOT_OURS', `${file} is not a connector database (no schema_migrations table).`);
    const version = schemaVersion(db);
    if (version > latestVersion()) {
      throw new StoreError('STORE.SCHEMA_TOO_NEW', `${file} has schema version ${version}, newer than this connector knows (${latestVersion()}); restore it with the connector version that made it.`);
    }
    return version;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError('STORE.BACKUP_UNREADABLE', `${file} is not a readable SQLite database: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}
