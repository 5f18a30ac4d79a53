/**
 * What changed in Xero: invoices and quotes modified since a moment (`If-Modified-Since`, paged up to 1000 per
 * page for invoices, xero-api.md §3), and invoices by id for webhook events (`IDs=`, ≤ 50 per call, §2).
 * Answers are mapped once here into `XeroChange`, the only shape the status pull sees.
 */
import type { Invoice, Quote } from 'xero-node';
import { Decimal } from '../money.js';
import type { XeroGateway } from './gateway.js';
import { getInvoices } from './invoices.js';

/** Invoices per page of a modified-since read (Xero's maximum). */
export const CHANGES_PAGE_SIZE = 1000;
/** Pages read in one poll at most; the rest is read by the next poll (the watermark only moves over what was read). */
export const MAX_PAGES_PER_POLL = 20;

export interface XeroChange {
  kind: 'invoice' | 'quote';
  id: string;
  number: string;
  status: string;
  currency: string;
  total: Decimal;
  amountPaid: Decimal;
  amountDue: Decimal;
  updatedAt: number | null;
}

export interface ChangesRead {
  changes: XeroChange[];
  /** Xero calls made. */
  calls: number;
  /** False when MAX_PAGES_PER_POLL stopped the read early. */
  complete: boolean;
}

/** ACCREC invoices created or modified at or after `since`, every page. */
export async function invoicesModifiedSince(gateway: XeroGateway, since: Date): Promise<ChangesRead> {
  const changes: XeroChange[] = [];
  for (let page = 1; page <= MAX_PAGES_PER_POLL; page++) {
    const answer = await gateway.call('reading changed invoices', (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#get-invoices (If-Modified-Since, page, pageSize)
      s.xero.accountingApi.getInvoices(s.tenantId, since, 'Type=="ACCREC"', 'UpdatedDateUTC ASC', undefined, undefined, undefined, undefined, page, undefined, undefined, undefined, undefined, CHANGES_PAGE_SIZE),
    );
    const invoices = answer.invoices ?? [];
    changes.push(...invoices.map(fromInvoice));
    if (invoices.length < CHANGES_PAGE_SIZE) return { changes, calls: page, complete: true };
  }
  return { changes, calls: MAX_PAGES_PER_POLL, complete: false };
}

/** Quotes created or modified at or after `since`, every page (Xero pages quotes by 100). */
export async function quotesModifiedSince(gateway: XeroGateway, since: Date): Promise<ChangesRead> {
  const changes: XeroChange[] = [];
  for (let page = 1; page <= MAX_PAGES_PER_POLL; page++) {
    const answer = await gateway.call('reading changed quotes', (s) =>
      // https://developer.xero.com/documentation/api/accounting/quotes#get-quotes (If-Modified-Since, page)
      s.xero.accountingApi.getQuotes(s.tenantId, since, undefined, undefined, undefined, undefined, undefined, undefined, page, 'UpdatedDateUTC ASC'),
    );
    const quotes = answer.quotes ?? [];
    changes.push(...quotes.map(fromQuote));
    if (quotes.length < 100) return { changes, calls: page, complete: true };
  }
  return { changes, calls: MAX_PAGES_PER_POLL, complete: false };
}

/** Invoices by id, one `GET /Invoices?IDs=` per 50 (reuses the push side's reader). */
export async function invoicesByIds(gateway: XeroGateway, tenantId: string, ids: string[]): Promise<ChangesRead> {
  const before = gateway.stats.calls;
  const found = await getInvoices(gateway, tenantId, ids);
  const changes = [...found.values()].map((s) => ({
    kind: 'invoice' as const,
    id: s.id,
    number: s.number,
    status: s.status,
    currency: s.currencyCode,
    total: Decimal.of(s.total),
    amountPaid: Decimal.of(s.amountPaid),
    amountDue: Decimal.of(s.amountDue),
    updatedAt: s.updatedDateUTC ? s.updatedDateUTC.getTime() : null,
  }));
  return { changes, calls: gateway.stats.calls - before, complete: true };
}

function fromInvoice(inv: Invoice): XeroChange {
  return {
    kind: 'invoice',
    id: String(inv.invoiceID ?? ''),
    number: String(inv.invoiceNumber ?? ''),
    status: String(inv.status ?? ''),
    currency: String(inv.currencyCode ?? ''),
    total: Decimal.of(inv.total ?? 0),
    amountPaid: Decimal.of(inv.amountPaid ?? 0),
    amountDue: Decimal.of(inv.amountDue ?? 0),
    updatedAt: timeOf(inv.updatedDateUTC),
  };
}

function fromQuote(q: Quote): XeroChange {
  return {
    kind: 'quote',
    id: String(q.quoteID ?? ''),
    number: String(q.quoteNumber ?? ''),
    status: String(q.status ?? ''),
    currency: String(q.currencyCode ?? ''),
    total: Decimal.of(q.total ?? 0),
    amountPaid: Decimal.ZERO,
    amountDue: Decimal.ZERO,
    updatedAt: timeOf(q.updatedDateUTC),
  };
}

/** xero-node turns `/Date(…)/` into a Date although it types some as string (xero-api.md §9). */
function timeOf(v: unknown): number | null {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && v) {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}
