/**
 * Repository of leases: short locks shared by every process on the same database (the connector and the
 * `npm run import` command line). A lease is taken in one `BEGIN IMMEDIATE` statement, so two processes can never
 * both hold it; it ends when released or when `expires_at` passes (a crashed holder frees it by time).
 */
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

/** This process's name in the `holder` column. */
export const PROCESS_HOLDER = `${process.pid}:${randomUUID()}`;

/**
 * Whether the process named by a holder still runs. Every process sharing the SQLite file runs on this machine (the
 * file is local), so a holder whose pid is gone crashed, and its lease is free without waiting for it to expire.
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
  constructor(private readonly db: Db) {}

  /** Takes the lease when it is free, expired, or already ours; true when taken. */
  tryAcquire(name: string, ttlMs: number, holder = PROCESS_HOLDER, now = Date.now()): boolean {
    const tx = this.db.transaction(() => {
      const row = this.db.prepare('SELECT holder, expires_at FROM leases WHERE name = ?').get(name) as { holder: string; expires_at: number } | undefined;
      if (row && row.holder !== holder && row.expires_at > now && holderAlive(row.holder)) return false;
      this.db
        .prepare(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
                  ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`)
        .run(name, holder, now + ttlMs);
      return true;
    });
    return tx.immediate();
  }

  release(name: string, holder = PROCESS_HOLDER): void {
    this.db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?').run(name, holder);
  }

  /**
   * Runs `fn` while holding the lease, waiting (polling every `pollMs`) up to `waitMs` for another holder to let go.
   * `ttlMs` bounds how long a crashed holder can keep others waiting. Throws when the lease stays taken.
   */
  async withLease<T>(name: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number; pollMs?: number } = {}): Promise<T> {
    const ttlMs = opts.ttlMs ?? 60_000;
    const deadline = Date.now() + (opts.waitMs ?? 65_000);
    while (!this.tryAcquire(name, ttlMs)) {
      if (Date.now() > deadline) throw new LeaseTimeout(name);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
    }
    try {
      return await fn();
    } finally {
      this.release(name);
    }
  }
}

/** A lease kept alive by a heartbeat while long work runs; `release()` ends it. */
export interface HeldLease { release(): void }

export class LeaseBusy extends Error {
  constructor(readonly lease: string) {
    super(`Another process holds the lease "${lease}".`);
  }
}

/**
 * Takes a lease for long work (an import run) and renews it every third of `ttlMs`; a holder that dies lets it
 * expire within `ttlMs`. Throws LeaseBusy when another live holder has it.
 */
export function holdLease(leases: LeaseRepository, name: string, ttlMs = 30_000): HeldLease {
  if (!leases.tryAcquire(name, ttlMs)) throw new LeaseBusy(name);
  const beat = setInterval(() => leases.tryAcquire(name, ttlMs), Math.max(1000, Math.floor(ttlMs / 3)));
  beat.unref();
  return { release: () => { clearInterval(beat); leases.release(name); } };
}

export class LeaseTimeout extends Error {
  constructor(readonly lease: string) {
    super(`Another process kept the lease "${lease}" too long.`);
  }
}
