/**
 * Schedules of the sync (node-cron). The Xero status poll: one task ticks every few seconds and polls each active
 * connection whose interval has passed, so a changed `pollIntervalSeconds` setting applies without a restart. A
 * connection is never polled twice at once; `stop()` ends the task and waits for polls in flight.
 */
import { clock } from '../clock.js';
import { spendingAs, type DailyBudget } from '../xero/budget.js';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { PollReport, PullStatuses } from './pull/pull-statuses.js';
import { portalSettings } from './settings.js';

export interface StatusPollOptions {
  /** The daily Xero budget of a connection: polls stretch as it runs low and wait while it is reserved. (Default: none) */
  budgetOf?: (connectionId: number) => DailyBudget | undefined;
  /** Seconds between polls when a portal's settings name none (POLL_INTERVAL_SECONDS). (Default: 60) */
  defaultIntervalSeconds: number;
  /** Cron pattern of the tick that looks for due connections. (Default: every 5 seconds) */
  tickPattern?: string;
}

export class StatusPollSchedule {
  #task: ScheduledTask | undefined;
  readonly #lastPollAt = new Map<number, number>();
  readonly #inFlight = new Map<number, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly pull: Pick<PullStatuses, 'pollConnection'>,
    private readonly logger: Logger,
    private readonly options: StatusPollOptions,
  ) {}

  start(): void {
    if (this.#task) return;
    // https://github.com/node-cron/node-cron#readme (six fields: seconds first)
    this.#task = cron.schedule(this.options.tickPattern ?? '*/5 * * * * *', () => this.tick(), { name: 'xero-status-poll', noOverlap: true });
  }

  /** Stops ticking and waits for the polls in flight. */
  async stop(): Promise<void> {
    const task = this.#task;
    this.#task = undefined;
    if (task) await task.destroy();
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  /** When this process last started a poll of the connection (epoch ms), or undefined before the first. */
  lastPollAt(connectionId: number): number | undefined {
    return this.#lastPollAt.get(connectionId);
  }

  /** Seconds between polls of a portal's connections: its setting, else the process default. */
  async intervalSeconds(memberId: string): Promise<number> {
    return (await portalSettings(this.store, memberId)).pollIntervalSeconds ?? this.options.defaultIntervalSeconds;
  }

  /** Starts a poll of every active connection that is due; resolves once those polls end. */
  async tick(now = clock.now()): Promise<void> {
    const started: Promise<void>[] = [];
    // No new work while the database refuses writes (locked, disk full): what a poll reads could not be kept.
    if (this.store.faults.current()) return;
    for (const c of await this.store.connections.list()) {
      if (c.state !== 'active' || this.#inFlight.has(c.id)) continue;
      const last = this.#lastPollAt.get(c.id);
      const budget = this.options.budgetOf?.(c.id);
      if (budget && !budget.allows('poll')) continue; // only the pushes' reserve is left: the dashboard says until when
      const stretch = budget?.pollStretch() ?? 1;
      if (last !== undefined && now - last < (await this.intervalSeconds(c.memberId)) * 1000 * stretch) continue;
      this.#lastPollAt.set(c.id, now);
      const run = spendingAs('poll', () => this.pull.pollConnection(c.id))
        .then((r: PollReport) => {
          if (r.updated || r.failed) this.logger.info(r, 'Xero status poll wrote changes to Bitrix24');
        })
        .catch((err: unknown) => this.logger.warn({ err, connectionId: c.id }, 'Xero status poll failed; the next one will try again'))
        .finally(() => this.#inFlight.delete(c.id));
      this.#inFlight.set(c.id, run);
      started.push(run);
    }
    await Promise.all(started);
  }
}
