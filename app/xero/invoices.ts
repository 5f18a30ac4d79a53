/**
 * Xero sales invoices through the gateway: batch push (create or update in place), look-ups for crash healing and
 * status reads, delete/void, and the online invoice link. Every call goes through `XeroGateway` (limits, retries).
 *
 * Writes: `summarizeErrors=false` so each element answers for itself (xero-api.md §3), `unitdp=4`, ≤ 50 invoices per
 * request, and an Idempotency-Key derived from the batch's item keys and versions, so a retried batch is replayed by
 * Xero rather than created twice.
 */
import { createHash } from 'node:crypto';
import { Invoice, type Currency, type Invoices } from 'xero-node';
import { AppError } from '../errors.js';
import { validationMessages, XeroApiError } from './errors.js';
import type { XeroGateway } from './gateway.js';

/** Invoices per write request (Xero recommends ≤ 50, xero-api.md §2). */
export const INVOICE_BATCH_SIZE = 50;
/** GUIDs per `IDs=` look-up (URL length, xero-api.md §2). */
export const IDS_PER_LOOKUP = 50;
/** References OR-ed in one `where` (URL length). */
export const REFERENCES_PER_LOOKUP = 25;

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export interface PushItem {
  /** Stable key of the document, e.g. `smart_invoice:42`. */
  key: string;
  invoice: Invoice;
  /** Per-document key for this version of its content, e.g. `smart_invoice:42:<content hash>`. */
  idempotencyKey: string;
}

export interface PushedInvoice {
  ok: true;
  invoiceId: string;
  invoiceNumber: string;
  status: string;
  total: number;
  amountDue: number;
  lineItemIds: string[];
  updatedDateUTC: Date | null;
}

export interface PushFailure {
  ok: false;
  /** True when sending the same again cannot succeed (validation); false for transient trouble. */
  permanent: boolean;
  code: string;
  message: string;
}

export type PushResult = PushedInvoice | PushFailure;

/** A Xero invoice as the sync needs it, with plain dates (`YYYY-MM-DD`) and string status. */
export interface XeroInvoiceState {
  invoiceId: string;
  invoiceNumber: string;
  reference: string;
  status: string;
  total: number;
  amountDue: number;
  amountPaid: number;
  currencyCode: string;
  contactId: string | null;
  lineItemIds: string[];
  updatedDateUTC: Date | null;
}

/**
 * Creates or updates invoices, one `POST /Invoices` per ≤ 50; returns a result per item key.
 * A request that fails as a whole (after the gateway's retries) fails each of its items with that error.
 */
export async function pushInvoices(gateway: XeroGateway, tenantId: string, items: PushItem[]): Promise<Map<string, PushResult>> {
  const results = new Map<string, PushResult>();
  for (let i = 0; i < items.length; i += INVOICE_BATCH_SIZE) {
    const batch = items.slice(i, i + INVOICE_BATCH_SIZE);
    const body: Invoices = { invoices: batch.map((b) => b.invoice) };
    const idempotencyKey = batchIdempotencyKey('invoices', batch.map((b) => b.idempotencyKey));
    try {
      const answer = await gateway.call(`sending ${batch.length} invoice(s)`, (s) =>
        // https://developer.xero.com/documentation/api/accounting/invoices#post-invoices
        s.xero.accountingApi.updateOrCreateInvoices(s.tenantId, body, false, 4, idempotencyKey),
      );
      const elements = answer.invoices ?? [];
      batch.forEach((item, n) => results.set(item.key, elementResult(elements[n])));
    } catch (err) {
      const failure = failureOf(err);
      for (const item of batch) results.set(item.key, failure);
    }
  }
  return results;
}

/**
 * ACCREC invoices whose Reference is one of `references` (the Bitrix24 document numbers), for healing a crash
 * between sending and saving the link. One `GET /Invoices?where=Type=="ACCREC" AND (Reference=="…" OR …)` per 25
 * references, `Statuses` excluding DELETED and VOIDED. Returns reference → invoices (several if Xero has duplicates).
 */
