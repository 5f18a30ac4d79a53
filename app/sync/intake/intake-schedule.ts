/**
 * The intake safety nets on a schedule (node-cron): drain each portal's offline event queue every minute, and
 * sweep for missed documents at start and every ten minutes. Both only queue jobs; the outbox does the work.
 * Once a day, retention: finished jobs and old activity are deleted, expired Xero consent steps too, and portals
 * uninstalled with CLEAN whose grace period ended are purged.
 */
import { clock } from '../../clock.js';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/index.js';
import type { Outbox } from '../outbox.js';

/** Days records are kept: finished jobs (dashboard, support) and activity (the card's history). */
export interface Retention { jobDays: number; activityDays: number }
export const DEFAULT_RETENTION: Retention = { jobDays: 30, activityDays: 180 };

export class IntakeSchedule {
  readonly #tasks: ScheduledTask[] = [];

  constructor(
    private readonly store: Store,
    private readonly outbox: Outbox,
    private readonly logger: Logger,
    private readonly retention: Retention = DEFAULT_RETENTION,
  ) {}

  async start(): Promise<void> {
    await this.queue('reconcile');
    this.#tasks.push(cron.schedule('* * * * *', () => void this.queue('drain-offline'), { name: 'drain-offline' }));
    this.#tasks.push(cron.schedule('*/10 * * * *', () => void this.queue('reconcile'), { name: 'reconcile' }));
    this.#tasks.push(cron.schedule('17 3 * * *', () => this.housekeeping(), { name: 'retention' }));
  }

  /**
   * Deletes finished jobs and activity older than the retention settings, expired consent steps, event tallies older
   * than two days (the dashboard shows the last hour), and portals due a purge.
   */
  async housekeeping(now = clock.now()): Promise<{ jobs: number; activity: number; consents: number; eventTallies: number; portals: number }> {
    const day = 24 * 60 * 60_000;
    const removed = (await this.store.transaction(async () => ({
      jobs: (await this.store.jobs.purgeFinished(now - this.retention.jobDays * day)),
      activity: (await this.store.activity.purgeOlderThan(now - this.retention.activityDays * day)),
      consents: (await this.store.consents.purgeExpired(now)),
      eventTallies: (await this.store.eventTallies.purgeOlderThan(now - 2 * day)),
      portals: (await this.store.portals.purgeDue(now)).length,
    })));
    this.logger.info(removed, 'retention: old records deleted');
    return removed;
  }

  stop(): void {
    for (const t of this.#tasks.splice(0)) void t.stop();
  }

  /** Queues one job of `kind` per installed portal (coalesced with any already waiting). */
  async queue(kind: 'drain-offline' | 'reconcile'): Promise<void> {
    try {
      const portals = (await this.store.portals.list()).filter((p) => p.state === 'installed');
      await this.store.transaction(async () => {
        for (const p of portals) await this.store.jobs.enqueue({ memberId: p.memberId, kind, key: `${kind}:${p.memberId}`, payload: { reason: 'schedule' } });
      });
      if (portals.length) this.outbox.wake();
    } catch (err) {
      if (!this.store.faults.note(err)) this.logger.error({ err, kind }, 'could not queue scheduled work');
    }
  }
}
