/**
 * Crash healing without adopting a stranger's document. A look-up by reference searches the whole organisation,
 * where anyone may have typed the same number; a found document is taken for the one this connector sent before the
 * crash only when what it sent agrees: the reference (the look-up), the contact it resolved for the customer, the
 * currency, and either the total with a last change after the connector's sent mark, or (the document was edited
 * since) a last change within minutes of that mark, when the lost request was made.
 * A document that differs is left alone (a new one is created and linked instead).
 */
import type { XeroDocumentState } from '../../xero/documents.js';

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