export async function findInvoicesByReference(gateway: XeroGateway, tenantId: string, references: string[]): Promise<Map<string, XeroInvoiceState[]>> {
  const found = new Map<string, XeroInvoiceState[]>();
  const unique = [...new Set(references.filter(Boolean))];
  for (let i = 0; i < unique.length; i += REFERENCES_PER_LOOKUP) {
    const chunk = unique.slice(i, i + REFERENCES_PER_LOOKUP);
    // Xero's where syntax has AND binding tighter than OR; spell Type out per clause instead of using brackets.
    const where = chunk.map((r) => `Type=="ACCREC" AND Reference==${quote(r)}`).join(' OR ');
    const answer = await gateway.call('looking up invoices by reference', (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#get-invoices
      s.xero.accountingApi.getInvoices(s.tenantId, undefined, where, undefined, undefined, undefined, undefined, ['DRAFT', 'SUBMITTED', 'AUTHORISED', 'PAID'], 1, undefined, undefined, 4, undefined, 100),
    );
    for (const inv of answer.invoices ?? []) {
      const state = toState(inv);
      const ref = chunk.find((r) => r === state.reference);
      if (ref) found.set(ref, [...(found.get(ref) ?? []), state]);
    }
  }
  return found;
}

/** Invoices by Xero id (with line item ids), `IDs=` in batches of ≤ 50, paged so lines are included. */
export async function getInvoices(gateway: XeroGateway, tenantId: string, ids: string[]): Promise<Map<string, XeroInvoiceState>> {
  const out = new Map<string, XeroInvoiceState>();
  const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
  for (let i = 0; i < unique.length; i += IDS_PER_LOOKUP) {
    const chunk = unique.slice(i, i + IDS_PER_LOOKUP);
    const answer = await gateway.call(`reading ${chunk.length} invoice(s)`, (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#get-invoices
      s.xero.accountingApi.getInvoices(s.tenantId, undefined, undefined, undefined, chunk, undefined, undefined, undefined, 1, undefined, undefined, 4, undefined, 100),
    );
    for (const inv of answer.invoices ?? []) out.set(String(inv.invoiceID).toLowerCase(), toState(inv));
  }
  return out;
}

/**
 * Removes a document's invoice from Xero the way Xero allows: DRAFT/SUBMITTED → DELETED, AUTHORISED without
 * payments → VOIDED. Paid or part-paid invoices, and anything Xero refuses, end in a permanent `AppError` with
 * Xero's reason. `status` is the last known status (it decides which change to ask for).
 */
export async function deleteOrVoidInvoice(gateway: XeroGateway, tenantId: string, invoiceId: string, status: string): Promise<{ status: string }> {
  const current = status.toUpperCase();
  if (current === 'DELETED' || current === 'VOIDED') return { status: current };
  let target: Invoice.StatusEnum;
  if (current === 'DRAFT' || current === 'SUBMITTED') target = Invoice.StatusEnum.DELETED;
  else if (current === 'AUTHORISED') target = Invoice.StatusEnum.VOIDED;
  else {
    throw new AppError(
      'SYNC.CANNOT_REMOVE_INVOICE',
      `The Xero invoice is ${current}, so it cannot be deleted or voided. Remove its payments in Xero first, or credit it there.`,
      409,
    );
  }
  try {
    const answer = await gateway.call(target === Invoice.StatusEnum.DELETED ? 'deleting an invoice' : 'voiding an invoice', (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#post-invoices (update status)
      s.xero.accountingApi.updateInvoice(s.tenantId, invoiceId, { invoices: [{ status: target }] }, 4, `status:${invoiceId}:${String(target)}`),
    );
    return { status: String(answer.invoices?.[0]?.status ?? target) };
  } catch (err) {
    const e = err instanceof XeroApiError ? err : null;
    if (e?.kind === 'validation') {
      throw new AppError('SYNC.CANNOT_REMOVE_INVOICE', `Xero refused to ${target === Invoice.StatusEnum.DELETED ? 'delete' : 'void'} the invoice: ${e.validationMessages.join(' ') || e.message}`, 409);
    }
    throw err;
  }
}

/**
 * Approves a draft or submitted invoice (AUTHORISED). Xero's refusal (e.g. no due date, an archived account) becomes a
 * permanent `SYNC.CANNOT_APPROVE_INVOICE` with Xero's own words.
 */
export async function approveInvoice(gateway: XeroGateway, tenantId: string, invoiceId: string): Promise<{ status: string }> {
  try {
    const answer = await gateway.call('approving an invoice', (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#post-invoices (update status)
      s.xero.accountingApi.updateInvoice(s.tenantId, invoiceId, { invoices: [{ status: Invoice.StatusEnum.AUTHORISED }] }, 4, `status:${invoiceId}:AUTHORISED`),
    );
    return { status: String(answer.invoices?.[0]?.status ?? 'AUTHORISED') };
  } catch (err) {
    const e = err instanceof XeroApiError ? err : null;
    if (e?.kind === 'validation') {
      throw new AppError('SYNC.CANNOT_APPROVE_INVOICE', `Xero refused to approve the invoice: ${e.validationMessages.join(' ') || e.message}`, 409);
    }
    throw err;
  }
}

/** The customer-facing online invoice URL; null while Xero offers none (DRAFT/SUBMITTED). */
export async function onlineInvoiceUrl(gateway: XeroGateway, tenantId: string, invoiceId: string): Promise<string | null> {
  try {
    const answer = await gateway.call('reading the online invoice link', (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#get-online-invoice
      s.xero.accountingApi.getOnlineInvoice(s.tenantId, invoiceId),
    );
    return answer.onlineInvoices?.[0]?.onlineInvoiceUrl ?? null;
  } catch (err) {
    if (err instanceof XeroApiError && (err.kind === 'validation' || err.kind === 'not_found')) return null;
    throw err;
  }
}

/** Currency codes the organisation has enabled (for `MappingContext.currencies`). */
export async function listCurrencies(gateway: XeroGateway, tenantId: string): Promise<string[]> {
  const answer = await gateway.call('reading currencies', (s) =>
    // https://developer.xero.com/documentation/api/accounting/currencies
    s.xero.accountingApi.getCurrencies(s.tenantId),
  );
  return (answer.currencies ?? []).map((c: Currency) => String(c.code));
}

/** One key per batch content: the same items in the same versions give the same key (≤ 128 chars). */
export function batchIdempotencyKey(kind: string, itemKeys: string[]): string {
  return `${kind}:${createHash('sha256').update(itemKeys.join('\n')).digest('hex')}`;
}

function elementResult(el: Invoice | undefined): PushResult {
  if (!el) return { ok: false, permanent: false, code: 'XERO.NO_ANSWER', message: 'Xero did not answer for this invoice; it will be sent again.' };
  const messages = validationMessages([el]);
  const failed = el.hasErrors === true || el.statusAttributeString === 'ERROR' || !el.invoiceID || el.invoiceID === ZERO_GUID || messages.length > 0;
  if (failed) {
    return {
      ok: false,
      permanent: true,
      code: 'XERO.VALIDATION',
      message: `Xero did not accept the invoice: ${messages.join(' ') || 'no reason given'}`,
    };
  }
  const s = toState(el);
  return {
    ok: true,
    invoiceId: s.invoiceId,
    invoiceNumber: s.invoiceNumber,
    status: s.status,
    total: s.total,
    amountDue: s.amountDue,
    lineItemIds: s.lineItemIds,
    updatedDateUTC: s.updatedDateUTC,
  };
}

function failureOf(err: unknown): PushFailure {
  if (err instanceof XeroApiError) {
    return { ok: false, permanent: !err.transient && err.kind !== 'unauthorized', code: err.code, message: err.message };
  }
  if (err instanceof AppError) return { ok: false, permanent: false, code: err.code, message: err.message };
  return { ok: false, permanent: false, code: 'XERO.UNEXPECTED', message: `Sending to Xero failed unexpectedly: ${(err as Error)?.message ?? String(err)}` };
}

function toState(inv: Invoice): XeroInvoiceState {
  return {
    invoiceId: String(inv.invoiceID ?? ''),
    invoiceNumber: String(inv.invoiceNumber ?? ''),
    reference: String(inv.reference ?? ''),
    status: String(inv.status ?? ''),
    total: Number(inv.total ?? 0),
    amountDue: Number(inv.amountDue ?? 0),
    amountPaid: Number(inv.amountPaid ?? 0),
    currencyCode: String(inv.currencyCode ?? ''),
    contactId: inv.contact?.contactID ?? null,
    lineItemIds: (inv.lineItems ?? []).map((l) => String(l.lineItemID)),
    updatedDateUTC: inv.updatedDateUTC instanceof Date ? inv.updatedDateUTC : inv.updatedDateUTC ? new Date(String(inv.updatedDateUTC)) : null,
  };
}

/** A string literal for Xero's `where` (double quotes escaped). */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
