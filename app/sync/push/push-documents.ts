/**
 * Push documents Bitrix24 → Xero: the heart of the product, the same story for invoices and quotes.
 *
 * For a group of push jobs of one portal and one kind: remove what was deleted in Bitrix24 → load the documents →
 * skip echoes (content unchanged since the last push) → check each one → read the linked Xero documents → heal a
 * crash between send and save → resolve the customers to Xero contacts → build the Xero documents → send up to 50
 * per request, linking each one in the same transaction that records Xero's answer and checking its totals → act on
 * the stages people chose → write Xero's id, number and status back to Bitrix24. What differs per kind (endpoint,
 * payload, statuses, what a stage means) is the `DocumentKind` (invoice-kind.ts, quote-kind.ts).
 */
import { isTheDocumentSent } from './heal-lost.js';
import { representationOf, roundingNote } from '../../xero/invoice-mapper.js';
import { roundingAccountOf } from '../../xero/rounding-account.js';
import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { Decimal } from '../../money.js';
import type { Store } from '../../store/index.js';
import type { Job } from '../../store/jobs.js';
import type { Connection } from '../../store/connections.js';
import { Round, type Candidate, type PushDeps, type PushPayload, type Written } from './round.js';
import * as record from './record.js';
import { resolveCustomers } from './customers.js';
import { loadRound } from './load.js';
import { buildAll, checked, readLinked, type SendItem } from './build.js';
import { findLost } from './heal-lost.js';
import { followUp, send } from './send.js';
import { applyStageMoves } from './stage-moves.js';
import { writeBack } from './write-back.js';
import type { PortalClient, PortalClients } from '../../bitrix/portal-client.js';
import { keyOf, readDocuments, type DocumentRef } from '../../bitrix/documents.js';
import { ListLabels } from '../../bitrix/list-labels.js';
import { shownXeroId, writeBackXeroState } from '../../bitrix/write-back.js';
import { loadPipelines, pipelineEntityId } from '../../bitrix/stages.js';
import type { XeroGateway, XeroGateways } from '../../xero/gateway.js';
import { announceCustomers, knownContactIds, resolveContacts, saveContactLinks, customerKey, type ResolvedContacts } from '../../xero/contacts.js';
import { listCurrencies } from '../../xero/invoices.js';
import type { PushFailure, PushItem, PushResult, XeroDocumentState } from '../../xero/documents.js';
import type { Link, LinkFigures } from '../../store/links.js';
import { isExpectedEcho } from '../../store/link-status.js';
import type { SalesDocument } from '../document.js';
import type { DocumentKind, KindContext } from '../document-kind.js';
import type { ClaimMore, JobHandler, JobOutcome } from '../outbox.js';
import type { PortalSettings } from '../settings.js';
import { salesMapping, type SalesMapping } from '../mapping.js';
import type { OrgDataCache } from '../org-data.js';
import { isKnownDocument } from '../intake.js';
import { installedSince, madeBefore } from '../install-time.js';

export class PushDocuments<P> implements JobHandler {
  readonly batchSize = 50;
  private readonly listLabels = new ListLabels();

  constructor(
    private readonly deps: PushDeps,
    private readonly kind: DocumentKind<P>,
  ) {}

  async run(jobs: Job[], more?: ClaimMore): Promise<Map<number, JobOutcome>> {
    const memberId = jobs[0].memberId!;
    const connection = this.activeConnection(memberId);
    // The settings with the automatic tax and account matches; documents waiting for a choice are held (mapping.ts).
    const mapping = await salesMapping(this.deps.store, this.deps.orgData, memberId);
    const round = new Round(this.deps, this.kind, jobs, memberId, connection, mapping, this.listLabels);
    if (!this.kind.enabled(round.settings)) return round.outcomes; // the kind's sync is off: nothing to do
    try {
      return await this.runRound(round, mapping, more);
    } finally {
      for (const withdraw of round.announced) withdraw();
    }
  }

  private async runRound(round: Round<P>, mapping: SalesMapping, more?: ClaimMore): Promise<Map<number, JobOutcome>> {
    const { jobs, memberId, connection } = round;
    const client = this.deps.portals.for(memberId);
    // 1-3. Load the documents, remove those gone from Bitrix24, skip echoes (load.ts).
    const candidates = await loadRound(round, this.batchSize, more);
    if (candidates.length === 0) return round.outcomes;

    // 4. Check every changed document before any write; a document that cannot be sent says why.
    const ready = checked(round, candidates);

    // 5. Documents already linked: their Xero state, to update them in place while Xero allows.
    const xeroState = await readLinked(round, candidates);

    // 6. Crash healing: a document sent before whose answer was never recorded is looked up by its reference.
    const lost = await findLost(round, ready);

    // 7. Customers → Xero contacts (links, then look-ups, then one batch create).
    const contacts = await resolveCustomers(round, ready);

    // 8. Build the Xero documents.
    const items = await buildAll(round, ready, { xeroState, lost, contacts });

    // 9. Send (≤ 50 per request) and link each answer in the same transaction that records it.
    const written = await send(round, items, xeroState);

    // 10. Stage moves made by people in Bitrix24 (and, for kinds that follow it, the stage a new document starts at).
    written.push(...(await applyStageMoves(round, candidates, written, xeroState)));

    // 11. What follows elsewhere in Xero (the quote an invoice was made from becomes INVOICED).
    await followUp(round, written);

    // 12. Write Xero's id, number and status back to Bitrix24 (batched; their echoes are skipped by hash), also for
    // documents an earlier write-back missed; a failed write-back is tried again.
    await writeBack(round, candidates, written, xeroState);
    return round.outcomes;
  }

  private kindContext(round: Round<P>): KindContext {
    return round.kindContext;
  }

  private activeConnection(memberId: string): Connection {
    const c = this.deps.store.connections.listForPortal(memberId).find((x) => x.state !== 'disconnected');
    if (!c) throw new AppError('XERO.NOT_CONNECTED', 'Xero is not connected yet. A portal administrator can connect it in the Xero connector app.', 409);
    if (c.state === 'needs_reconnect') throw new AppError('XERO.NEEDS_RECONNECT', `${c.tenantName ?? 'Xero'} needs reconnecting by a portal admin.`, 409);
    return c;
  }

}
