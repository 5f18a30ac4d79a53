/**
 * Xero quotes through the gateway: batch push (create or update in place), reads by id, look-ups for crash healing
 * and status changes along Xero's allowed transitions. Every call goes through `XeroGateway` (limits, retries).
 *
 * Quotes differ from invoices on the wire (docs/reference/xero.md#quotes, `xero_accounting.yaml` /Quotes): no `IDs=` and no `where`
 * filter on `GET /Quotes` (a quote is read by id, or found among those modified since a moment), no `unitdp`, upper-case
 * line amount types, and the statuses DRAFT → SENT → ACCEPTED | DECLINED, ACCEPTED → INVOICED, and DELETED.
 */
import type { Quote } from 'xero-node';
import { QuoteStatusCodes } from 'xero-node';
import { AppError } from '../errors.js';
import { XeroApiError } from './errors.js';
import type { XeroGateway } from './gateway.js';
import { elementResult, pushInBatches, refusal, stateOf, type PushItem, type PushResult, type XeroDocumentState } from './documents.js';

/** Quotes per page of `GET /Quotes` (Xero's fixed page size for quotes). */
const QUOTES_PAGE_SIZE = 100;
/** Pages read at most when looking for quotes lost in a crash. */
const MAX_LOOKUP_PAGES = 10;

/**
 * Xero's allowed quote transitions (docs/reference/xero.md#quotes; the emulator follows the same table). A target one step away is
 * reached directly; a draft or declined quote goes through SENT to reach ACCEPTED or DECLINED (Xero has no direct
 * DRAFT → ACCEPTED). No other detours are taken: an accepted or invoiced quote is not walked back by itself.
 */
export const QUOTE_TRANSITIONS: Readonly<Record<string, readonly string[]>> = {
  DRAFT: ['SENT', 'DELETED'], SENT: ['ACCEPTED', 'DECLINED', 'DELETED'], DECLINED: ['SENT', 'DELETED'],
  ACCEPTED: ['SENT', 'DELETED', 'INVOICED'], INVOICED: ['SENT', 'DELETED'], DELETED: [],
};

/** The statuses a quote passes from `from` to `to` (excluding `from`); null when Xero allows no such change. */
export function quotePath(from: string, to: string): string[] | null {
  if (from === to) return [];
  const allowed = (a: string, b: string) => (QUOTE_TRANSITIONS[a] ?? []).includes(b);
  if (allowed(from, to)) return [to];
  if ((from === 'DRAFT' || from === 'DECLINED') && allowed(from, 'SENT') && allowed('SENT', to)) return ['SENT', to];
  return null;
}

/** Creates or updates quotes, one `POST /Quotes` per ≤ 50; returns a result per item key. */
export async function pushQuotes(gateway: XeroGateway, tenantId: string, items: PushItem<Quote>[]): Promise<Map<string, PushResult>> {
  return pushInBatches('quotes', items, async (quotes, idempotencyKey) => {
    const answer = await gateway.call(`sending ${quotes.length} quote(s)`, (s) =>
      // https://developer.xero.com/documentation/api/accounting/quotes#post-quotes
      s.xero.accountingApi.updateOrCreateQuotes(s.tenantId, { quotes }, false, idempotencyKey),
    );
    return answer.quotes ?? [];
  }, (el) => elementResult('quote', el, toState));
}

/** Quotes by Xero id, one `GET /Quotes/{QuoteID}` each (the quotes endpoint has no `IDs=` filter). */
export async function getQuotes(gateway: XeroGateway, tenantId: string, ids: string[]): Promise<Map<string, XeroDocumentState>> {
  const out = new Map<string, XeroDocumentState>();
  for (const id of new Set(ids.map((x) => x.toLowerCase()))) {
    try {
      const answer = await gateway.call('reading a quote', (s) =>
        // https://developer.xero.com/documentation/api/accounting/quotes#get-quotes
        s.xero.accountingApi.getQuote(s.tenantId, id),
      );
      const q = answer.quotes?.[0];
      if (q) out.set(id, toState(q));
    } catch (err) {
      if (!(err instanceof XeroApiError && err.kind === 'not_found')) throw err;
    }
  }
  return out;
}

