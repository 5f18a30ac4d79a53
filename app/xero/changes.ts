/**
 * What changed in Xero: invoices and quotes modified since a moment (`If-Modified-Since`, paged up to 1000 per
 * page for invoices, docs/reference/xero.md#reads), and invoices by id for webhook events (`IDs=`, ≤ 50 per call, same section).
 * Answers are mapped once here into `XeroChange`, the only shape the status pull sees.
 */
import type { Invoice, Quote } from 'xero-node';
import { Decimal } from '../domain/money.js';
import type { XeroGateway } from './gateway.js';
import { dayOf } from './documents.js';
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
  /** An invoice's due date, a quote's expiry date (YYYY-MM-DD), when Xero gives one. */
  dueDate: string | null;
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
export function invoicesModifiedSince(gateway: XeroGateway, since: Date): Promise<ChangesRead> {
  return changedSince(since, CHANGES_PAGE_SIZE, async (from, page) => {
    const answer = await gateway.call('reading changed invoices', (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#get-invoices (If-Modified-Since, page, pageSize)
      s.xero.accountingApi.getInvoices(s.tenantId, from, 'Type=="ACCREC"', 'UpdatedDateUTC ASC', undefined, undefined, undefined, undefined, page, undefined, undefined, undefined, undefined, CHANGES_PAGE_SIZE),
    );
    return (answer.invoices ?? []).map(fromInvoice);
  });
}

/** Quotes created or modified at or after `since`, every page (Xero pages quotes by 100). */
export function quotesModifiedSince(gateway: XeroGateway, since: Date): Promise<ChangesRead> {
  return changedSince(since, 100, async (from, page) => {
    const answer = await gateway.call('reading changed quotes', (s) =>
      // https://developer.xero.com/documentation/api/accounting/quotes#get-quotes (If-Modified-Since, page)
      s.xero.accountingApi.getQuotes(s.tenantId, from, undefined, undefined, undefined, undefined, undefined, undefined, page, 'UpdatedDateUTC ASC'),
    );
    return (answer.quotes ?? []).map(fromQuote);
  });
}

/**
 * Everything changed since a moment, in Xero's UpdatedDateUTC order. After a full page the next read asks again from
 * the newest change read so far, not for the next page number: a document changed during the read moves to the end
 * of the order, and every later one moves up a place, so with page numbers the one that slid into a page already
 * read would be skipped, and the watermark would pass it for good. Xero compares If-Modified-Since by the second, so
 * the changes of that second are read again (counted once). Page numbers serve only while a whole page changed
 * within one second, where there is no newer moment to ask from.
 */
async function changedSince(since: Date, pageSize: number, readPage: (from: Date, page: number) => Promise<XeroChange[]>): Promise<ChangesRead> {
  const byId = new Map<string, XeroChange>();
  const second = (ms: number) => Math.floor(ms / 1000) * 1000;
  let from = since;
  let page = 1;
  for (let call = 1; call <= MAX_PAGES_PER_POLL; call++) {
    const read = await readPage(from, page);
    for (const change of read) byId.set(change.id.toLowerCase(), change);
    if (read.length < pageSize) return { changes: [...byId.values()], calls: call, complete: true };
    const newest = second(Math.max(...read.map((c) => c.updatedAt ?? 0)));
    if (newest > second(from.getTime())) {
      from = new Date(newest);
      page = 1;
    } else {
      page += 1;
    }
  }
  return { changes: [...byId.values()], calls: MAX_PAGES_PER_POLL, complete: false };
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
    dueDate: s.dueDate ?? null,
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
    dueDate: dayOf(inv.dueDate),
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
    dueDate: dayOf(q.expiryDate),
    updatedAt: timeOf(q.updatedDateUTC),
  };
}

/** xero-node turns `/Date(…)/` into a Date although it types some as string (docs/reference/xero.md#xero-node). */
function timeOf(v: unknown): number | null {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' && v) {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}
