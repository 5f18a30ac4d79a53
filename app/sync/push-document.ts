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
import { representationOf, roundingNote } from '../xero/invoice-mapper.js';
import { roundingAccountOf } from '../xero/rounding-account.js';
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { Decimal } from '../money.js';
import type { Store } from '../store/index.js';
import type { Job } from '../store/jobs.js';
import type { Connection } from '../store/connections.js';
import type { PortalClient, PortalClients } from '../bitrix/portal-client.js';
import { keyOf, readDocuments, type DocumentRef } from '../bitrix/documents.js';
import { ListLabels } from '../bitrix/list-labels.js';
import { shownXeroId, writeBackXeroState } from '../bitrix/write-back.js';
import { PipelineCache, pipelineEntityId } from '../bitrix/stages.js';
import type { XeroGateway, XeroGateways } from '../xero/gateway.js';
import { announceCustomers, knownContactIds, resolveContacts, saveContactLinks, customerKey, type ResolvedContacts } from '../xero/contacts.js';
import { listCurrencies } from '../xero/invoices.js';
import type { PushFailure, PushItem, PushResult, XeroDocumentState } from '../xero/documents.js';
import type { Link } from '../store/links.js';
import { isExpectedEcho } from '../store/link-status.js';
import type { SalesDocument } from './document.js';
import type { DocumentKind, KindContext } from './document-kind.js';
import type { ClaimMore, JobHandler, JobOutcome } from './outbox.js';
import type { PortalSettings } from './settings.js';
import { salesMapping, type SalesMapping } from './mapping.js';
import type { OrgDataCache } from './org-data.js';
import { isKnownDocument } from './intake.js';
import { installedSince, madeBefore } from './install-time.js';

export interface PushPayload {
  type: 'smart_invoice' | 'invoice' | 'quote';
  id: string;
  deleted?: boolean;
  /** What queued it: an event's name, `reconcile`, `backfill` or `manual` ("Send to Xero"). */
  event?: string;
  /** An admin asked for it (backfill, "Send to Xero"): sent even when it was made before the install. */
  adminAsked?: boolean;
}

/** Whether an admin asked for the push (jobs queued before `adminAsked` existed name it by their event). */
function adminAsked(p: PushPayload | undefined): boolean {
  return Boolean(p && (p.adminAsked === true || p.event === 'backfill' || p.event === 'manual'));
}

/** How many times a group tops itself up with further due jobs when echoes left its Xero request part-empty. */
const TOP_UPS = 12;

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
  /** Unchanged, but Bitrix24 does not show its Xero id yet (an earlier write-back failed): written back again. */
  unwritten?: boolean;
}

/** A document Xero now has as it should be: written back to Bitrix24. */
interface Written {
  doc: SalesDocument;
  state: XeroDocumentState;
}

export interface PushDeps {
  store: Store;
  portals: PortalClients;
  gateways: XeroGateways;
  logger: Logger;
  /** The organisation's lists, for the automatic tax and account matches (mapping.ts). */
  orgData: OrgDataCache;
}

/** One group's run: the portal, its Xero connection and settings, and the outcome of each job. */
class Round {
  readonly outcomes = new Map<number, JobOutcome>();
  readonly byKey: Map<string, Job>;
  constructor(
    readonly jobs: Job[],
    readonly memberId: string,
    readonly connection: Connection,
    readonly gateway: XeroGateway,
    readonly settings: PortalSettings,
  ) {
    this.byKey = new Map(jobs.map((j) => [keyOf(j.payload as PushPayload), j]));
  }
  get tenantId(): string {
    return this.connection.tenantId;
  }
  /** Withdrawals of the customers this group announced (`announceCustomers`). */
  readonly announced: (() => void)[] = [];
  /** Jobs claimed later to top the group up (`ClaimMore`). */
  add(jobs: Job[]): void {
    for (const j of jobs) {
      this.jobs.push(j);
      this.byKey.set(keyOf(j.payload as PushPayload), j);
    }
  }
  settle(key: string, o: JobOutcome): void {
    const job = this.byKey.get(key);
    if (job) this.outcomes.set(job.id, o);
  }
  attention(key: string, problem: { code: string; message: string }): void {
    this.settle(key, { kind: 'attention', code: problem.code, message: problem.message });
  }
}

