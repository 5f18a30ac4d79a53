/**
 * The store: the SQLite database and one repository per table family. Opening it applies migrations, re-seals
 * secrets left in the old format (reseal.ts) and checks that APP_SECRET still opens the secrets written before.
 */
import { openDatabase, schemaVersion, StoreError, type Db, type OpenStoreOptions } from './db.js';
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
    readonly db: Db,
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

  /** Runs `fn` in one SQLite transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  schemaVersion(): number {
    return schemaVersion(this.db);
  }

  /** True while the database answers. */
  isHealthy(): boolean {
    try {
      return this.db.open && (this.db.prepare('SELECT 1 AS ok').get() as { ok: number }).ok === 1;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export function openStore(dataDir: string, appSecret: string, options?: OpenStoreOptions): Store {
  const db = openDatabase(dataDir, options);
  const box = new SecretBox(appSecret);
  try {
    resealV1Secrets(db, box);
    checkSecretKey(db, box);
  } catch (err) {
    db.close();
    throw err;
  }
  return new Store(db, box);
}

/** The first open stores a sealed marker; later opens must be able to read it with the same APP_SECRET. */
function checkSecretKey(db: Db, box: SecretBox): void {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(KEY_CHECK) as { value: string } | undefined;
  if (!row) {
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(KEY_CHECK, box.seal(KEY_CHECK_PLAINTEXT, `meta.${KEY_CHECK}`));
    return;
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
