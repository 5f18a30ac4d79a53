/**
 * Push invoices Bitrix24 → Xero: the heart of the product.
 *
 * For a group of push jobs of one portal: load the documents → skip echoes (content unchanged since the last
 * push) → resolve the customers to Xero contacts → build the Xero invoices → send up to 50 per request →
 * link each one in the same transaction that records Xero's answer → check the totals → write Xero's id,
 * number, status and amount due back to Bitrix24 → log. Deleted documents delete the Xero draft or void it.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { Decimal } from '../money.js';
import type { Store } from '../store/index.js';
import type { Job } from '../store/jobs.js';
import type { Connection } from '../store/connections.js';
import type { PortalClients } from '../bitrix/portal-client.js';
import { keyOf, readDocuments, type DocumentRef } from '../bitrix/documents.js';
import { writeBackXeroState } from '../bitrix/write-back.js';
import type { XeroGateways } from '../xero/gateway.js';
import { knownContactIds, resolveContacts, saveContactLinks, customerKey } from '../xero/contacts.js';
import { toXeroInvoice } from '../xero/invoice-mapper.js';
import {
  approveInvoice, deleteOrVoidInvoice, findInvoicesByReference, getInvoices, listCurrencies, pushInvoices,
  type PushItem, type PushResult, type XeroInvoiceState,
} from '../xero/invoices.js';
import { loadPipelines, pipelineEntityId, pipelineKey, semanticDefaults } from '../bitrix/stages.js';
import type { Link } from '../store/links.js';
import { isExpectedEcho } from '../store/link-status.js';
import type { SalesDocument } from './document.js';
import type { JobHandler, JobOutcome } from './outbox.js';
import { portalSettings, type PortalSettings } from './settings.js';
import { salesMapping } from './mapping.js';
import type { OrgDataCache } from './org-data.js';

export interface PushPayload {
  type: 'smart_invoice' | 'invoice';
  id: string;
  deleted?: boolean;
}

/** Xero statuses in which Bitrix24 edits still reach the Xero invoice (xero-api.md §4). */
const EDITABLE = new Set(['DRAFT', 'SUBMITTED']);
/** How long the organisation's currency list is trusted. */
const CURRENCY_TTL_MS = 60 * 60_000;

/** A document read from Bitrix24 that needs work: new or changed content, or a stage a person chose. */
interface Candidate {
  doc: SalesDocument;
  hash: string;
  job: Job;
  link: Link | undefined;
  contentChanged: boolean;
  stageMoved: boolean;
}

export interface PushDeps {
  store: Store;
  portals: PortalClients;
  gateways: XeroGateways;
  logger: Logger;
  /** The organisation's lists, for the automatic tax and account matches. */
  orgData: OrgDataCache;
}

export class PushInvoices implements JobHandler {
  readonly batchSize = 50;
  readonly #currencies = new Map<number, { codes: Promise<string[]>; at: number }>();

  constructor(private readonly deps: PushDeps) {}

