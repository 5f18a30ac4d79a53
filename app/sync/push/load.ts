/**
 * Load, and decide what changed: the round's documents are read from Bitrix24 (one batch per 25, with the
 * connector's own token); those gone are removed (remove.ts); documents made before the install that nobody asked for
 * are dropped; echoes — content and stage as the push last saw them, e.g. our own write-back coming back as an event —
 * are done without a Xero call. The rest need work: new or changed content, a stage a person chose, or a write-back
 * Bitrix24 does not show yet. While echoes leave the round's Xero request part-empty, it tops itself up with further
 * due jobs of its portal, so a burst goes out in full requests.
 */
import { createHash } from 'node:crypto';
import { keyOf, readDocuments, type DocumentRef } from '../../bitrix/documents.js';
import { shownXeroId } from '../../bitrix/write-back.js';
import type { Link } from '../../store/links.js';
import type { Job } from '../../store/jobs.js';
import type { SalesDocument } from '../../domain/document.js';
import type { DocumentKind } from '../document-kind.js';
import type { ClaimMore } from '../outbox.js';
import type { PortalSettings } from '../../domain/settings.js';
import { isKnownDocument } from '../intake/intake.js';
import { installedSince, madeBefore } from '../intake/install-time.js';
import { announce } from './customers.js';
import * as record from './record.js';
import { removeAll } from './remove.js';
import type { Candidate, PushPayload, Round } from './round.js';

/** How many times a round tops itself up with further due jobs when echoes left its Xero request part-empty. */
const TOP_UPS = 12;

/**
 * The documents of the round's jobs that need work, the round topped up by `more` up to `batchSize` documents to
 * send. Every other job is settled here; the customers of documents to send are announced (customers.ts).
 */
export async function loadRound<P>(round: Round<P>, batchSize: number, more?: ClaimMore): Promise<Candidate[]> {
  const candidates = await loadChanged(round, round.jobs);
  // A round with nothing to send, or one that got less than it asked (nothing more was coming), stops topping up.
  for (let i = 0; more && i < TOP_UPS; i++) {
    const sending = candidates.filter((c) => c.contentChanged).length;
    if (sending === 0 || sending >= batchSize) break;
    const extra = await more(batchSize - sending);
    if (extra.length === 0) break;
    round.add(extra);
    candidates.push(...(await loadChanged(round, extra)));
    if (extra.length < batchSize - sending) break;
  }
  return candidates;
}

/**
 * Reads the documents; those gone from Bitrix24 are removed, echoes are done, the rest need work. A document the
 * connector has nothing of in Xero and no admin asked for is worked only when Bitrix24 says it was created or changed
 * after the install; otherwise (or when Bitrix24 has no such document) its job is dropped: the row deleted, the
 * reason counted (event-drops.ts).
 */
async function loadChanged<P>(round: Round<P>, jobs: Job[]): Promise<Candidate[]> {
  const refs = jobs.map((j) => j.payload as PushPayload);
  if (refs.length === 0) return [];
  const { store, memberId, settings } = round;
  const portal = await store.portals.get(memberId);
  const since = portal ? installedSince(portal) : Number.NEGATIVE_INFINITY;
  const known = async (ref: DocumentRef) => adminAsked(round.payloadOf(keyOf(ref))) || (await isKnownDocument(store, memberId, ref));
  const read = await readDocuments(await round.client(), refs, {
    accountCodePropertyId: await store.settings.get<number>(memberId, 'b24.accountCodePropertyId') ?? null,
    // The tracking option is named by the field's label when the field is a Bitrix24 list.
    labelled: settings.tracking ? { fields: [settings.tracking.field], labels: round.listLabels, memberId } : undefined,
  });
  const candidates: Candidate[] = [];
  const gone: DocumentRef[] = [];
  for (const ref of refs) {
    const key = keyOf(ref);
    const r = read.get(key);
    if (!r) continue;
    if (!r.ok) {
      // Gone from Bitrix24 (whether or not an event said so): removed in Xero; an id the connector never had is a
      // hint about nothing.
      if (r.failure.code === 'SYNC.DOCUMENT_NOT_FOUND' && !(await known(ref))) round.settle(key, { kind: 'dropped', reason: 'not_found' });
      else if (r.failure.code === 'SYNC.DOCUMENT_NOT_FOUND') gone.push(ref);
      else if (r.failure.retryAt) round.settle(key, { kind: 'wait', code: r.failure.code, message: r.failure.message, until: r.failure.retryAt });
      else if (r.failure.transient) round.settle(key, { kind: 'retry', code: r.failure.code, message: r.failure.message });
      else round.attention(key, r.failure);
      continue;
    }
    // Pre-install history is the admin's to send (backfill, "Send to Xero"), never an event's.
    if (r.doc.times && madeBefore(r.doc.times, since) && !(await known(ref))) {
      round.settle(key, { kind: 'dropped', reason: 'before_install' });
      continue;
    }
    // A delete event for a document Bitrix24 still has: nothing is deleted or voided in Xero; the attempt is logged.
    if (round.payloadOf(key)?.deleted) await record.say(round, round.say.deleteRefused(ref.id), ref);
    const doc = round.kind.prepare ? await round.kind.prepare(r.doc, round.kindContext) : r.doc;
    const hash = contentHash(doc, settings, round.kind);
    const link = await round.linkOf(ref);
    const contentChanged = !link || !contentUnchanged(link.contentHash, doc, settings, round.kind);
    const stageMoved = link ? await movedByPerson(round, link, doc) : false;
    const unwritten = Boolean(link) && !contentChanged && !stageMoved && shownXeroId(doc) !== undefined && shownXeroId(doc) !== link!.xeroId;
    // Echo: nothing changed since the last push (e.g. our own write-back) → no Xero call.
    if (!contentChanged && !stageMoved && !unwritten) {
      round.settle(key, { kind: 'done' });
      continue;
    }
    candidates.push({ doc, hash, job: round.byKey.get(key)!, link, contentChanged, stageMoved, unwritten });
  }
  await removeAll(round, gone);
  await announce(round, candidates);
  return candidates;
}

