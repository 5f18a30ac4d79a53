/**
 * Push documents Bitrix24 → Xero: the heart of the product, the same story for invoices and quotes.
 *
 * A round of push jobs of one portal and one kind (round.ts):
 *  1. load the documents from Bitrix24, remove in Xero those gone, and decide what changed — echoes of our own
 *     write-backs are done without a Xero call (load.ts, remove.ts);
 *  2. check each changed document and read what Xero has of the linked ones (build.ts);
 *  3. find what a send whose answer was lost created (heal-lost.ts) and resolve the customers (customers.ts);
 *  4. build the Xero payloads (build.ts) and send them, exactly once: marked before, each answer linked in the
 *     transaction that records it (send.ts);
 *  5. act on the stages people chose (stage-moves.ts) and on what follows elsewhere in Xero (send.ts);
 *  6. write Xero's id, number and status back to Bitrix24 (write-back.ts).
 * Every store write, with its log line, is in record.ts; the words are in messages.ts. What differs per kind
 * (endpoint, payload, statuses, what a stage means) is the `DocumentKind` (invoice-kind.ts, quote-kind.ts).
 */
import { PipelineCache } from '../../bitrix/stages.js';
import { AppError } from '../../errors.js';
import { ListLabels } from '../../bitrix/list-labels.js';
import type { Connection } from '../../store/connections.js';
import type { Job } from '../../store/jobs.js';
import type { DocumentKind } from '../document-kind.js';
import { salesMapping } from '../setup/mapping.js';
import type { ClaimMore, JobHandler, JobOutcome } from '../outbox.js';
import { buildAll, checked, readLinked } from './build.js';
import { resolveCustomers } from './customers.js';
import { findLost } from './heal-lost.js';
import { loadRound } from './load.js';
import { Round, type PushDeps } from './round.js';
import { followUp, send } from './send.js';
import { applyStageMoves } from './stage-moves.js';
import { writeBack } from './write-back.js';

export class PushDocuments<P> implements JobHandler {
  /** Documents per Xero request. */
  readonly batchSize = 50;
  private readonly listLabels = new ListLabels();
  private readonly pipelines = new PipelineCache();

  constructor(
    private readonly deps: PushDeps,
    private readonly kind: DocumentKind<P>,
  ) {}

  async run(jobs: Job[], more?: ClaimMore): Promise<Map<number, JobOutcome>> {
    const memberId = jobs[0].memberId!;
    const connection = await this.connectionOf(memberId);
    // The settings with the automatic tax and account matches; documents waiting for a choice are held (mapping.ts).
    const mapping = await salesMapping(this.deps.store, this.deps.orgData, memberId);
    const round = new Round(this.deps, this.kind, jobs, memberId, connection, mapping, this.listLabels, this.pipelines);
    if (!this.kind.enabled(round.settings)) return round.outcomes; // the kind's sync is off: nothing to do
    try {
      await this.push(round, more);
      return round.outcomes;
    } finally {
      for (const withdraw of round.announced) withdraw();
    }
  }

  private async push(round: Round<P>, more?: ClaimMore): Promise<void> {
    const candidates = await loadRound(round, this.batchSize, more);
    if (candidates.length === 0) return;
    const ready = await checked(round, candidates);
    const xeroState = await readLinked(round, candidates);
    const lost = await findLost(round, ready);
    const contacts = await resolveCustomers(round, ready);
    const items = await buildAll(round, ready, { xeroState, lost, contacts });
    const written = await send(round, items, xeroState);
    written.push(...(await applyStageMoves(round, candidates, written, xeroState)));
    await followUp(round, written);
    await writeBack(round, candidates, written, xeroState);
  }

  /** The portal's Xero connection: the first not disconnected, which must not need reconnecting. */
  private async connectionOf(memberId: string): Promise<Connection> {
    const c = await this.deps.store.connections.current(memberId);
    if (!c) throw new AppError('XERO.NOT_CONNECTED', 'Xero is not connected yet. A portal administrator can connect it in the Xero connector app.', 409);
    if (c.state === 'needs_reconnect') throw new AppError('XERO.NEEDS_RECONNECT', `${c.tenantName ?? 'Xero'} needs reconnecting by a portal admin.`, 409);
    return c;
  }
}