  async run(jobs: Job[]): Promise<Map<number, JobOutcome>> {
    const outcomes = new Map<number, JobOutcome>();
    const memberId = jobs[0].memberId!;
    const connection = this.activeConnection(memberId);
    const byKey = new Map(jobs.map((j) => [keyOf(j.payload as PushPayload), j]));
    const settle = (key: string, o: JobOutcome) => {
      const job = byKey.get(key);
      if (job) outcomes.set(job.id, o);
    };

    // 1. Deleted documents: delete the Xero draft, void an approved unpaid invoice (their Xero state read at once).
    const deletions = jobs.filter((j) => (j.payload as PushPayload).deleted);
    const removed = await this.linkedStates(memberId, connection, deletions.map((j) => j.payload as PushPayload));
    for (const job of deletions) outcomes.set(job.id, await this.removeFromXero(memberId, connection, job.payload as PushPayload, removed));

    // 2. Load the documents (one Bitrix24 batch per 25).
    const refs: DocumentRef[] = jobs.filter((j) => !(j.payload as PushPayload).deleted).map((j) => ({ type: (j.payload as PushPayload).type, id: (j.payload as PushPayload).id }));
    if (refs.length === 0) return outcomes;
    const client = this.deps.portals.for(memberId);
    const read = await readDocuments(client, refs, {
      accountCodePropertyId: this.deps.store.settings.get<number>(memberId, 'b24.accountCodePropertyId') ?? null,
    });
    // The settings with the automatic tax and account matches (mapping.ts); documents waiting for a choice are held.
    const mapping = await salesMapping(this.deps.store, this.deps.orgData, memberId, [...read.values()].flatMap((r) => (r.ok ? [r.doc] : [])));
    const settings = mapping.settings;

    const candidates: Candidate[] = [];
    for (const ref of refs) {
      const key = keyOf(ref);
      const r = read.get(key);
      if (!r) continue;
      if (!r.ok) {
        // A document gone from Bitrix24 before we read it is handled like a deletion.
        if (r.failure.code === 'SYNC.DOCUMENT_NOT_FOUND') {
          const gone = { ...ref, type: ref.type as PushPayload['type'], deleted: true };
          settle(key, await this.removeFromXero(memberId, connection, gone, await this.linkedStates(memberId, connection, [gone])));
        }
        else settle(key, { kind: 'attention', code: r.failure.code, message: r.failure.message });
        continue;
      }
      const hash = contentHash(r.doc, settings);
      const found = this.deps.store.links.find(memberId, ref.type, ref.id);
      const link = found && found.connectionId === connection.id ? found : undefined;
      const contentChanged = !link || link.contentHash !== hash;
      const stageMoved = link ? this.stageMoved(memberId, link, r.doc) : false;
      // 3. Echo: nothing changed since the last push (e.g. our own write-back) → no Xero call.
      if (!contentChanged && !stageMoved) {
        settle(key, { kind: 'done' });
        continue;
      }
      candidates.push({ doc: r.doc, hash, job: byKey.get(key)!, link, contentChanged, stageMoved });
    }
    if (candidates.length === 0) return outcomes;

    const gateway = this.deps.gateways.for(connection.id);
    const tenantId = connection.tenantId;

    // 4. Check every changed document before any write; a document that cannot be sent says why.
    const ready: Candidate[] = [];
    for (const c of candidates.filter((x) => x.contentChanged)) {
      const problem = precheck(c.doc) ?? mapping.holdOf(c.doc);
      if (problem) settle(keyOf(c.doc), { kind: 'attention', ...problem });
      else ready.push(c);
    }

    // 5. Documents already linked: read their Xero state (one call per 50) to update drafts in place.
    const linked = new Map(candidates.flatMap((c) => (c.link ? [[keyOf(c.doc), c.link] as const] : [])));
    const xeroState = linked.size ? await getInvoices(gateway, tenantId, [...linked.values()].map((l) => l.xeroId)) : new Map<string, XeroInvoiceState>();

    // 6. Crash healing: a document sent before whose answer was never recorded is looked up by its number.
    const unlinkedRetried = ready.filter((c) => !c.link && this.deps.store.links.wasSent(memberId, c.doc.type, c.doc.id));
    const found = unlinkedRetried.length ? await findInvoicesByReference(gateway, tenantId, unlinkedRetried.map((c) => c.doc.number)) : new Map<string, XeroInvoiceState[]>();

    // 7. Customers → Xero contacts (links, then look-ups, then one batch create).
    const customers = uniqueBy(ready.flatMap((c) => (c.doc.customer ? [c.doc.customer] : [])), customerKey);
    const contacts = await resolveContacts(gateway, tenantId, customers, knownContactIds(this.deps.store, memberId, customers));
    saveContactLinks(this.deps.store, memberId, connection.id, contacts.links);
    const currencies = await this.currencies(connection.id, () => listCurrencies(gateway, tenantId));

    // 8. Build the Xero invoices.
    const items: (PushItem & { c: Candidate })[] = [];
    for (const c of ready) {
      const key = keyOf(c.doc);
      const cKey = customerKey(c.doc.customer!);
      const contactId = contacts.contactIds.get(cKey);
      if (!contactId) {
        const f = contacts.failures.get(cKey);
        settle(key, { kind: 'attention', code: f?.code ?? 'XERO.CONTACT_FAILED', message: f?.message ?? `The customer "${c.doc.customer!.name}" could not be found or created in Xero.` });
        continue;
      }
      const link = linked.get(key);
      let existing: { invoiceId: string; lineItemIds: string[] } | undefined;
      if (link) {
        const state = xeroState.get(link.xeroId.toLowerCase());
        if (state && !EDITABLE.has(state.status)) {
          this.noteNotEditable(memberId, c.doc, state, c.hash, connection.id);
          settle(key, { kind: 'done' });
          continue;
        }
        if (state) existing = { invoiceId: state.invoiceId, lineItemIds: state.lineItemIds };
      } else {
        // The document number is ours alone: an invoice with it is the one sent before the crash, whatever its
        // contact (the update below sets the contact again).
        const healed = (found.get(c.doc.number) ?? [])[0];
        if (healed) {
          if (!EDITABLE.has(healed.status)) {
            this.link(memberId, connection, c.doc, c.hash, healed);
            settle(key, { kind: 'done' });
            continue;
          }
          existing = { invoiceId: healed.invoiceId, lineItemIds: healed.lineItemIds };
        }
      }
      try {
        const invoice = toXeroInvoice(c.doc, { contactId, settings, currencies, existing });
        // The key names the content and whether it updates an existing invoice, so a healed document is a new
        // request for Xero rather than a replay of the lost one with another body.
        items.push({ key, invoice, idempotencyKey: `${key}:${c.hash}:${existing?.invoiceId ?? 'new'}`, c });
      } catch (err) {
        if (err instanceof AppError) settle(key, { kind: 'attention', code: err.code, message: err.message });
        else throw err;
      }
    }

    // 9. Send (≤ 50 per request) and link each answer in the same transaction that records it.
    this.deps.store.links.markSent(memberId, items.filter((i) => !i.invoice.invoiceID).map((i) => ({ b24Type: i.c.doc.type, b24Id: i.c.doc.id })));
    const results = items.length ? await pushInvoices(gateway, tenantId, items) : new Map<string, PushResult>();
    const written: { doc: SalesDocument; state: XeroInvoiceState }[] = [];
    for (const item of items) {
      const r = results.get(item.key);
      if (!r) continue;
      if (!r.ok) {
        // Refused by Xero: nothing was created, so no look-up is needed next time. A transient failure may have
        // reached Xero: the mark stays.
        if (r.permanent && !item.invoice.invoiceID) this.deps.store.links.clearSent(memberId, item.c.doc.type, item.c.doc.id);
        settle(item.key, r.permanent ? { kind: 'attention', code: r.code, message: r.message } : { kind: 'retry', code: r.code, message: r.message });
        continue;
      }
      const state: XeroInvoiceState = {
        invoiceId: r.invoiceId, invoiceNumber: r.invoiceNumber, reference: item.c.doc.number, status: r.status, total: r.total,
        amountDue: r.amountDue, amountPaid: 0, currencyCode: item.c.doc.currency, contactId: null, lineItemIds: r.lineItemIds,
        updatedDateUTC: r.updatedDateUTC,
      };
      this.link(memberId, connection, item.c.doc, item.c.hash, state);
      written.push({ doc: item.c.doc, state });
      xeroState.set(state.invoiceId.toLowerCase(), state);
      settle(item.key, { kind: 'done' });
    }

    // 10. Stage moves made by people in Bitrix24: approve, or delete/void, in Xero.
    const moves = candidates.filter((c) => c.stageMoved && c.link && outcomes.get(c.job.id)?.kind !== 'attention');
    if (moves.length) {
      for (const m of await this.applyStageMoves(memberId, connection, moves, xeroState, settings)) {
        written.push(m);
        settle(keyOf(m.doc), { kind: 'done' });
      }
      for (const m of moves) if (!outcomes.has(m.job.id)) settle(keyOf(m.doc), { kind: 'done' });
    }

    // 11. Write Xero's id, number, status and amount due back to Bitrix24 (batched; their echoes are skipped by hash).
    if (written.length) {
      try {
        await writeBackXeroState(client, written);
      } catch (err) {
        this.deps.logger.warn({ err, memberId }, 'write-back to Bitrix24 failed; Xero has the invoices');
        this.deps.store.activity.record({ memberId, level: 'warn', kind: 'b24.write_back_failed', message: `Xero numbers could not be written back to Bitrix24: ${(err as Error).message}` });
      }
    }
    return outcomes;
  }