export class PushDocuments<P> implements JobHandler {
  readonly batchSize = 50;
  readonly #currencies = new Map<number, { codes: Promise<string[]>; at: number }>();
  private readonly listLabels = new ListLabels();
  private readonly pipelines = new PipelineCache();

  constructor(
    private readonly deps: PushDeps,
    private readonly kind: DocumentKind<P>,
  ) {}

  async run(jobs: Job[], more?: ClaimMore): Promise<Map<number, JobOutcome>> {
    const memberId = jobs[0].memberId!;
    const connection = this.activeConnection(memberId);
    // The settings with the automatic tax and account matches; documents waiting for a choice are held (mapping.ts).
    const mapping = await salesMapping(this.deps.store, this.deps.orgData, memberId);
    const round = new Round(jobs, memberId, connection, this.deps.gateways.for(connection.id), mapping.settings);
    if (!this.kind.enabled(round.settings)) return round.outcomes; // the kind's sync is off: nothing to do
    try {
      return await this.runRound(round, mapping, more);
    } finally {
      for (const withdraw of round.announced) withdraw();
    }
  }

  private async runRound(round: Round, mapping: SalesMapping, more?: ClaimMore): Promise<Map<number, JobOutcome>> {
    const { jobs, memberId, connection } = round;
    const payloads = jobs.map((j) => j.payload as PushPayload);

    // 1-2. Load the documents (one Bitrix24 batch per 25) with the connector's own token; those gone are removed in
    // Xero the way the kind allows. A delete event is a hint: a document Bitrix24 still has stays. 3. Skip echoes.
    const client = this.deps.portals.for(memberId);
    const candidates = await this.loadChanged(round, client, payloads);
    this.announce(round, candidates);
    // Echoes (our own write-backs coming back as events) need no Xero request: while fewer than a request's worth
    // need sending, the group claims further due jobs of its portal, so a burst goes out in full requests.
    // A group with nothing to send, or one that got less than it asked (nothing more was coming), stops topping up.
    for (let i = 0; more && i < TOP_UPS; i++) {
      const sending = candidates.filter((c) => c.contentChanged).length;
      if (sending === 0 || sending >= this.batchSize) break;
      const extra = await more(this.batchSize - sending);
      if (extra.length === 0) break;
      const last = extra.length < this.batchSize - sending;
      round.add(extra);
      const added = await this.loadChanged(round, client, extra.map((j) => j.payload as PushPayload));
      this.announce(round, added);
      candidates.push(...added);
      if (last) break;
    }
    if (candidates.length === 0) return round.outcomes;

    // 4. Check every changed document before any write; a document that cannot be sent says why.
    const ready = candidates.filter((c) => c.contentChanged && this.passesPrecheck(round, c, mapping));

    // 5. Documents already linked: their Xero state, to update them in place while Xero allows.
    const xeroState = await this.readLinked(round, candidates);

    // 6. Crash healing: a document sent before whose answer was never recorded is looked up by its reference.
    const lost = await this.findLost(round, ready);

    // 7. Customers → Xero contacts (links, then look-ups, then one batch create).
    const contacts = await this.resolveCustomers(round, ready);
    // The organisation's currencies from its cached lists (org-data.ts), read on their own only when none are cached.
    const currencies = this.deps.orgData.cached(memberId)?.currencies ?? (await this.currencies(connection.id, () => listCurrencies(round.gateway, round.tenantId)));

    // 8. Build the Xero documents (the rounding account is read only when a document needs a rounding line).
    const roundingAccount = await this.roundingAccount(round, ready);
    const items = this.buildAll(round, ready, { xeroState, lost, contacts, currencies, roundingAccount });

    // 9. Send (≤ 50 per request) and link each answer in the same transaction that records it.
    const written = await this.send(round, items, xeroState);

    // 10. Stage moves made by people in Bitrix24 (and, for kinds that follow it, the stage a new document starts at).
    if (this.kind.followsFirstStage) this.followFirstStages(round, candidates, written);
    written.push(...(await this.applyStageMoves(round, candidates, xeroState)));

    // 11. What follows elsewhere in Xero (the quote an invoice was made from becomes INVOICED).
    if (written.length && this.kind.afterWrite) {
      await this.kind.afterWrite(written, this.kindContext(round)).catch((err: Error) => {
        this.deps.logger.warn({ err, memberId }, `follow-up of pushed ${this.kind.noun}s failed`);
        this.deps.store.activity.record({ memberId, level: 'warn', kind: `${this.kind.xeroType}.follow_up_failed`, message: `After sending ${this.kind.noun}s to Xero, a follow-up failed: ${err.message}` });
      });
    }

    // 12. Write Xero's id, number and status back to Bitrix24 (batched; their echoes are skipped by hash), also for
    // documents an earlier write-back missed; a failed write-back is tried again.
    written.push(...this.unwrittenBefore(round, candidates, xeroState));
    await this.writeBack(round, client, written);
    return round.outcomes;
  }

