/**
 * Xero → Bitrix24: statuses and payments come back to the linked documents, the same story for invoices and quotes.
 *
 * A poll of a connection reads, per kind, what changed in Xero since its watermark (one `GET /Invoices` with
 * If-Modified-Since for a quiet organisation, whatever the number of links; quotes the same way when quotes are
 * linked; the kind's `pull.changedSince`); a batch of Xero webhook jobs reads the invoices they name with one
 * `GET /Invoices?IDs=` per 50. Then a round (round.ts) over what was read:
 *  1. keep the linked documents whose Xero status or amount paid moved (changed.ts);
 *  2. read their current stage and pipeline in Bitrix24; a document whose stage or pipeline could not be read waits
 *     for the next round, unrecorded (current.ts);
 *  3. choose the target stage — the admin's map, else the pipeline's stage semantics (the kind's `pull.stageOf`), never
 *     back past a stage a person chose — and the sync fields, payment comment and, once, the "Paid in Xero" trigger
 *     (plan.ts);
 *  4. write them, a document's commands together in batches of ≤ 50 (write.ts, bitrix/write-back.ts);
 *  5. remember each write on its link as the expected echo, and log it in words (record.ts, messages.ts).
 * The watermark moves only over what was read and written: a document that failed is read again next poll
 * (watermark.ts).
 */
import { clock } from '../../clock.js';
import { mapEach } from '../../async-lists.js';
import { AppError } from '../../errors.js';
import { PipelineCache } from '../../bitrix/stages.js';
import type { Job } from '../../store/jobs.js';
import type { Connection } from '../../store/connections.js';
import { invoicesByIds, type XeroChange } from '../../xero/changes.js';
import type { DocumentKind } from '../document-kind.js';
import { invoiceKind } from '../invoice-kind.js';
import { quoteKind } from '../quote-kind.js';
import { outcomeOf, type JobHandler, type JobOutcome } from '../outbox.js';
import { changedLinks } from './changed.js';
import { readCurrent } from './current.js';
import { planWrite } from './plan.js';
import { PullRound, type PullDeps, type RoundReport } from './round.js';
import { nextWatermark, saveWatermark, WATERMARK_OVERLAP_MS, watermarkOf } from './watermark.js';
import { writeAll } from './write.js';

/** The kinds the status poll reads, in order. */
const KINDS: readonly DocumentKind[] = [invoiceKind, quoteKind];

export interface PollReport {
  connectionId: number;
  /** Xero API calls the poll made (what the bench counts). */
  xeroCalls: number;
  /** Changed Xero documents read (linked or not). */
  read: number;
  /** Linked Bitrix24 documents written. */
  updated: number;
  /** Linked documents that failed this round (read again next time). */
  failed: number;
}

export class PullStatuses {
  readonly #pipelines = new PipelineCache();
  /** One apply at a time per connection, so a poll and a webhook never write the same change twice. */
  readonly #locks = new Map<number, Promise<unknown>>();

  constructor(private readonly deps: PullDeps) {}

  /** The outbox handler of `xero-webhook` jobs: up to 50 invoices per handler run, one `GET /Invoices?IDs=`. */
  readonly webhookHandler: JobHandler = { batchSize: 50, run: (jobs) => this.runWebhookJobs(jobs) };

  /**
   * One poll of a connection: each kind's documents (when any are linked) changed since its watermark → linked
   * documents updated → watermark moved. Returns the count of Xero calls made (for the schedule and the bench).
   */
  async pollConnection(connectionId: number): Promise<PollReport> {
    const report: PollReport = { connectionId, xeroCalls: 0, read: 0, updated: 0, failed: 0 };
    const { store } = this.deps;
    const connection = await store.connections.get(connectionId);
    if (!connection || connection.state !== 'active') return report;
    for (const kind of KINDS) {
      const links = await store.links.span(connectionId, kind.xeroType);
      if (links.count === 0) continue; // nothing linked: nothing to ask Xero
      const base = await watermarkOf(store, connectionId, kind.xeroType) ?? links.oldestSyncedAt ?? clock.now();
      const read = await kind.pull.changedSince(this.deps.gateways.for(connectionId), new Date(base - WATERMARK_OVERLAP_MS));
      report.xeroCalls += read.calls;
      report.read += read.changes.length;
      const applied = await this.exclusive(connectionId, () => this.apply(connection, kind, read.changes));
      report.updated += applied.updated;
      report.failed += applied.failedIds.size;
      await saveWatermark(store, connectionId, kind.xeroType, nextWatermark(base, read, applied.failedIds));
    }
    return report;
  }

  /** Webhook jobs of one portal: grouped by connection, their invoices read by id and applied like a poll. */
  private async runWebhookJobs(jobs: Job[]): Promise<Map<number, JobOutcome>> {
    const outcomes = new Map<number, JobOutcome>();
    const byConnection = new Map<number, Job<{ connectionId: number; invoiceId: string }>[]>();
    for (const job of jobs as Job<{ connectionId: number; invoiceId: string }>[]) {
      const id = Number(job.payload?.connectionId);
      byConnection.set(id, [...(byConnection.get(id) ?? []), job]);
    }
    for (const [connectionId, group] of byConnection) {
      const connection = await this.deps.store.connections.get(connectionId);
      if (!connection || connection.state === 'disconnected') continue; // nothing to read any more: done
      try {
        if (connection.state !== 'active') throw new AppError('XERO.NEEDS_RECONNECT', 'Xero needs reconnecting before statuses can be read.', 409);
        const ids = group.map((j) => String(j.payload.invoiceId));
        const read = await invoicesByIds(this.deps.gateways.for(connectionId), connection.tenantId, ids);
        const applied = await this.exclusive(connectionId, () => this.apply(connection, invoiceKind, read.changes));
        for (const job of group) {
          if (applied.failedIds.has(String(job.payload.invoiceId).toLowerCase())) {
            outcomes.set(job.id, { kind: 'retry', code: 'B24.WRITE_FAILED', message: 'Bitrix24 did not take the status update; it will be tried again.' });
          }
        }
      } catch (err) {
        const outcome = outcomeOf(err);
        for (const job of group) outcomes.set(job.id, outcome);
      }
    }
    return outcomes;
  }

  /** The story: brings the linked documents of `changes` up to date in Bitrix24. */
  private async apply(connection: Connection, kind: DocumentKind, changes: XeroChange[]): Promise<RoundReport> {
    const round = new PullRound(this.deps, connection, kind, this.#pipelines);
    const pending = await changedLinks(round, changes);
    if (pending.length === 0) return round.report;
    const current = await readCurrent(round, pending);
    await writeAll(round, await mapEach(current, (c) => planWrite(round, c)));
    return round.report;
  }

  private async exclusive<T>(connectionId: number, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(connectionId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    this.#locks.set(connectionId, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(connectionId) === run) this.#locks.delete(connectionId);
    }
  }
}