  /**
   * True when a person moved the document to another stage since the push last saw it. Stages the connector
   * wrote itself (its expected echoes) are not moves; a link seen for the first time just records its stage.
   */
  private stageMoved(memberId: string, link: Link, doc: SalesDocument): boolean {
    const { store } = this.deps;
    if (!doc.stageId || doc.stageId === link.b24StageId) return false;
    if (link.b24StageId === null || isExpectedEcho(store, memberId, doc.type, doc.id, doc.stageId)) {
      store.links.setB24Stage(link.id, doc.stageId);
      return false;
    }
    return true;
  }

  /**
   * A failure stage deletes the Xero draft or voids the approved unpaid invoice; the approve stage approves a draft
   * when the setting is on. What Xero does not allow is refused in words on the card and in the log, and not retried:
   * the stage is recorded as seen either way.
   */
  private async applyStageMoves(
    memberId: string,
    connection: Connection,
    moves: Candidate[],
    xeroState: Map<string, XeroInvoiceState>,
    settings: PortalSettings,
  ): Promise<{ doc: SalesDocument; state: XeroInvoiceState }[]> {
    const { store } = this.deps;
    const gateway = this.deps.gateways.for(connection.id);
    const pipelines = await loadPipelines(this.deps.portals.for(memberId), moves.map((m) => pipelineEntityId(m.doc.type, m.doc.categoryId)));
    const changed: { doc: SalesDocument; state: XeroInvoiceState }[] = [];
    for (const { doc, link } of moves) {
      const subject = `${doc.type}:${doc.id}`;
      const pipeline = pipelines.get(pipelineEntityId(doc.type, doc.categoryId));
      const stage = pipeline?.stages.find((x) => x.id === doc.stageId);
      const state = xeroState.get(link!.xeroId.toLowerCase());
      const status = state?.status ?? link!.xeroStatus ?? 'DRAFT';
      const approveStage = pipeline ? settings.approveStages[pipelineKey(doc.type, doc.categoryId)] ?? semanticDefaults(pipeline).sent : undefined;
      try {
        let next: string | null = null;
        if (stage?.semantics === 'F') {
          if (status === 'DELETED' || status === 'VOIDED') next = null;
          else if (status === 'PAID') {
            throw new AppError('SYNC.CANNOT_REMOVE_INVOICE', `Invoice ${link!.xeroNumber} is paid in Xero, so moving it to "${stage.name}" cannot void it. Remove the payment in Xero first, or credit the invoice there.`, 409);
          } else next = (await deleteOrVoidInvoice(gateway, connection.tenantId, link!.xeroId, status)).status;
        } else if (settings.approveInXero && doc.stageId === approveStage && (status === 'DRAFT' || status === 'SUBMITTED')) {
          next = (await approveInvoice(gateway, connection.tenantId, link!.xeroId)).status;
        }
        store.transaction(() => {
          store.links.setB24Stage(link!.id, doc.stageId);
          if (next) {
            store.links.save({ ...link!, xeroStatus: next });
            store.activity.record({
              memberId, level: 'info', kind: 'invoice.stage_action', subject,
              message: `Invoice ${link!.xeroNumber} was ${next === 'AUTHORISED' ? 'approved' : next === 'VOIDED' ? 'voided' : 'deleted'} in Xero because it was moved to "${stage?.name ?? doc.stageId}" in Bitrix24.`,
            });
          }
        });
        if (next && state) changed.push({ doc, state: { ...state, status: next } });
      } catch (err) {
        if (!(err instanceof AppError) || (err as { transient?: boolean }).transient) throw err;
        store.transaction(() => {
          store.links.setB24Stage(link!.id, doc.stageId);
          store.activity.record({ memberId, level: 'error', kind: 'invoice.stage_refused', subject, message: err.message });
        });
      }
    }
    return changed;
  }

