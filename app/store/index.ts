/**
 * The store: the database (SQLite embedded, or PostgreSQL shared by several instances) and one repository per table
 * family, asynchronous over one SQL driver (sql.ts). Opening it applies migrations, re-seals
 * secrets left in the old format (reseal.ts) and checks that APP_SECRET still opens the secrets written before.
 */
import path from 'node:path';
import { DB_FILE, StoreError, type OpenStoreOptions } from './db.js';
import { MIGRATIONS } from './migrations.js';
import { currentVersion, migrateSql } from './migrate-sql.js';
import type { SqlDb } from './sql.js';
import { openSqliteDb } from './sqlite-driver.js';
import { openPostgresDb } from './postgres-driver.js';
import { ActivityRepository } from './activity.js';
import { ConnectionRepository } from './connections.js';
import { ConsentRepository } from './consents.js';
import { ImportRepository } from './imports.js';
import { JobRepository } from './jobs.js';
import { LeaseRepository } from './leases.js';
import { LinkRepository } from './links.js';
import { PortalRepository } from './portals.js';
import { SecretBox } from './secret-box.js';
import { resealV1Secrets } from './reseal.js';
import { SettingsRepository } from './settings.js';
import { WatermarkRepository } from './watermarks.js';
import { EventTallyRepository } from './event-tallies.js';
import { XeroLimitRepository } from './xero-limits.js';
import { StoreFaults } from './faults.js';

const KEY_CHECK = 'secret-key-check';
const KEY_CHECK_PLAINTEXT = 'bitrix24-xero-connector';

export class Store {
  readonly portals: PortalRepository;
  readonly connections: ConnectionRepository;
  readonly links: LinkRepository;
  readonly jobs: JobRepository;
  readonly activity: ActivityRepository;
  readonly settings: SettingsRepository;
  readonly watermarks: WatermarkRepository;
  readonly consents: ConsentRepository;
  readonly imports: ImportRepository;
  readonly leases: LeaseRepository;
  /** What the portals' events caused, per minute (the cap on new jobs, the events dropped). */
  readonly eventTallies: EventTallyRepository;
  /** Xero's minute and day as each process last knew them (xero/gateway.ts). */
  readonly xeroLimits: XeroLimitRepository;
  /** Writes the database refuses (locked, disk full): noted by whoever meets them, ended by a write that works. */
  readonly faults: StoreFaults;

  constructor(
    readonly db: SqlDb,
    readonly box: SecretBox,
  ) {
    this.portals = new PortalRepository(db, box);
    this.connections = new ConnectionRepository(db, box);
    this.links = new LinkRepository(db);
    this.jobs = new JobRepository(db);
    this.activity = new ActivityRepository(db);
    this.settings = new SettingsRepository(db);
    this.watermarks = new WatermarkRepository(db);
    this.consents = new ConsentRepository(db, box);
    this.imports = new ImportRepository(db);
    this.leases = new LeaseRepository(db);
    this.eventTallies = new EventTallyRepository(db);
    this.xeroLimits = new XeroLimitRepository(db);
    this.faults = new StoreFaults(db);
  }

  /**
   * Runs `fn` in one transaction: every store call made while it runs, at any depth of awaits, is in it
   * (docs/architecture.md#store-on-two-dialects). Never await inside it a store call started outside it.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  schemaVersion(): Promise<number> {
    return currentVersion(this.db);
  }

  /** True while the database answers. */
  async isHealthy(): Promise<boolean> {
    try {
      return (await this.db.get<{ ok: number }>('SELECT 1 AS ok'))?.ok === 1;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** Opens the SQLite store in `dataDir` (the embedded store): migrated, secrets re-sealed, APP_SECRET checked. */
export async function openStore(dataDir: string, appSecret: string, options?: OpenStoreOptions): Promise<Store> {
  const file = path.join(dataDir, DB_FILE);
  return prepareStore(openSqliteDb(file, { busyTimeoutMs: options?.busyTimeoutMs }), appSecret, file, options);
}

/** The store the configuration names: PostgreSQL when `databaseUrl` is set, else the embedded SQLite store in `dataDir`. */
export function openConfiguredStore(where: { dataDir: string; databaseUrl?: string }, appSecret: string, options?: OpenStoreOptions): Promise<Store> {
  return where.databaseUrl ? openPostgresStore(where.databaseUrl, appSecret, options) : openStore(where.dataDir, appSecret, options);
}

/** Opens the PostgreSQL store at `url` (postgres://…), shared by every instance on it. */
export async function openPostgresStore(url: string, appSecret: string, options?: OpenStoreOptions): Promise<Store> {
  const db = await openPostgresDb(url);
  return prepareStore(db, appSecret, db.target, options);
}

async function prepareStore(db: SqlDb, appSecret: string, name: string, options?: OpenStoreOptions): Promise<Store> {
  const box = new SecretBox(appSecret);
  try {
    await migrateSql(db, options?.migrations ?? MIGRATIONS, { name });
    await resealV1Secrets(db, box);
    await checkSecretKey(db, box);
  } catch (err) {
    await db.close();
    throw err;
  }
  return new Store(db, box);
}

/** The first open stores a sealed marker; later opens must be able to read it with the same APP_SECRET. */
async function checkSecretKey(db: SqlDb, box: SecretBox): Promise<void> {
  const row = await db.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [KEY_CHECK]);
  if (!row) {
    // ON CONFLICT: two instances opening a fresh PostgreSQL store at once; the check below then reads the winner's.
    await db.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', [KEY_CHECK, box.seal(KEY_CHECK_PLAINTEXT, `meta.${KEY_CHECK}`)]);
    return checkSecretKey(db, box);
  }
  let ok = false;
  try {
    ok = box.open(row.value, `meta.${KEY_CHECK}`) === KEY_CHECK_PLAINTEXT;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new StoreError(
      'STORE.SECRET_KEY_MISMATCH',
      'APP_SECRET differs from the one this database was created with, so its stored tokens cannot be read. Restore the original APP_SECRET (or DATA_DIR/app-secret).',
    );
  }
}

export { StoreError };
