/**
 * What the push keeps: every write of a round to the store — links with Xero's answer and figures, the stages seen,
 * the sent marks of the exactly-once send, the contacts resolved — each with its log line (worded in messages.ts),
 * in one transaction where they belong together.
 */
import { keyOf, type DocumentRef } from '../../bitrix/documents.js';
import { Decimal } from '../../domain/money.js';
import type { Link, LinkFigures } from '../../store/links.js';
import type { ContactLink } from '../../xero/contacts.js';
import { saveContactLinks } from './customer-links.js';
import { askStatusRead } from '../status-reads.js';
import type { XeroDocumentState } from '../../xero/documents.js';
import type { SalesDocument } from '../../domain/document.js';
import type { XeroAction } from '../document-kind.js';
import type { Line } from './messages.js';
import type { Round } from './round.js';

type AnyRound = Round<unknown>;

/** Writes a line of the round's portal to the activity log, about one document when `ref` names it. */
export async function say(round: AnyRound, line: Line, ref?: DocumentRef): Promise<void> {
  await round.store.activity.record({ memberId: round.memberId, ...(ref ? { subject: keyOf(ref) } : {}), ...line });
}

/**
 * The link is written with Xero's answer, in one transaction, with the log line and the totals check; the sent mark
 * is cleared, Xero's figures kept for the card, the rounding note (if any) for the dashboard.
 */
export async function linked(round: AnyRound, doc: SalesDocument, hash: string, state: XeroDocumentState, note: string | null = null): Promise<void> {
  const { store, memberId, connection } = round;
  await store.transaction(async () => {
    const previous = await store.links.find(memberId, doc.type, doc.id);
    await store.links.clearSent(memberId, doc.type, doc.id);
    // A document healed after a lost answer may have moved on in Xero meanwhile (approved, paid): that change is the
    // status pull's to carry into Bitrix24, so the link does not record it as applied (statusOwedByPull).
    const owed = statusOwedByPull(round, state);
    const saved = (await store.links.save({
      memberId, connectionId: connection.id, b24Type: doc.type, b24Id: doc.id, xeroType: round.kind.xeroType, xeroId: state.id,
      xeroNumber: state.number, contentHash: hash, xeroStatus: owed ? (previous?.xeroStatus ?? null) : state.status,
      xeroUpdatedAt: state.updatedDateUTC ? state.updatedDateUTC.getTime() : null, b24StageId: doc.stageId,
    }));
    await store.links.setNote(saved.id, note);
    if (owed) await askStatusRead(store, { memberId, connectionId: connection.id, invoiceId: state.id });
    else await store.links.setFigures(saved.id, figuresOf(state));
    await say(round, previous ? round.say.updated(doc, state) : round.say.created(doc, state), doc);
    const xeroTotal = Decimal.of(state.total);
    if (xeroTotal.sub(doc.total).abs().cmp('0.01') > 0) await say(round, round.say.totalMismatch(doc, xeroTotal), doc);
  });
}

/**
 * A linked document Xero no longer lets us edit: its content recorded as seen, the card says why. Its new Xero status
 * is left to the status pull (asked for here), which moves the stage, comments the payment and fires the trigger: were
 * the link to record the status, the pull would find nothing changed and owe them forever.
 */
export async function notEditable(round: AnyRound, doc: SalesDocument, link: Link, hash: string, state: XeroDocumentState): Promise<void> {
  const { store } = round;
  await store.transaction(async () => {
    const owed = statusOwedByPull(round, state);
    await store.links.save({ ...link, connectionId: round.connection.id, contentHash: hash, xeroStatus: owed ? link.xeroStatus : state.status });
    if (owed) await askStatusRead(store, { memberId: round.memberId, connectionId: round.connection.id, invoiceId: state.id });
    else await store.links.setFigures(link.id, figuresOf(state));
    await say(round, round.say.notEditable(doc, state.status), doc);
  });
}

/**
 * True when Xero's status in `state` is one the status pull still has to carry into Bitrix24: past the statuses the
 * push may edit, for a kind whose pull moves stages or tells payments. (A quote's pull writes only its status field,
 * which the push's write-back writes too.)
 */
function statusOwedByPull(round: AnyRound, state: XeroDocumentState): boolean {
  const { pull, editable } = round.kind;
  return Boolean(pull.stageOf || pull.tellsPayments) && !editable.has(state.status);
}

/** The Xero status a linked document has now, with the line that says why (none when Xero changed it itself). */
export async function xeroStatus(round: AnyRound, ref: DocumentRef, link: Link, status: string, line?: Line): Promise<void> {
  const { store } = round;
  await store.transaction(async () => {
    await store.links.save({ ...link, xeroStatus: status });
    if (line) await say(round, line, ref);
  });
}

/** The Bitrix24 stage of a linked document, as seen now. */
export async function stageSeen(round: AnyRound, link: Link, stageId: string | null): Promise<void> {
  await round.store.links.setB24Stage(link.id, stageId);
}

/** A stage move seen, with what the kind did in Xero for it (`action`), or why Xero refused it (`refused`). */
export async function stageMove(round: AnyRound, doc: SalesDocument, link: Link, outcome: { action: XeroAction | null } | { refused: string }): Promise<void> {
  const { store } = round;
  await store.transaction(async () => {
    await stageSeen(round, link, doc.stageId);
    if ('refused' in outcome) return say(round, round.say.stageRefused(outcome.refused), doc);
    if (!outcome.action) return;
    await store.links.save({ ...link, xeroStatus: outcome.action.status });
    await say(round, round.say.stageAction(outcome.action.message), doc);
  });
}

/** Marks documents about to be created in Xero as sent, before the request: a lost answer is looked up (heal-lost.ts). */
export async function sent(round: AnyRound, docs: SalesDocument[]): Promise<void> {
  await round.store.links.markSent(round.memberId, docs.map((d) => ({ b24Type: d.type, b24Id: d.id })));
}

/** Xero refused to create the document: nothing reached it, so the sent mark goes. */
export async function notSent(round: AnyRound, doc: SalesDocument): Promise<void> {
  await round.store.links.clearSent(round.memberId, doc.type, doc.id);
}

/** The customers resolved to Xero contacts by look-up or creation, linked. */
export async function contacts(round: AnyRound, links: ContactLink[]): Promise<void> {
  await saveContactLinks(round.store, round.memberId, round.connection.id, links);
}

/** Xero's figures in an answer, as the link keeps them for the card. */
function figuresOf(state: XeroDocumentState): Omit<LinkFigures, 'asOf' | 'onlineUrl' | 'status'> {
  return {
    total: Decimal.of(state.total).toFixed(2),
    amountPaid: Decimal.of(state.amountPaid).toFixed(2),
    amountDue: Decimal.of(state.amountDue).toFixed(2),
    currency: state.currencyCode,
    dueDate: state.dueDate ?? null,
  };
}