  private activeConnection(memberId: string): Connection {
    const c = this.deps.store.connections.listForPortal(memberId).find((x) => x.state !== 'disconnected');
    if (!c) throw new AppError('XERO.NOT_CONNECTED', 'Xero is not connected yet. A portal administrator can connect it in the Xero connector app.', 409);
    if (c.state === 'needs_reconnect') throw new AppError('XERO.NEEDS_RECONNECT', `${c.tenantName ?? 'Xero'} needs reconnecting by a portal admin.`, 409);
    return c;
  }

  /** The link is written with Xero's answer, in one transaction, with the log line. */
  private link(memberId: string, connection: Connection, doc: SalesDocument, hash: string, state: XeroInvoiceState): void {
    const { store } = this.deps;
    store.transaction(() => {
      const previous = store.links.find(memberId, doc.type, doc.id);
      store.links.clearSent(memberId, doc.type, doc.id);
      store.links.save({
        memberId, connectionId: connection.id, b24Type: doc.type, b24Id: doc.id, xeroType: 'invoice', xeroId: state.invoiceId,
        xeroNumber: state.invoiceNumber, contentHash: hash, xeroStatus: state.status,
        xeroUpdatedAt: state.updatedDateUTC ? state.updatedDateUTC.getTime() : null, b24StageId: doc.stageId,
      });
      const subject = `${doc.type}:${doc.id}`;
      store.activity.record({
        memberId, level: 'info', kind: previous ? 'invoice.updated' : 'invoice.created', subject,
        message: previous
          ? `Invoice ${doc.number} updated in Xero as ${state.invoiceNumber} (${state.status}).`
          : `Invoice ${doc.number} sent to Xero as draft ${state.invoiceNumber}.`,
        details: { xeroId: state.invoiceId, total: state.total },
      });
      const diff = Decimal.of(state.total).sub(doc.total).abs();
      if (diff.cmp('0.01') > 0) {
        store.activity.record({
          memberId, level: 'warn', kind: 'invoice.total_mismatch', subject,
          message: `Totals differ for invoice ${doc.number}: Bitrix24 ${doc.total.toFixed(2)} ${doc.currency}, Xero ${Decimal.of(state.total).toFixed(2)} ${doc.currency}. Check the rows' prices, discounts and VAT rates.`,
          details: { bitrix24: doc.total.toFixed(2), xero: Decimal.of(state.total).toFixed(2) },
        });
      }
    });
  }

