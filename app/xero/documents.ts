/**
 * What Xero's sales documents (invoices and quotes) have in common on the wire: the state the sync keeps of one,
 * the batched write (≤ 50 per request, `summarizeErrors=false`, one Idempotency-Key per batch content) and how an
 * element or a whole request failing becomes a result per document. `invoices.ts` and `quotes.ts` speak their own
 * endpoints through these.
 */
import { createHash } from 'node:crypto';
import { AppError, LimitReached } from '../errors.js';
import { validationMessages, XeroApiError } from './errors.js';

/** Documents per write request (Xero recommends ≤ 50, docs/reference/xero.md#writes). */
export const DOCUMENT_BATCH_SIZE = 50;
/** GUIDs per `IDs=` look-up (URL length, docs/reference/xero.md#reads). */
export const IDS_PER_LOOKUP = 50;
/** References OR-ed in one `where` (URL length). */
export const REFERENCES_PER_LOOKUP = 25;

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

/** A Xero invoice or quote as the sync needs it, with a string status. */
export interface XeroDocumentState {
  /** InvoiceID or QuoteID. */
  id: string;
  /** InvoiceNumber or QuoteNumber. */
  number: string;
  reference: string;
  status: string;
  total: number;
  /** Invoices only; 0 for quotes. */
  amountDue: number;
  amountPaid: number;
  currencyCode: string;
  contactId: string | null;
  lineItemIds: string[];
  updatedDateUTC: Date | null;
  /** Due date of an invoice, expiry date of a quote (YYYY-MM-DD), when Xero gives one. */
  dueDate?: string | null;
}

export interface PushItem<P> {
  /** Stable key of the document, e.g. `smart_invoice:42`. */
  key: string;
  payload: P;
  /** Per-document key for this version of its content, e.g. `smart_invoice:42:<content hash>:new`. */
  idempotencyKey: string;
}

export type PushedDocument = { ok: true } & XeroDocumentState;

export interface PushFailure {
  ok: false;
  /** True when sending the same again cannot succeed (validation); false for transient trouble. */
  permanent: boolean;
  code: string;
  message: string;
  /** A limit of Xero's holds the document until then (epoch ms): it waits in the queue (LimitReached). */
  retryAt?: number;
}

export type PushResult = PushedDocument | PushFailure;

/**
 * Sends items in batches of ≤ 50 through `send` (one request each, with the batch's Idempotency-Key) and answers per
 * item key: each element for itself, or the error of a request that failed as a whole for all of its items.
 */
export async function pushInBatches<P, E>(
  kind: 'invoices' | 'quotes',
  items: PushItem<P>[],
  send: (payloads: P[], idempotencyKey: string) => Promise<E[]>,
  resultOf: (element: E | undefined) => PushResult,
): Promise<Map<string, PushResult>> {
  const results = new Map<string, PushResult>();
  for (let i = 0; i < items.length; i += DOCUMENT_BATCH_SIZE) {
    const batch = items.slice(i, i + DOCUMENT_BATCH_SIZE);
    try {
      const elements = await send(batch.map((b) => b.payload), batchIdempotencyKey(kind, batch.map((b) => b.idempotencyKey)));
      batch.forEach((item, n) => results.set(item.key, resultOf(elements[n])));
    } catch (err) {
      const failure = failureOf(err);
      for (const item of batch) results.set(item.key, failure);
    }
  }
  return results;
}

/** One element of a batch answer: its state, or Xero's validation messages as a permanent failure. */
export function elementResult<E extends { hasErrors?: boolean; statusAttributeString?: string }>(
  noun: 'invoice' | 'quote',
  el: E | undefined,
  toState: (el: E) => XeroDocumentState,
): PushResult {
  if (!el) return { ok: false, permanent: false, code: 'XERO.NO_ANSWER', message: `Xero did not answer for this ${noun}; it will be sent again.` };
  const messages = validationMessages([el]);
  const state = toState(el);
  const failed = el.hasErrors === true || el.statusAttributeString === 'ERROR' || !state.id || state.id === ZERO_GUID || messages.length > 0;
  if (failed) return { ok: false, permanent: true, code: 'XERO.VALIDATION', message: `Xero did not accept the ${noun}: ${messages.join(' ') || 'no reason given'}` };
  return { ok: true, ...state };
}

/** One key per batch content: the same items in the same versions give the same key (≤ 128 chars). */
export function batchIdempotencyKey(kind: string, itemKeys: string[]): string {
  return `${kind}:${createHash('sha256').update(itemKeys.join('\n')).digest('hex')}`;
}

export function failureOf(err: unknown): PushFailure {
  if (err instanceof XeroApiError) {
    return { ok: false, permanent: !err.transient && err.kind !== 'unauthorized', code: err.code, message: err.message };
  }
  if (err instanceof LimitReached) return { ok: false, permanent: false, code: err.code, message: err.message, retryAt: err.retryAt };
  if (err instanceof AppError) return { ok: false, permanent: false, code: err.code, message: err.message };
  return { ok: false, permanent: false, code: 'XERO.UNEXPECTED', message: `Sending to Xero failed unexpectedly: ${(err as Error)?.message ?? String(err)}` };
}

/**
 * A status change Xero refuses (validation) becomes a permanent `AppError` with `code` and Xero's own words;
 * anything else (transient trouble) is thrown as it is.
 */
export function refusal(err: unknown, code: string, what: string): never {
  const e = err instanceof XeroApiError ? err : null;
  if (e?.kind === 'validation') throw new AppError(code, `Xero refused to ${what}: ${e.validationMessages.join(' ') || e.message}`, 409);
  throw err;
}

/** Splits `xs` into chunks of `size`. */
export function chunked<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** A string literal for Xero's `where` (double quotes escaped). */
export function whereLiteral(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The state of an invoice or quote from xero-node's answer, its id and number named by the caller. */
export function stateOf(raw: {
  id?: string; number?: string; reference?: string; status?: unknown; total?: number; amountDue?: number; amountPaid?: number;
  currencyCode?: unknown; contact?: { contactID?: string }; lineItems?: { lineItemID?: string }[]; updatedDateUTC?: unknown; dueDate?: unknown;
}): XeroDocumentState {
  return {
    id: String(raw.id ?? ''),
    number: String(raw.number ?? ''),
    reference: String(raw.reference ?? ''),
    status: String(raw.status ?? ''),
    total: Number(raw.total ?? 0),
    amountDue: Number(raw.amountDue ?? 0),
    amountPaid: Number(raw.amountPaid ?? 0),
    currencyCode: String(raw.currencyCode ?? ''),
    contactId: raw.contact?.contactID ?? null,
    lineItemIds: (raw.lineItems ?? []).map((l) => String(l.lineItemID)),
    updatedDateUTC: dateOf(raw.updatedDateUTC),
    dueDate: dayOf(raw.dueDate),
  };
}

/** A Xero date as `YYYY-MM-DD`: xero-node gives a Date, a `YYYY-MM-DD…` string or Xero's `/Date(ms+0000)/`. */
export function dayOf(v: unknown): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString().slice(0, 10);
  const s = String(v);
  const ms = /\/Date\((-?\d+)/.exec(s)?.[1];
  if (ms) return new Date(Number(ms)).toISOString().slice(0, 10);
  return /^\d{4}-\d{2}-\d{2}/.test(s) ? s.slice(0, 10) : null;
}

/** xero-node turns `/Date(…)/` into a Date although it types some as string (docs/reference/xero.md#xero-node). */
export function dateOf(v: unknown): Date | null {
  if (v instanceof Date) return v;
  if (typeof v === 'string' && v) {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : new Date(t);
  }
  return null;
}