  private async removeAll(round: Round, deletions: PushPayload[]): Promise<void> {
    if (deletions.length === 0) return;
    const states = await this.linkedStates(round, deletions);
    for (const ref of deletions) round.settle(keyOf(ref), await this.removeFromXero(round, ref, states));
  }

  /**
   * Reads the documents; those gone from Bitrix24 are removed, echoes are done, the rest need work. A document the
   * connector has nothing of in Xero and no admin asked for is worked only when Bitrix24 says it was created or changed
   * after the install; otherwise (or when Bitrix24 has no such document) its job is dropped: the row deleted, the
   * reason counted (event-drops.ts).
   */
  private async loadChanged(round: Round, client: PortalClient, refs: DocumentRef[]): Promise<Candidate[]> {
    if (refs.length === 0) return [];
    const { memberId, connection, settings } = round;
    const portal = this.deps.store.portals.get(memberId);
    const since = portal ? installedSince(portal) : Number.NEGATIVE_INFINITY;
    const known = (ref: DocumentRef) => adminAsked(round.byKey.get(keyOf(ref))?.payload as PushPayload | undefined) || isKnownDocument(this.deps.store, memberId, ref);
    const read = await readDocuments(client, refs, {
      accountCodePropertyId: this.deps.store.settings.get<number>(memberId, 'b24.accountCodePropertyId') ?? null,
      // The tracking option is named by the field's label when the field is a Bitrix24 list.
      labelled: settings.tracking ? { fields: [settings.tracking.field], labels: this.listLabels, memberId } : undefined,
    });
    const candidates: Candidate[] = [];
    const gone: PushPayload[] = [];
    for (const ref of refs) {
      const key = keyOf(ref);
      const r = read.get(key);
      if (!r) continue;
      if (!r.ok) {
        // Gone from Bitrix24 (whether or not an event said so): removed in Xero, their Xero states read at once; an
        // id the connector never had is a hint about nothing.
        if (r.failure.code === 'SYNC.DOCUMENT_NOT_FOUND' && !known(ref)) round.settle(key, { kind: 'dropped', reason: 'not_found' });
        else if (r.failure.code === 'SYNC.DOCUMENT_NOT_FOUND') gone.push({ ...ref, deleted: true } as PushPayload);
        else if (r.failure.retryAt) round.settle(key, { kind: 'wait', code: r.failure.code, message: r.failure.message, until: r.failure.retryAt });
        else if (r.failure.transient) round.settle(key, { kind: 'retry', code: r.failure.code, message: r.failure.message });
        else round.attention(key, r.failure);
        continue;
      }
      // Pre-install history is the admin's to send (backfill, "Send to Xero"), never an event's.
      if (r.doc.times && madeBefore(r.doc.times, since) && !known(ref)) {
        round.settle(key, { kind: 'dropped', reason: 'before_install' });
        continue;
      }
      if ((round.byKey.get(key)?.payload as PushPayload | undefined)?.deleted) this.noteDeleteRefused(memberId, ref);
      const doc = this.kind.prepare ? this.kind.prepare(r.doc, this.kindContext(round)) : r.doc;
      const hash = contentHash(doc, settings, this.kind);
      const found = this.deps.store.links.find(memberId, ref.type, ref.id);
      const link = found && found.connectionId === connection.id ? found : undefined;
      const contentChanged = !link || link.contentHash !== hash;
      const stageMoved = link ? this.stageMoved(memberId, link, doc) : false;
      const unwritten = Boolean(link) && !contentChanged && !stageMoved && shownXeroId(doc) !== undefined && shownXeroId(doc) !== link!.xeroId;
      // Echo: nothing changed since the last push (e.g. our own write-back) → no Xero call.
      if (!contentChanged && !stageMoved && !unwritten) {
        round.settle(key, { kind: 'done' });
        continue;
      }
      candidates.push({ doc, hash, job: round.byKey.get(key)!, link, contentChanged, stageMoved, unwritten });
    }
    await this.removeAll(round, gone);
    return candidates;
  }