  private noteNotEditable(memberId: string, doc: SalesDocument, state: XeroInvoiceState, hash: string, connectionId: number): void {
    const { store } = this.deps;
    store.transaction(() => {
      const link = store.links.find(memberId, doc.type, doc.id)!;
      store.links.save({ ...link, connectionId, contentHash: hash, xeroStatus: state.status });
      store.activity.record({
        memberId, level: 'warn', kind: 'invoice.not_editable', subject: `${doc.type}:${doc.id}`,
        message: `Changes to invoice ${doc.number} were not sent: it is ${state.status} in Xero, where only drafts can be edited. Change it in Xero, or void it there and create a new invoice.`,
      });
    });
  }

  /** The Xero state of the linked invoices of `refs`, in one read per 50. */
  private async linkedStates(memberId: string, connection: Connection, refs: PushPayload[]): Promise<Map<string, XeroInvoiceState>> {
    const ids = refs.flatMap((r) => {
      const link = this.deps.store.links.find(memberId, r.type, r.id);
      return link && link.connectionId === connection.id ? [link.xeroId] : [];
    });
    return ids.length ? getInvoices(this.deps.gateways.for(connection.id), connection.tenantId, ids) : new Map();
  }

  private async removeFromXero(memberId: string, connection: Connection, ref: PushPayload, states: Map<string, XeroInvoiceState>): Promise<JobOutcome> {
    const { store } = this.deps;
    const link = store.links.find(memberId, ref.type, ref.id);
    if (!link || link.connectionId !== connection.id) return { kind: 'done' };
    const settings = portalSettings(store, memberId);
    const gateway = this.deps.gateways.for(connection.id);
    const state = states.get(link.xeroId.toLowerCase());
    const subject = `${ref.type}:${ref.id}`;
    if (!state || state.status === 'DELETED' || state.status === 'VOIDED') {
      store.links.save({ ...link, xeroStatus: state?.status ?? 'DELETED' });
      return { kind: 'done' };
    }
    if (state.status === 'AUTHORISED' && !settings.voidOnDelete) {
      store.activity.record({ memberId, level: 'warn', kind: 'invoice.kept', subject, message: `Invoice ${link.xeroNumber} was deleted in Bitrix24 but stays approved in Xero (voiding on delete is off in the settings).` });
      return { kind: 'done' };
    }
    try {
      const { status } = await deleteOrVoidInvoice(gateway, connection.tenantId, link.xeroId, state.status);
      store.transaction(() => {
        store.links.save({ ...link, xeroStatus: status });
        store.activity.record({ memberId, level: 'info', kind: 'invoice.removed', subject, message: `Invoice ${link.xeroNumber} was ${status === 'VOIDED' ? 'voided' : 'deleted'} in Xero because it was deleted in Bitrix24.` });
      });
      return { kind: 'done' };
    } catch (err) {
      if (err instanceof AppError && !(err as { transient?: boolean }).transient) {
        store.activity.record({ memberId, level: 'error', kind: 'invoice.remove_refused', subject, message: err.message });
        return { kind: 'attention', code: err.code, message: err.message };
      }
      throw err;
    }
  }