/**
 * The order a look-up pages quotes in: by QuoteID, which never changes. Paging by a field that moves (UpdatedDateUTC)
 * skips quotes: one changed while the look-up reads (another push healing its own, a person in Xero) jumps to the end
 * of the list, the rest slide one place forward, and the first quote of the next page falls into the page already
 * read. The modified-since set only grows (a change never makes a quote older), so in a fixed order a change during
 * the read can only repeat a quote on a later page, never hide one. Xero: `order` "Order by an any element"
 * (xero_accounting.yaml GET /Quotes).
 */
const LOOKUP_ORDER = 'QuoteID ASC';

/**
 * Quotes whose Reference is one of `references`, among those modified since `since` (the moment the lost ones were
 * sent): `GET /Quotes` with `If-Modified-Since`, paged in a fixed order (`LOOKUP_ORDER`). Returns reference → quotes
 * (several if Xero has duplicates).
 */
export async function findQuotesByReference(gateway: XeroGateway, tenantId: string, references: string[], since: Date): Promise<Map<string, XeroDocumentState[]>> {
  const wanted = new Set(references.filter(Boolean));
  const found = new Map<string, XeroDocumentState[]>();
  if (wanted.size === 0) return found;
  for (let page = 1; page <= MAX_LOOKUP_PAGES; page++) {
    const answer = await gateway.call('looking up quotes by reference', (s) =>
      // https://developer.xero.com/documentation/api/accounting/quotes#get-quotes (If-Modified-Since, page)
      s.xero.accountingApi.getQuotes(s.tenantId, since, undefined, undefined, undefined, undefined, undefined, undefined, page, LOOKUP_ORDER),
    );
    const quotes = answer.quotes ?? [];
    for (const q of quotes) {
      const state = toState(q);
      if (!wanted.has(state.reference)) continue;
      // A quote read again (changed during the read) counts once, as last read.
      const others = (found.get(state.reference) ?? []).filter((x) => x.id.toLowerCase() !== state.id.toLowerCase());
      found.set(state.reference, state.status === 'DELETED' ? others : [...others, state]);
    }
    if (quotes.length < QUOTES_PAGE_SIZE) break;
  }
  return found;
}

/**
 * Moves a quote to `target` through Xero's allowed transitions, one `POST /Quotes/{QuoteID}` per step. A target no
 * path reaches, or a step Xero refuses, ends in a permanent `SYNC.QUOTE_TRANSITION_REFUSED` saying why; steps already
 * taken stay taken (the returned status is where the quote stands).
 */
export async function moveQuote(gateway: XeroGateway, tenantId: string, quoteId: string, from: string, target: string): Promise<{ status: string; steps: string[] }> {
  const path = quotePath(from, target);
  if (!path) {
    throw new AppError('SYNC.QUOTE_TRANSITION_REFUSED', `Xero does not allow a quote that is ${from} to become ${target}.`, 409, { from, target });
  }
  let status = from;
  for (const step of path) {
    try {
      const answer = await gateway.call(`marking a quote ${step}`, (s) =>
        // https://developer.xero.com/documentation/api/accounting/quotes#post-quotes (update status)
        s.xero.accountingApi.updateQuote(s.tenantId, quoteId, { quotes: [{ status: QuoteStatusCodes[step as keyof typeof QuoteStatusCodes] } as Quote] }, `status:${quoteId}:${from}:${step}`),
      );
      const el = answer.quotes?.[0];
      if (el?.validationErrors?.length) throw new AppError('SYNC.QUOTE_TRANSITION_REFUSED', `Xero refused to mark the quote ${step}: ${el.validationErrors.map((v) => v.message).join(' ')}`, 409);
      status = String(el?.status ?? step);
    } catch (err) {
      if (err instanceof AppError && err.code === 'SYNC.QUOTE_TRANSITION_REFUSED') throw err;
      refusal(err, 'SYNC.QUOTE_TRANSITION_REFUSED', `mark the quote ${step}${status !== from ? ` (it is ${status} now)` : ''}`);
    }
  }
  return { status, steps: path };
}

function toState(q: Quote): XeroDocumentState {
  return stateOf({ ...q, id: q.quoteID, number: q.quoteNumber, dueDate: q.expiryDate });
}