  /** A delete event for a document Bitrix24 still has: nothing is deleted or voided in Xero; the attempt is logged. */
  private noteDeleteRefused(memberId: string, ref: DocumentRef): void {
    this.deps.store.activity.record({
      memberId, level: 'warn', kind: 'event.delete_refused', subject: `${ref.type}:${ref.id}`,
      message: `A delete event arrived for ${this.kind.noun} ${ref.id}, but it still exists in Bitrix24, so nothing was deleted or voided in Xero.`,
    });
  }

  private passesPrecheck(round: Round, c: Candidate, mapping: SalesMapping): boolean {
    const noun = this.kind.noun;
    const held = c.doc.customer
      ? mapping.holdOf(c.doc)
      : { code: 'SYNC.NO_CUSTOMER', message: `${capital(noun)} ${c.doc.number} has no company or contact. Choose the customer on the ${noun}.` };
    if (!held) return true;
    round.attention(keyOf(c.doc), held);
    return false;
  }

  /** The Xero state of the linked candidates, keyed by lower-case Xero id. */
  /** The rounding account, when one of the documents needs a rounding line (rounding-account.ts). */
  private async roundingAccount(round: Round, ready: Candidate[]): Promise<string | null> {
    const needed = ready.some((c) => representationOf(c.doc, { roundingAccount: 'any' }, this.kind.xeroType).rounding);
    return needed ? roundingAccountOf(round.gateway, round.settings) : null;
  }

  private async readLinked(round: Round, candidates: Candidate[]): Promise<Map<string, XeroDocumentState>> {
    // A document that only misses its write-back needs no read when its link tells what to write (`stateOfLink`).
    const ids = candidates.flatMap((c) => (c.link && !(c.unwritten && this.kind.stateOfLink?.(c.link)) ? [c.link.xeroId] : []));
    return ids.length ? this.kind.read(round.gateway, round.tenantId, ids) : new Map();
  }

  private async findLost(round: Round, ready: Candidate[]): Promise<Map<string, XeroDocumentState[]>> {
    const lost = ready.flatMap((c) => {
      const sentAt = c.link ? undefined : this.deps.store.links.sentAt(round.memberId, c.doc.type, c.doc.id);
      return sentAt === undefined ? [] : [{ reference: this.kind.reference(c.doc, round.settings), sentAt }];
    });
    return lost.length ? this.kind.findLost(round.gateway, round.tenantId, lost) : new Map();
  }

  /** Announces the new customers of documents to send, for a resolution of another group to take along. */
  private announce(round: Round, candidates: Candidate[]): void {
    const customers = uniqueBy(candidates.filter((c) => c.contentChanged).flatMap((c) => (c.doc.customer ? [c.doc.customer] : [])), customerKey);
    const known = knownContactIds(this.deps.store, round.memberId, customers);
    const fresh = customers.filter((c) => !known.has(customerKey(c)));
    if (fresh.length) round.announced.push(announceCustomers(round.gateway, fresh));
  }

