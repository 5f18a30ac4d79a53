/**
 * Store faults: the database cannot take writes because another process holds its write lock longer than the busy
 * timeout (`SQLITE_BUSY`), or because the disk is full (`SQLITE_FULL`). Whoever meets such an error notes it here;
 * while a fault is current the connector says so (/health 503, the dashboard, `connector_store_fault`), answers
 * events with 503 instead of pretending to have stored them, and takes no new work; a successful write ends it.
 * While locked, writers wait a short time instead of the full busy timeout, so the process stays responsive.
 * Sources: https://www.sqlite.org/rescode.html (SQLITE_BUSY, SQLITE_FULL), https://www.sqlite.org/pragma.html#pragma_busy_timeout
 */
import { AppError } from '../errors.js';
import type { SqlDb } from './sql.js';
import { SqliteDb } from './sqlite-driver.js';

export type StoreFaultCode = 'STORE.LOCKED' | 'STORE.DISK_FULL';

export interface StoreFault {
  code: StoreFaultCode;
  /** What an operator reads (dashboard, logs, /health). */
  message: string;
  /** When the first failed write of this fault happened (epoch ms). */
  since: number;
  /** Writes refused since then. */
  failures: number;
}

/** Milliseconds a writer waits for the lock while a lock is known to be held. (Default busy timeout: db.ts) */
export const LOCKED_BUSY_TIMEOUT_MS = 100;

const MESSAGES: Record<StoreFaultCode, string> = {
  'STORE.LOCKED': 'The database is locked by another process; new work waits until it is released (nothing is lost: Bitrix24 keeps the events in its offline queue).',
  'STORE.DISK_FULL': 'The disk holding the database is full; new work waits until space is freed (nothing is lost: Bitrix24 keeps the events in its offline queue).',
};

export function isStoreFaultCode(code: string): code is StoreFaultCode {
  return code === 'STORE.LOCKED' || code === 'STORE.DISK_FULL';
}

/**
 * The store fault an error means, or undefined when it is something else. The drivers wrap SQLite's error in a
 * StoreError (sql.ts) whose cause is SQLite's own, so the cause's code is read too.
 */
export function storeFaultCode(err: unknown): StoreFaultCode | undefined {
  if (err instanceof AppError) return isStoreFaultCode(err.code) ? err.code : undefined;
  for (let e: unknown = err, depth = 0; e && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = String((e as { code?: unknown } | null)?.code ?? '');
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'STORE.LOCKED';
    if (code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE' || code === 'SQLITE_IOERR_FSYNC') return 'STORE.DISK_FULL';
  }
  return undefined;
}

/** The error a request or job answers with while the store cannot write (503: retry later). */
export function storeFaultError(code: StoreFaultCode): AppError {
  return Object.assign(new AppError(code, MESSAGES[code], 503), { transient: true });
}

export class StoreFaults {
  #current: StoreFault | undefined;
  #busyTimeoutMs: number | undefined;
  readonly #refused = new Map<StoreFaultCode, number>();
  readonly #listeners: Array<(event: 'fault' | 'recovered', fault: StoreFault) => void> = [];

  /** The busy timeout is SQLite's (a PostgreSQL store's faults are its driver's timeouts and lost connections). */
  constructor(private readonly db: SqlDb) {}

  /** The fault in force, if any. */
  current(): StoreFault | undefined {
    return this.#current && { ...this.#current };
  }

  /** Writes refused by each kind of fault since the process started (the metric). */
  refused(): ReadonlyMap<StoreFaultCode, number> {
    return this.#refused;
  }

  /** Notes `err` if it is a store fault; returns its code (undefined for other errors, which are not noted). */
  note(err: unknown, now = Date.now()): StoreFaultCode | undefined {
    const code = storeFaultCode(err);
    if (!code) return undefined;
    this.#refused.set(code, (this.#refused.get(code) ?? 0) + 1);
    if (this.#current?.code === code) {
      this.#current.failures += 1;
      return code;
    }
    this.#current = { code, message: MESSAGES[code], since: now, failures: 1 };
    if (code === 'STORE.LOCKED') this.shortenBusyWait();
    else this.restoreBusyWait();
    for (const l of this.#listeners) l('fault', this.#current);
    return code;
  }

  /** A write went through: the fault (if any) is over. */
  ok(): void {
    const ended = this.#current;
    if (!ended) return;
    this.#current = undefined;
    this.restoreBusyWait();
    for (const l of this.#listeners) l('recovered', ended);
  }

  /** Called when a fault starts and when it ends (logging, metrics, draining what was refused meanwhile). */
  on(listener: (event: 'fault' | 'recovered', fault: StoreFault) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Tries a write that needs both the write lock and new pages (a row of a few pages, deleted again in the same
   * transaction); ends the fault when it commits, notes it again when it does not. Returns whether the store writes.
   */
  async probe(): Promise<boolean> {
    try {
      await this.db.transaction(async () => {
        await this.db.run(`INSERT INTO meta (key, value) VALUES ('store-probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, ['p'.repeat(12_000)]);
        await this.db.run(`DELETE FROM meta WHERE key = 'store-probe'`);
      });
      this.ok();
      return true;
    } catch (err) {
      if (!this.note(err)) throw err;
      return false;
    }
  }

  private shortenBusyWait(): void {
    if (!(this.db instanceof SqliteDb)) return;
    this.#busyTimeoutMs ??= Number(this.db.raw.pragma('busy_timeout', { simple: true }));
    this.db.raw.pragma(`busy_timeout = ${LOCKED_BUSY_TIMEOUT_MS}`);
  }

  private restoreBusyWait(): void {
    if (this.#busyTimeoutMs === undefined || !(this.db instanceof SqliteDb)) return;
    if (this.db.raw.open) this.db.raw.pragma(`busy_timeout = ${this.#busyTimeoutMs}`);
    this.#busyTimeoutMs = undefined;
  }
}
