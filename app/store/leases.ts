/**
 * Repository of leases: short locks shared by every process on the same database (the connector and the
 * `npm run import` command line). A lease is taken in one `BEGIN IMMEDIATE` statement, so two processes can never
 * both hold it; it ends when released or when `expires_at` passes (a crashed holder frees it by time).
 */
import { randomUUID } from 'node:crypto';
import type { SqlDb } from './sql.js';

/** This process's name in the `holder` column. */
export const PROCESS_HOLDER = `${process.pid}:${randomUUID()}`;

/**
 * Whether the process named by a holder still runs. Every process sharing a SQLite file runs on this machine (the
 * file is local), so a holder whose pid is gone crashed, and its lease is free without waiting for it to expire. On
 * PostgreSQL the holders may run on other hosts, where a pid says nothing: only expiry frees a lease there.
 */
function holderAlive(holder: string): boolean {
  const pid = Number(holder.split(':')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LeaseRepository {
  constructor(private readonly db: SqlDb) {}

  /**
   * Takes the lease when it is free, expired, or already ours; true when taken. One statement: the upsert writes
   * only where the row is free (expired, ours) or absent, so two processes can never both take it; on SQLite a
   * holder whose process is gone is free too (holderAlive).
   */
  async tryAcquire(name: string, ttlMs: number, holder = PROCESS_HOLDER, now = Date.now()): Promise<boolean> {
    const take = () =>
      this.db.run(
        `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
        [name, holder, now + ttlMs, now],
      );
    if ((await take()).changes > 0) return true;
    if (this.db.dialect !== 'sqlite') return false;
    return this.db.transaction(async () => {
      const row = await this.db.get<{ holder: string; expires_at: number }>('SELECT holder, expires_at FROM leases WHERE name = ?', [name]);
      if (row && row.holder !== holder && row.expires_at > now && holderAlive(row.holder)) return false;
      await this.db.run('UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?', [holder, now + ttlMs, name]);
      return true;
    });
  }

  async release(name: string, holder = PROCESS_HOLDER): Promise<void> {
    await this.db.run('DELETE FROM leases WHERE name = ? AND holder = ?', [name, holder]);
  }

  /**
   * Runs `fn` while holding the lease, waiting (polling every `pollMs`) up to `waitMs` for another holder to let go.
   * `ttlMs` bounds how long a crashed holder can keep others waiting. Throws when the lease stays taken.
   */
  async withLease<T>(name: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number; pollMs?: number } = {}): Promise<T> {
    const ttlMs = opts.ttlMs ?? 60_000;
    const deadline = Date.now() + (opts.waitMs ?? 65_000);
    while (!(await this.tryAcquire(name, ttlMs))) {
      if (Date.now() > deadline) throw new LeaseTimeout(name);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
    }
    try {
      return await fn();
    } finally {
      await this.release(name);
    }
  }
}

/** A lease kept alive by a heartbeat while long work runs; `release()` ends it. */
export interface HeldLease { release(): Promise<void> }

export class LeaseBusy extends Error {
  constructor(readonly lease: string) {
    super(`Another process holds the lease "${lease}".`);
  }
}

/**
 * Takes a lease for long work (an import run) and renews it every third of `ttlMs`; a holder that dies lets it
 * expire within `ttlMs`. Throws LeaseBusy when another live holder has it.
 */
export async function holdLease(leases: LeaseRepository, name: string, ttlMs = 30_000): Promise<HeldLease> {
  if (!(await leases.tryAcquire(name, ttlMs))) throw new LeaseBusy(name);
  // A failed renewal is retried by the next beat; the lease's expiry bounds what a missed one costs.
  const beat = setInterval(() => void leases.tryAcquire(name, ttlMs).catch(() => {}), Math.max(1000, Math.floor(ttlMs / 3)));
  beat.unref();
  return { release: async () => { clearInterval(beat); await leases.release(name); } };
}

export class LeaseTimeout extends Error {
  constructor(readonly lease: string) {
    super(`Another process kept the lease "${lease}" too long.`);
  }
}