  private async resolveCustomers(round: Round, ready: Candidate[]): Promise<ResolvedContacts> {
    const { store } = this.deps;
    const customers = uniqueBy(ready.flatMap((c) => (c.doc.customer ? [c.doc.customer] : [])), customerKey);
    const contacts = await resolveContacts(round.gateway, round.tenantId, customers, knownContactIds(store, round.memberId, customers));
    saveContactLinks(store, round.memberId, round.connection.id, contacts.links);
    return contacts;
  }

  /**
   * The Xero payload of each ready document: a new one, or an update of the linked (or healed) one while Xero allows
   * edits; a document Xero no longer lets us edit is recorded as seen, and the card says why.
   */
  private buildAll(
    round: Round,
    ready: Candidate[],
    known: { xeroState: Map<string, XeroDocumentState>; lost: Map<string, XeroDocumentState[]>; contacts: ResolvedContacts; currencies: string[]; roundingAccount: string | null },
  ): (PushItem<P> & { c: Candidate; creates: boolean; note: string | null })[] {
    const items: (PushItem<P> & { c: Candidate; creates: boolean; note: string | null })[] = [];
    for (const c of ready) {
      const key = keyOf(c.doc);
      const cKey = customerKey(c.doc.customer!);
      const contactId = known.contacts.contactIds.get(cKey);
      if (!contactId) {
        const f = known.contacts.failures.get(cKey);
        round.attention(key, { code: f?.code ?? 'XERO.CONTACT_FAILED', message: f?.message ?? `The customer "${c.doc.customer!.name}" could not be found or created in Xero.` });
        continue;
      }
      let existing: { id: string; lineItemIds: string[] } | undefined;
      if (c.link) {
        const state = known.xeroState.get(c.link.xeroId.toLowerCase());
        if (state && !this.kind.editable.has(state.status)) {
          this.noteNotEditable(round, c, state);
          round.settle(key, { kind: 'done' });
          continue;
        }
        if (state) existing = { id: state.id, lineItemIds: state.lineItemIds };
      } else {
        // Only the document this connector sent before the crash is healed, never a stranger's with the same
        // reference (app/sync/heal-lost.ts).
        const sent = { contactId, currency: c.doc.currency, total: Number(c.doc.total), sentAt: this.deps.store.links.sentAt(round.memberId, c.doc.type, c.doc.id) };
        const healed = (known.lost.get(this.kind.reference(c.doc, round.settings)) ?? []).find((found) => isTheDocumentSent(found, sent));
        if (healed) {
          if (!this.kind.editable.has(healed.status)) {
            this.link(round, c.doc, c.hash, healed);
            round.settle(key, { kind: 'done' });
            continue;
          }
          existing = { id: healed.id, lineItemIds: healed.lineItemIds };
        }
      }
      try {
        // Products imported from (or matched to) Xero items carry their item code on the line.
        const itemCodes = this.deps.store.links.itemCodes(round.memberId, c.doc.lines.flatMap((l) => (l.productId ? [l.productId] : [])));
        const payload = this.kind.build(c.doc, { contactId, settings: round.settings, currencies: known.currencies, existing, roundingAccount: known.roundingAccount, itemCodes, trackingCategories: this.deps.orgData.cached(round.memberId)?.trackingCategories });
        // The key names the content and whether it updates an existing document, so a healed document is a new
        // request for Xero rather than a replay of the lost one with another body.
        const note = roundingNote(c.doc, representationOf(c.doc, known, this.kind.xeroType), known.roundingAccount);
        items.push({ key, payload, idempotencyKey: `${key}:${c.hash}:${existing?.id ?? 'new'}`, c, creates: !existing, note });
      } catch (err) {
        if (err instanceof AppError) round.attention(key, err);
        else throw err;
      }
    }
    return items;
  }

