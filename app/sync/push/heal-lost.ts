/**
 * Crash healing without adopting a stranger's document. A look-up by reference searches the whole organisation,
 * where anyone may have typed the same number; a found document is taken for the one this connector sent before the
 * crash only when what it sent agrees: the reference (the look-up), the contact it resolved for the customer, the
 * currency, and either the total with a last change after the connector's sent mark, or (the document was edited
 * since) a last change within minutes of that mark, when the lost request was made.
 * A document that differs is left alone (a new one is created and linked instead).
 * The push's build step (build.ts) asks here which Xero document a lost send created.
 */
import type { XeroDocumentState } from '../../xero/documents.js';
import type { Candidate, Round } from './round.js';

/** Xero's clock and ours may differ a little. (Default: 5 minutes) */
const CLOCK_SKEW_MS = 5 * 60_000;
/** How long after the sent mark the lost request may have reached Xero (retries included). (Default: 15 minutes) */
const SEND_WINDOW_MS = 15 * 60_000;

export interface SentDocument {
  contactId: string;
  currency: string;
  /** The document's total as sent (Bitrix24's figure). */
  total: number;
  /** When the connector marked the document as sent (unix ms). */
  sentAt: number | undefined;
}

export function isTheDocumentSent(found: XeroDocumentState, sent: SentDocument): boolean {
  if (sent.sentAt === undefined) return false;
  if (!found.contactId || found.contactId.toLowerCase() !== sent.contactId.toLowerCase()) return false;
  if (found.currencyCode && sent.currency && found.currencyCode.toUpperCase() !== sent.currency.toUpperCase()) return false;
  const changed = found.updatedDateUTC?.getTime();
  if (changed === undefined || changed < sent.sentAt - CLOCK_SKEW_MS) return false;
  return Math.abs(found.total - sent.total) <= 0.01 || changed <= sent.sentAt + SEND_WINDOW_MS;
}

/** Xero documents found by the Reference of a document sent before whose answer was lost. */
export type LostDocuments = Map<string, XeroDocumentState[]>;

/**
 * The Xero documents carrying the Reference of each ready document that was marked sent but never linked: what a
 * send whose answer was lost (a crash between send and save) may have created.
 */
export async function findLost<P>(round: Round<P>, ready: Candidate[]): Promise<LostDocuments> {
  const lost: Array<{ reference: string; sentAt: number }> = [];
  for (const c of ready) {
    const sentAt = c.link ? undefined : await round.store.links.sentAt(round.memberId, c.doc.type, c.doc.id);
    if (sentAt !== undefined) lost.push({ reference: round.kind.reference(c.doc, round.settings), sentAt });
  }
  return lost.length ? round.kind.findLost(round.gateway, round.tenantId, lost) : new Map();
}

/** The Xero document an unlinked document's lost send created, when one found by its Reference is provably it. */
export async function healedOf<P>(round: Round<P>, c: Candidate, contactId: string, lost: LostDocuments): Promise<XeroDocumentState | undefined> {
  const sent = { contactId, currency: c.doc.currency, total: Number(c.doc.total), sentAt: await round.store.links.sentAt(round.memberId, c.doc.type, c.doc.id) };
  return (lost.get(round.kind.reference(c.doc, round.settings)) ?? []).find((found) => isTheDocumentSent(found, sent));
}
