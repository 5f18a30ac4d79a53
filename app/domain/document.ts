/**
 * The neutral model of a Bitrix24 sales document (smart invoice, classic invoice or quote), read once at the
 * edge (bitrix/documents.ts) so the use cases never see Bitrix24's raw field names.
 */
import type { Decimal } from './money.js';

export type DocumentType = 'smart_invoice' | 'invoice' | 'quote';

export type LineDiscount = { kind: 'percent'; rate: Decimal } | { kind: 'amount'; perUnit: Decimal } | null;

export interface DocumentLine {
  /** Bitrix24 catalog product id; null for a free-text row. */
  productId: string | null;
  name: string;
  quantity: Decimal;
  /** Unit price before discount; includes tax when `taxIncluded`. */
  unitPrice: Decimal;
  discount: LineDiscount;
  /** VAT rate in percent; null when the row has no VAT. */
  taxRate: Decimal | null;
  taxIncluded: boolean;
  /** Line total as Bitrix24 computed it: after discount, with tax. */
  total: Decimal;
  /** Xero sales account of the product (its GL property), when set. */
  accountCode: string | null;
}

export interface DocumentCustomer {
  kind: 'company' | 'contact';
  id: string;
  name: string;
  email: string | null;
  firstName?: string | null;
  lastName?: string | null;
}

export interface SalesDocument {
  type: DocumentType;
  id: string;
  /** The Bitrix24 document number (accountNumber); sent to Xero as Reference. */
  number: string;
  title: string;
  currency: string;
  /** YYYY-MM-DD */
  issueDate: string | null;
  /** YYYY-MM-DD */
  dueDate: string | null;
  customer: DocumentCustomer | null;
  /** Stage (smart invoice, quote) or STATUS_ID (classic invoice). */
  stageId: string | null;
  categoryId: number | null;
  lines: DocumentLine[];
  /** Document total in Bitrix24 (opportunity / PRICE). */
  total: Decimal;
  /** Quotes: the text shown under the title (Bitrix24 `content`), and the terms. */
  summary?: string | null;
  terms?: string | null;
  /** Smart invoices made from a quote: the quote's Bitrix24 id (`parentId7`). */
  parentQuoteId?: string | null;
  /** The Xero number of that quote, when the connector pushed it (named in the invoice's Reference). */
  quoteNumber?: string | null;
  /** The document's custom (UF) fields as Bitrix24 returns them, e.g. `ufCrm_Region` (the tracking setting reads one). */
  fields?: Record<string, unknown>;
  /** When Bitrix24 says the document was created and last changed (its own clock, ms; null when it does not say). */
  times?: { createdAt: number | null; updatedAt: number | null };
}

/** The subject of a document in the activity log and job keys, e.g. `smart_invoice:42`. */
export function subjectOf(doc: Pick<SalesDocument, 'type' | 'id'>): string {
  return `${doc.type}:${doc.id}`;
}