  private async send(round: Round, items: (PushItem<P> & { c: Candidate; creates: boolean; note: string | null })[], xeroState: Map<string, XeroDocumentState>): Promise<Written[]> {
    const { store } = this.deps;
    if (items.length === 0) return [];
    store.links.markSent(round.memberId, items.filter((i) => i.creates).map((i) => ({ b24Type: i.c.doc.type, b24Id: i.c.doc.id })));
    const results: Map<string, PushResult> = await this.kind.push(round.gateway, round.tenantId, items);
    const written: Written[] = [];
    for (const item of items) {
      const r = results.get(item.key);
      if (!r) continue;
      if (!r.ok) {
        // Refused by Xero: nothing was created, so no look-up is needed next time. A transient failure may have
        // reached Xero: the mark stays.
        if (r.permanent && item.creates) store.links.clearSent(round.memberId, item.c.doc.type, item.c.doc.id);
        round.settle(item.key, failureOutcome(r));
        continue;
      }
      const state: XeroDocumentState = { ...r, reference: this.kind.reference(item.c.doc, round.settings), currencyCode: item.c.doc.currency, contactId: null };
      this.link(round, item.c.doc, item.c.hash, state, item.note);
      written.push({ doc: item.c.doc, state });
      xeroState.set(state.id.toLowerCase(), state);
      round.settle(item.key, { kind: 'done' });
    }
    return written;
  }