/**
 * True when a person moved the document to another stage since the push last saw it. Stages the connector
 * wrote itself (its expected echoes) are not moves; a link seen for the first time just records its stage.
 */
async function movedByPerson<P>(round: Round<P>, link: Link, doc: SalesDocument): Promise<boolean> {
  if (!doc.stageId || doc.stageId === link.b24StageId) return false;
  // step B: race — the echo check and the stage recorded span awaits: a stage written back meanwhile (another
  // round of the portal) is judged on the link as read here.
  if (link.b24StageId === null || await round.store.links.isExpectedEcho(round.memberId, doc.type, doc.id, doc.stageId)) {
    await record.stageSeen(round, link, doc.stageId);
    return false;
  }
  return true;
}

/** Whether an admin asked for the push (jobs queued before `adminAsked` existed name it by their event). */
function adminAsked(p: PushPayload | undefined): boolean {
  return Boolean(p && (p.adminAsked === true || p.event === 'backfill' || p.event === 'manual'));
}

/**
 * What was pushed, as a hash: the document's content and the settings that shape its Xero document. Our own
 * write-back changes none of it, so its echo hashes the same. The customer counts by who it is (kind and id), not by
 * its name or e-mail: the Xero document names its contact by id, and a renamed customer reaches Xero through contact
 * sync, so a rename is no change to its documents (it would have the push try to edit every approved invoice of that
 * customer, and tell each card that changes were not sent).
 *
 * `withCustomerDetails` computes the hash as links stored before that rule (name and e-mail included): a document that
 * matches it is unchanged too, so an upgrade pushes nothing again.
 */
/** True when `stored` (a link's hash) is the hash of `doc` now, in the current form or in the one links kept before. */
export function contentUnchanged(stored: string | null, doc: SalesDocument, settings: PortalSettings, kind: Pick<DocumentKind, 'hashed'>): boolean {
  return stored === contentHash(doc, settings, kind) || stored === contentHash(doc, settings, kind, { withCustomerDetails: true });
}

export function contentHash(doc: SalesDocument, settings: PortalSettings, kind: Pick<DocumentKind, 'hashed'>, opts: { withCustomerDetails?: boolean } = {}): string {
  const extra = kind.hashed(doc, settings);
  const c = doc.customer;
  const content = {
    number: doc.number, currency: doc.currency, issueDate: doc.issueDate, dueDate: doc.dueDate,
    customer: c ? (opts.withCustomerDetails ? [c.kind, c.id, c.name, c.email] : [c.kind, c.id]) : null,
    lines: doc.lines.map((l) => [l.productId, l.name, l.quantity.toString(), l.unitPrice.toString(), l.discount ? [l.discount.kind, (l.discount.kind === 'percent' ? l.discount.rate : l.discount.perUnit).toString()] : null, l.taxRate?.toString() ?? null, l.taxIncluded, l.accountCode]),
    settings: [settings.defaultSalesAccount, settings.taxRateMap],
    ...(extra.length ? { extra } : {}),
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 32);
}