  /** The organisation's currencies, read once an hour per connection (one read shared by parallel groups). */
  private currencies(connectionId: number, load: () => Promise<string[]>): Promise<string[]> {
    const cached = this.#currencies.get(connectionId);
    if (cached && Date.now() - cached.at < CURRENCY_TTL_MS) return cached.codes;
    const codes = load();
    this.#currencies.set(connectionId, { codes, at: Date.now() });
    codes.catch(() => this.#currencies.delete(connectionId));
    return codes;
  }

}

/** Problems that stop a document before any Xero call, in words a salesperson can act on. */
function precheck(doc: SalesDocument): { code: string; message: string } | null {
  if (!doc.customer) {
    return { code: 'SYNC.NO_CUSTOMER', message: `Invoice ${doc.number} has no company or contact. Choose the customer on the invoice.` };
  }
  return null;
}

/**
 * What was pushed, as a hash: the document's content and the settings that shape its Xero invoice. Our own
 * write-back changes none of it, so its echo hashes the same.
 */
export function contentHash(doc: SalesDocument, settings: PortalSettings): string {
  const content = {
    number: doc.number, currency: doc.currency, issueDate: doc.issueDate, dueDate: doc.dueDate,
    customer: doc.customer ? [doc.customer.kind, doc.customer.id, doc.customer.name, doc.customer.email] : null,
    lines: doc.lines.map((l) => [l.productId, l.name, l.quantity.toString(), l.unitPrice.toString(), l.discount ? [l.discount.kind, (l.discount.kind === 'percent' ? l.discount.rate : l.discount.perUnit).toString()] : null, l.taxRate?.toString() ?? null, l.taxIncluded, l.accountCode]),
    settings: [settings.defaultSalesAccount, settings.taxRateMap],
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 32);
}

function uniqueBy<T>(xs: T[], key: (x: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const x of xs) if (!seen.has(key(x))) seen.set(key(x), x);
  return [...seen.values()];
}