  /** Documents linked just now count as moved to the stage they were created at. */
  private followFirstStages(round: Round, candidates: Candidate[], written: Written[]): void {
    const created = new Set(written.map((w) => keyOf(w.doc)));
    for (const c of candidates) {
      if (c.link || !created.has(keyOf(c.doc))) continue;
      c.link = this.deps.store.links.find(round.memberId, c.doc.type, c.doc.id);
      c.stageMoved = Boolean(c.link && c.doc.stageId);
    }
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
   * Stage moves ask the kind for the Xero change they mean. What Xero does not allow is refused in words on the card
   * and in the log, and not retried: the stage is recorded as seen either way.
   */
  private async applyStageMoves(round: Round, candidates: Candidate[], xeroState: Map<string, XeroDocumentState>): Promise<Written[]> {
    const { store } = this.deps;
    const moves = candidates.filter((c) => c.stageMoved && c.link && round.outcomes.get(c.job.id)?.kind !== 'attention');
    if (moves.length === 0) return [];
    const pipelines = await this.pipelines.of(this.deps.portals.for(round.memberId), round.memberId, moves.map((m) => pipelineEntityId(m.doc.type, m.doc.categoryId)));
    const changed: Written[] = [];
    for (const { doc, link } of moves) {
      const subject = `${doc.type}:${doc.id}`;
      const pipeline = pipelines.get(pipelineEntityId(doc.type, doc.categoryId));
      const state = xeroState.get(link!.xeroId.toLowerCase());
      const status = state?.status ?? link!.xeroStatus ?? 'DRAFT';
      try {
        const action = await this.kind.stageAction(round.gateway, round.tenantId, { doc, link: link!, pipeline, stage: pipeline?.stages.find((x) => x.id === doc.stageId), status }, round.settings);
        store.transaction(() => {
          store.links.setB24Stage(link!.id, doc.stageId);
          if (!action) return;
          store.links.save({ ...link!, xeroStatus: action.status });
          store.activity.record({ memberId: round.memberId, level: 'info', kind: `${this.kind.xeroType}.stage_action`, subject, message: action.message });
        });
        if (action && state) changed.push({ doc, state: { ...state, status: action.status } });
        if (action) round.settle(keyOf(doc), { kind: 'done' });
      } catch (err) {
        if (!(err instanceof AppError) || (err as { transient?: boolean }).transient) throw err;
        store.transaction(() => {
          store.links.setB24Stage(link!.id, doc.stageId);
          store.activity.record({ memberId: round.memberId, level: 'error', kind: `${this.kind.xeroType}.stage_refused`, subject, message: err.message });
        });
      }
      if (!round.outcomes.has(round.byKey.get(keyOf(doc))!.id)) round.settle(keyOf(doc), { kind: 'done' });
    }
    return changed;
  }

  /** Unchanged documents whose Xero id Bitrix24 does not show yet, with their Xero state, to write back again. */
  private unwrittenBefore(round: Round, candidates: Candidate[], xeroState: Map<string, XeroDocumentState>): Written[] {
    return candidates.flatMap((c) => {
      if (!c.unwritten || !c.link) return [];
      if (!round.outcomes.has(c.job.id)) round.settle(keyOf(c.doc), { kind: 'done' });
      const state = xeroState.get(c.link.xeroId.toLowerCase()) ?? this.kind.stateOfLink?.(c.link);
      return state ? [{ doc: c.doc, state }] : [];
    });
  }

  private async writeBack(round: Round, client: PortalClient, written: Written[]): Promise<void> {
    if (written.length === 0) return;
    const { memberId } = round;
    try {
      await writeBackXeroState(client, written);
    } catch (err) {
      this.deps.logger.warn({ err, memberId }, `write-back to Bitrix24 failed; Xero has the ${this.kind.noun}s`);
      const message = `Xero numbers could not be written back to Bitrix24: ${(err as Error).message}`;
      this.deps.store.activity.record({ memberId, level: 'warn', kind: 'b24.write_back_failed', message });
      // Xero has them: the next run finds them unchanged and only writes back what Bitrix24 does not show yet.
      for (const w of written) round.settle(keyOf(w.doc), { kind: 'retry', code: 'B24.WRITE_BACK_FAILED', message });
    }
  }

  private kindContext(round: Round): KindContext {
    return { store: this.deps.store, memberId: round.memberId, connectionId: round.connection.id, gateway: round.gateway, tenantId: round.tenantId };
  }

  private activeConnection(memberId: string): Connection {
    const c = this.deps.store.connections.listForPortal(memberId).find((x) => x.state !== 'disconnected');
    if (!c) throw new AppError('XERO.NOT_CONNECTED', 'Xero is not connected yet. A portal administrator can connect it in the Xero connector app.', 409);
    if (c.state === 'needs_reconnect') throw new AppError('XERO.NEEDS_RECONNECT', `${c.tenantName ?? 'Xero'} needs reconnecting by a portal admin.`, 409);
    return c;
  }

  /** The link is written with Xero's answer, in one transaction, with the log line and the totals check. */
  private link(round: Round, doc: SalesDocument, hash: string, state: XeroDocumentState, note: string | null = null): void {
    const { store } = this.deps;
    const { memberId, connection } = round;
    const Noun = capital(this.kind.noun);
    const kind = this.kind.xeroType;
    store.transaction(() => {
      const previous = store.links.find(memberId, doc.type, doc.id);
      store.links.clearSent(memberId, doc.type, doc.id);
      const saved = store.links.save({
        memberId, connectionId: connection.id, b24Type: doc.type, b24Id: doc.id, xeroType: kind, xeroId: state.id,
        xeroNumber: state.number, contentHash: hash, xeroStatus: state.status,
        xeroUpdatedAt: state.updatedDateUTC ? state.updatedDateUTC.getTime() : null, b24StageId: doc.stageId,
      });
      store.links.setNote(saved.id, note);
      const subject = `${doc.type}:${doc.id}`;
      store.activity.record({
        memberId, level: 'info', kind: previous ? `${kind}.updated` : `${kind}.created`, subject,
        message: previous
          ? `${Noun} ${doc.number} updated in Xero as ${state.number} (${state.status}).`
          : `${Noun} ${doc.number} sent to Xero as draft ${state.number}.`,
        details: { xeroId: state.id, total: state.total },
      });
      const diff = Decimal.of(state.total).sub(doc.total).abs();
      if (diff.cmp('0.01') > 0) {
        store.activity.record({
          memberId, level: 'warn', kind: `${kind}.total_mismatch`, subject,
          message: `Totals differ for ${this.kind.noun} ${doc.number}: Bitrix24 ${doc.total.toFixed(2)} ${doc.currency}, Xero ${Decimal.of(state.total).toFixed(2)} ${doc.currency}. Check the rows' prices, discounts and VAT rates.`,
          details: { bitrix24: doc.total.toFixed(2), xero: Decimal.of(state.total).toFixed(2) },
        });
      }
    });
  }

  private noteNotEditable(round: Round, c: Candidate, state: XeroDocumentState): void {
    const { store } = this.deps;
    store.transaction(() => {
      store.links.save({ ...c.link!, connectionId: round.connection.id, contentHash: c.hash, xeroStatus: state.status });
      store.activity.record({
        memberId: round.memberId, level: 'warn', kind: `${this.kind.xeroType}.not_editable`, subject: `${c.doc.type}:${c.doc.id}`,
        message: this.kind.notEditable(c.doc, state.status),
      });
    });
  }

  /** The Xero state of the linked documents of `refs`. */
  private async linkedStates(round: Round, refs: PushPayload[]): Promise<Map<string, XeroDocumentState>> {
    const ids = refs.flatMap((r) => {
      const link = this.deps.store.links.find(round.memberId, r.type, r.id);
      return link && link.connectionId === round.connection.id ? [link.xeroId] : [];
    });
    return ids.length ? this.kind.read(round.gateway, round.tenantId, ids) : new Map();
  }

  private async removeFromXero(round: Round, ref: PushPayload, states: Map<string, XeroDocumentState>): Promise<JobOutcome> {
    const { store } = this.deps;
    const { memberId } = round;
    const link = store.links.find(memberId, ref.type, ref.id);
    if (!link || link.connectionId !== round.connection.id) return { kind: 'done' };
    const state = states.get(link.xeroId.toLowerCase());
    const subject = `${ref.type}:${ref.id}`;
    const kind = this.kind.xeroType;
    if (!state || state.status === 'DELETED' || state.status === 'VOIDED') {
      store.links.save({ ...link, xeroStatus: state?.status ?? 'DELETED' });
      return { kind: 'done' };
    }
    try {
      const action = await this.kind.remove(round.gateway, round.tenantId, link, state, round.settings);
      if (!action) return { kind: 'done' };
      if ('kept' in action) {
        store.activity.record({ memberId, level: 'warn', kind: `${kind}.kept`, subject, message: action.kept });
        return { kind: 'done' };
      }
      store.transaction(() => {
        store.links.save({ ...link, xeroStatus: action.status });
        store.activity.record({ memberId, level: 'info', kind: `${kind}.removed`, subject, message: action.message });
      });
      return { kind: 'done' };
    } catch (err) {
      if (err instanceof AppError && !(err as { transient?: boolean }).transient) {
        store.activity.record({ memberId, level: 'error', kind: `${kind}.remove_refused`, subject, message: err.message });
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

/**
 * What was pushed, as a hash: the document's content and the settings that shape its Xero document. Our own
 * write-back changes none of it, so its echo hashes the same.
 */
export function contentHash(doc: SalesDocument, settings: PortalSettings, kind: Pick<DocumentKind, 'hashed'>): string {
  const extra = kind.hashed(doc, settings);
  const content = {
    number: doc.number, currency: doc.currency, issueDate: doc.issueDate, dueDate: doc.dueDate,
    customer: doc.customer ? [doc.customer.kind, doc.customer.id, doc.customer.name, doc.customer.email] : null,
    lines: doc.lines.map((l) => [l.productId, l.name, l.quantity.toString(), l.unitPrice.toString(), l.discount ? [l.discount.kind, (l.discount.kind === 'percent' ? l.discount.rate : l.discount.perUnit).toString()] : null, l.taxRate?.toString() ?? null, l.taxIncluded, l.accountCode]),
    settings: [settings.defaultSalesAccount, settings.taxRateMap],
    ...(extra.length ? { extra } : {}),
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 32);
}

/** What becomes of a document Xero did not take: it needs attention, waits for a limit or a reconnect, or is retried. */
function failureOutcome(r: PushFailure): JobOutcome {
  if (r.permanent) return { kind: 'attention', code: r.code, message: r.message };
  if (r.retryAt) return { kind: 'wait', code: r.code, message: r.message, until: r.retryAt };
  if (r.code === 'XERO.NEEDS_RECONNECT') return { kind: 'paused', message: r.message };
  return { kind: 'retry', code: r.code, message: r.message };
}

function capital(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function uniqueBy<T>(xs: T[], key: (x: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const x of xs) if (!seen.has(key(x))) seen.set(key(x), x);
  return [...seen.values()];
}
