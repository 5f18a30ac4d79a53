/**
 * Xero sales invoices through the gateway: batch push (create or update in place), look-ups for crash healing and
 * status reads, delete/void, and the online invoice link. Every call goes through `XeroGateway` (limits, retries).
 *
 * Writes: `summarizeErrors=false` so each element answers for itself (docs/reference/xero.md#writes), `unitdp=4`, ≤ 50 invoices per
 * request, and an Idempotency-Key derived from the batch's item keys and versions, so a retried batch is replayed by
 * Xero rather than created twice.
 */
import { Invoice, type Currency } from 'xero-node';
import { AppError } from '../errors.js';
import { XeroApiError } from './errors.js';
import type { XeroGateway } from './gateway.js';
import {
  batchIdempotencyKey, chunked, elementResult, IDS_PER_LOOKUP, pushInBatches, refusal, REFERENCES_PER_LOOKUP, stateOf, whereLiteral,
  type PushItem, type PushResult, type XeroDocumentState,
} from './documents.js';

export type { PushResult, XeroDocumentState } from './documents.js';
/** An invoice as the sync keeps it (the shape shared with quotes). */
export type XeroInvoiceState = XeroDocumentState;

/**
 * Creates or updates invoices, one `POST /Invoices` per ≤ 50; returns a result per item key.
 * A request that fails as a whole (after the gateway's retries) fails each of its items with that error.
 */
export async function pushInvoices(gateway: XeroGateway, tenantId: string, items: PushItem<Invoice>[]): Promise<Map<string, PushResult>> {
  return pushInBatches('invoices', items, async (invoices, idempotencyKey) => {
    const answer = await gateway.call(`sending ${invoices.length} invoice(s)`, (s) =>
      // https://developer.xero.com/documentation/api/accounting/invoices#post-invoices
      s.xero.accountingApi.updateOrCreateInvoices(s.tenantId, { invoices }, false, 4, idempotencyKey),
    );
    return answer.invoices ?? [];
  }, (el) => elementResult('invoice', el, toState));
}

/**
 * ACCREC invoices whose Reference is one of `references` (the Bitrix24 document numbers), for healing a crash
 * between sending and saving the link. One `GET /Invoices?where=Type=="ACCREC" AND (Reference=="…" OR …)` per 25
 * references, `Statuses` excluding DELETED and VOIDED. Returns reference → invoices (several if Xero has duplicates).
 */
export async function findInvoicesByReference(gateway: XeroGateway, tenantId: string, references: string[]): Promise<Map<string, XeroInvoiceState[]>> {
  const found = new Map<string, XeroInvoiceState[]>();
  for (const chunk of chunked([...new Set(references.filter(Boolean))], REFERENCES_PER_LOOKUP)) {
    // Xero's where syntax has AND binding tighter than OR; spell Type out per clause instead of using brackets.
    const where = chunk.map((r) => `Type=="ACCREC" AND Reference==${whereLiteral(r)}`).join(' OR ');
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
  for (const chunk of chunked([...new Set(ids.map((id) => id.toLowerCase()))], IDS_PER_LOOKUP)) {
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
    refusal(err, 'SYNC.CANNOT_REMOVE_INVOICE', `${target === Invoice.StatusEnum.DELETED ? 'delete' : 'void'} the invoice`);
  }
}

/**
 * Approves a draft or submitted invoice (AUTHORISED). The approvals asked in one turn of the event loop on one
 * organisation go out together, one `POST /Invoices` per ≤ 50 (a stage move of many invoices costs one call, not one
 * each): each element names its invoice and the status only, and answers for itself. Xero's refusal of one (e.g. no due
 * date, an archived account) becomes a permanent `SYNC.CANNOT_APPROVE_INVOICE` with Xero's own words for that invoice.
 */
export function approveInvoice(gateway: XeroGateway, _tenantId: string, invoiceId: string): Promise<{ status: string }> {
  let waiting = approvals.get(gateway);
  if (!waiting) {
    const batch = new Map<string, Waiter[]>();
    waiting = batch;
    approvals.set(gateway, batch);
    setImmediate(() => {
      approvals.delete(gateway);
      void approveTogether(gateway, batch);
    });
  }
  const batch = waiting;
  return new Promise((resolve, reject) => batch.set(invoiceId, [...(batch.get(invoiceId) ?? []), { resolve, reject }]));
}

interface Waiter {
  resolve: (v: { status: string }) => void;
  reject: (err: unknown) => void;
}

/** Approvals not sent yet, per organisation's gateway. */
const approvals = new WeakMap<XeroGateway, Map<string, Waiter[]>>();

async function approveTogether(gateway: XeroGateway, batch: Map<string, Waiter[]>): Promise<void> {
  for (const ids of chunked([...batch.keys()], 50)) {
    const settle = (id: string, outcome: { status: string } | Error) => {
      for (const w of batch.get(id) ?? []) outcome instanceof Error ? w.reject(outcome) : w.resolve(outcome);
    };
    try {
      const answer = await gateway.call(`approving ${ids.length} invoice(s)`, (s) =>
        // https://developer.xero.com/documentation/api/accounting/invoices#post-invoices (update one or more; status
        // only: docs/reference/xero.md#invoices)
        s.xero.accountingApi.updateOrCreateInvoices(
          s.tenantId, { invoices: ids.map((id) => ({ invoiceID: id, status: Invoice.StatusEnum.AUTHORISED })) }, false, 4,
          batchIdempotencyKey('approve', [...ids].sort()),
        ),
      );
      const els = answer.invoices ?? [];
      ids.forEach((id, i) => {
        // Each element answers for itself, read as a push's element is (no element: not a refusal, so the move is
        // tried again; a refused one says Xero's words).
        const r = elementResult('invoice', els.find((e) => e.invoiceID?.toLowerCase() === id.toLowerCase()) ?? els[i], toState);
        if (r.ok) settle(id, { status: r.status });
        else settle(id, r.permanent ? new AppError('SYNC.CANNOT_APPROVE_INVOICE', r.message, 409) : new Error(r.message));
      });
    } catch (err) {
      let reason: unknown = err;
      try {
        refusal(err, 'SYNC.CANNOT_APPROVE_INVOICE', 'approve the invoice');
      } catch (e) {
        reason = e;
      }
      for (const id of ids) settle(id, reason as Error);
    }
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

/** The invoice as Xero prints it (PDF bytes). */
export async function invoicePdf(gateway: XeroGateway, tenantId: string, invoiceId: string): Promise<Buffer> {
  const answer = await gateway.call('reading the invoice PDF', (s) =>
    // https://developer.xero.com/documentation/api/accounting/invoices#get-invoices (Accept: application/pdf)
    s.xero.accountingApi.getInvoiceAsPdf(s.tenantId, invoiceId),
  );
  return Buffer.from(answer as Buffer);
}

/** Currency codes the organisation has enabled (for `MappingContext.currencies`). */
export async function listCurrencies(gateway: XeroGateway, tenantId: string): Promise<string[]> {
  const answer = await gateway.call('reading currencies', (s) =>
    // https://developer.xero.com/documentation/api/accounting/currencies
    s.xero.accountingApi.getCurrencies(s.tenantId),
  );
  return (answer.currencies ?? []).map((c: Currency) => String(c.code));
}

function toState(inv: Invoice): XeroDocumentState {
  return stateOf({ ...inv, id: inv.invoiceID, number: inv.invoiceNumber });
}
