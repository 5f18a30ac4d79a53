/**
 * Reads Bitrix24 sales documents into the neutral model (domain/document.ts), many at once: each batch call
 * loads up to 25 documents with their product rows, a second loads their customers and products.
 * Raw answers are parsed here, at the edge; nothing else sees Bitrix24 field names.
 */
import { z } from 'zod';
import { Decimal } from '../domain/money.js';
import type { DocumentCustomer, DocumentLine, DocumentType, SalesDocument } from '../domain/document.js';
import type { ListLabels } from './list-labels.js';
import { limitOf, type BatchCalls, type BatchOutcome, type PortalClient } from './portal-client.js';
import { ENTITY_TYPE } from './entity-types.js';

/** Product-row owner types (docs/reference/bitrix24.md#crm-object-types). */
const OWNER_TYPE = { smart_invoice: 'SI', quote: 'Q' } as const;

export interface DocumentRef {
  type: DocumentType;
  id: string;
}

/** A document that could not be read, with the reason in words. */
export interface ReadFailure {
  code: 'SYNC.DOCUMENT_NOT_FOUND' | 'SYNC.CUSTOMER_NOT_FOUND' | 'SYNC.READ_FAILED' | 'B24.OPERATION_TIME_LIMIT';
  message: string;
  /** Bitrix24's operating time limit holds the document until then (epoch ms): it waits, it did not fail. */
  retryAt?: number;
  /** The read may work next time (Bitrix24 left the answer out): the document is tried again, nothing is concluded. */
  transient?: boolean;
}

export type ReadResult = { ok: true; doc: SalesDocument } | { ok: false; failure: ReadFailure };

const num = z.union([z.number(), z.string()]).nullish();
const str = z.union([z.string(), z.number()]).nullish().transform((v) => (v === null || v === undefined ? null : String(v)));

const itemSchema = z.object({
  id: z.union([z.number(), z.string()]),
  title: z.string().nullish(),
  accountNumber: str,
  quoteNumber: str,
  currencyId: z.string().nullish(),
  begindate: z.string().nullish(),
  closedate: z.string().nullish(),
  companyId: num,
  contactId: num,
  stageId: z.string().nullish(),
  categoryId: num,
  opportunity: num,
  content: z.string().nullish(),
  terms: z.string().nullish(),
  parentId7: num,
  createdTime: z.string().nullish(),
  updatedTime: z.string().nullish(),
});

const rowSchema = z.object({
  productId: num,
  productName: z.string().nullish(),
  price: num,
  priceNetto: num,
  priceBrutto: num,
  quantity: num,
  discountTypeId: num,
  discountRate: num,
  discountSum: num,
  taxRate: num,
  taxIncluded: z.string().nullish(),
});

const classicSchema = z.object({
  ID: z.union([z.number(), z.string()]),
  ACCOUNT_NUMBER: str,
  ORDER_TOPIC: z.string().nullish(),
  STATUS_ID: z.string().nullish(),
  CURRENCY: z.string().nullish(),
  PRICE: num,
  DATE_BILL: z.string().nullish(),
  DATE_PAY_BEFORE: z.string().nullish(),
  UF_COMPANY_ID: num,
  UF_CONTACT_ID: num,
  DATE_INSERT: z.string().nullish(),
  DATE_UPDATE: z.string().nullish(),
  PRODUCT_ROWS: z
    .array(
      z.object({
        PRODUCT_ID: num,
        PRODUCT_NAME: z.string().nullish(),
        PRICE: num,
        QUANTITY: num,
        VAT_RATE: num,
        VAT_INCLUDED: z.string().nullish(),
        DISCOUNT_PRICE: num,
      }),
    )
    .default([]),
});

const customerSchema = z.object({
  id: z.union([z.number(), z.string()]),
  title: z.string().nullish(),
  name: z.string().nullish(),
  lastName: z.string().nullish(),
  emailWork: z.string().nullish(),
  emailHome: z.string().nullish(),
  fm: z.array(z.object({ typeId: z.string().nullish(), value: z.string().nullish() })).nullish(),
});

/** Custom fields read as their labels when they are list fields (the tracking field), with the portal's labels. */
export interface LabelledFields {
  fields: string[];
  labels: ListLabels;
  memberId: string;
}

/** Reads documents; each one comes back read, or with the reason it could not be. */
export async function readDocuments(
  client: PortalClient,
  refs: DocumentRef[],
  options: {
    accountCodePropertyId?: number | null;
    labelled?: LabelledFields;
  } = {},
): Promise<Map<string, ReadResult>> {
  const out = new Map<string, ReadResult>();
  const parsed: { ref: DocumentRef; doc: Omit<SalesDocument, 'customer'>; customer: { kind: 'company' | 'contact'; id: string } | null; productIds: string[] }[] = [];

  // 1. Documents with their rows: two commands per smart invoice / quote, one per classic invoice.
  for (const chunk of chunks(refs, 25)) {
    const calls: BatchCalls = {};
    for (const ref of chunk) {
      const k = keyOf(ref);
      if (ref.type === 'invoice') {
        // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-get.html
        calls[`d_${k}`] = ['crm.invoice.get', { id: ref.id }];
      } else {
        // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-get.html
        calls[`d_${k}`] = ['crm.item.get', { entityTypeId: ENTITY_TYPE[ref.type], id: ref.id }];
        // https://apidocs.bitrix24.com/api-reference/crm/universal/product-rows/crm-item-productrow-list.html
        calls[`r_${k}`] = ['crm.item.productrow.list', { filter: { '=ownerType': OWNER_TYPE[ref.type], '=ownerId': ref.id } }];
      }
    }
    const answer = await client.batch(calls);
    const { results, errors, codes, limited } = answer;
    for (const ref of chunk) {
      const k = keyOf(ref);
      const blocked = limited.find((key) => key === `d_${k}` || key === `r_${k}`);
      if (blocked) {
        const limit = answer.limit!;
        out.set(k, { ok: false, failure: { code: 'B24.OPERATION_TIME_LIMIT', message: limit.message, retryAt: limit.retryAt } });
        continue;
      }
      const failure = commandFailure({ results, errors, codes }, [`d_${k}`, ...(ref.type === 'invoice' ? [] : [`r_${k}`])], `the ${noun(ref.type)} ${ref.id}`);
      if (failure) {
        out.set(k, {
          ok: false,
          failure: failure === 'not-found'
            ? { code: 'SYNC.DOCUMENT_NOT_FOUND', message: `The ${noun(ref.type)} ${ref.id} no longer exists in Bitrix24.` }
            : failure,
        });
        continue;
      }
      try {
        parsed.push(ref.type === 'invoice' ? fromClassic(ref, results[`d_${k}`]) : fromItem(ref, results[`d_${k}`], results[`r_${k}`]));
      } catch (err) {
        out.set(k, { ok: false, failure: { code: 'SYNC.READ_FAILED', message: `The ${noun(ref.type)} ${ref.id} could not be read: ${(err as Error).message}` } });
      }
    }
  }

  // 2. Customers and products, each once.
  const customers = unique(parsed.flatMap((p) => (p.customer ? [`${p.customer.kind}:${p.customer.id}`] : [])));
  const products = options.accountCodePropertyId ? unique(parsed.flatMap((p) => p.productIds)) : [];
  const lookups: BatchCalls = {};
  for (const c of customers) {
    const [kind, id] = c.split(':');
    lookups[`c_${kind}_${id}`] = ['crm.item.get', { entityTypeId: ENTITY_TYPE[kind as 'company' | 'contact'], id }];
  }
  for (const id of products) {
    // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-get.html
    lookups[`p_${id}`] = ['catalog.product.get', { id }];
  }
  const found: Record<string, unknown> = {};
  const unread = new Map<string, ReadFailure>();
  const keys = Object.keys(lookups);
  for (let i = 0; i < keys.length; i += 50) {
    const answer = await client.batch(Object.fromEntries(keys.slice(i, i + 50).map((k) => [k, lookups[k]])));
    // A customer not read is not a customer deleted: the documents wait for the method's operating time.
    limitOf(answer);
    Object.assign(found, answer.results);
    // An answer left out is a failed read of that record, tried again later; so is a customer's refusal other than
    // "not found" (a product Bitrix24 refuses keeps its line on the default account, as a product without a code).
    for (const k of keys.slice(i, i + 50)) {
      const product = k.startsWith('p_');
      const failure = commandFailure(answer, [k], product ? `the product ${k.slice(2)}` : `the ${k.split('_')[1]} ${k.split('_')[2]}`);
      if (failure && failure !== 'not-found' && (!product || answer.errors[k] === undefined)) unread.set(k, failure);
    }
  }

  for (const p of parsed) {
    const failed = [...(p.customer ? [`c_${p.customer.kind}_${p.customer.id}`] : []), ...(options.accountCodePropertyId ? p.productIds.map((id) => `p_${id}`) : [])]
      .map((k) => unread.get(k))
      .find(Boolean);
    if (failed) {
      out.set(keyOf(p.ref), { ok: false, failure: failed });
      continue;
    }
    let customer: DocumentCustomer | null = null;
    if (p.customer) {
      const raw = (found[`c_${p.customer.kind}_${p.customer.id}`] as { item?: unknown } | undefined)?.item;
      if (!raw) {
        out.set(keyOf(p.ref), {
          ok: false,
          failure: {
            code: 'SYNC.CUSTOMER_NOT_FOUND',
            message: `The ${p.customer.kind} ${p.customer.id} of ${noun(p.ref.type)} ${p.doc.number} was deleted in Bitrix24. Choose another customer on the ${noun(p.ref.type)}.`,
          },
        });
        continue;
      }
      customer = toCustomer(p.customer.kind, raw);
    }
    const lines = p.doc.lines.map((l) => ({
      ...l,
      accountCode: l.productId && options.accountCodePropertyId ? accountCodeOf(found[`p_${l.productId}`], options.accountCodePropertyId) : null,
    }));
    const fields = options.labelled ? await labelledFields(client, p.ref, p.doc.fields ?? {}, options.labelled) : p.doc.fields;
    out.set(keyOf(p.ref), { ok: true, doc: { ...p.doc, lines, customer, fields } });
  }
  return out;
}

/**
 * A list field's value is the chosen option's id; it is read as the option's label. Classic invoices' user fields
 * are described by other methods (`crm.invoice.userfield.*`) and keep their raw values.
 */
async function labelledFields(
  client: PortalClient,
  ref: DocumentRef,
  fields: Record<string, unknown>,
  labelled: LabelledFields,
): Promise<Record<string, unknown>> {
  if (ref.type === 'invoice') return fields;
  const out = { ...fields };
  for (const wanted of labelled.fields) {
    const key = Object.keys(out).find((k) => k.toLowerCase() === wanted.toLowerCase());
    const value = key === undefined ? null : out[key];
    if (key === undefined || value === null || value === '' || typeof value === 'object') continue;
    const labels = await labelled.labels.of(client, labelled.memberId, ENTITY_TYPE[ref.type], key);
    if (labels) out[key] = labels.get(String(value)) ?? value;
  }
  return out;
}

/**
 * How the commands that read one record ended: undefined when each answered; 'not-found' only when Bitrix24 itself
 * said so (`NOT_FOUND`, or a legacy method's code-less "Not found", docs/reference/bitrix24.md#errors and the crm.quote.get fixture);
 * otherwise a failed read. A command with neither a result nor an error (docs/reference/bitrix24.md#batch: what `halt` leaves unanswered) is
 * a read that did not happen, retried, never a deletion.
 */
export function commandFailure(answer: Pick<BatchOutcome, 'results' | 'errors' | 'codes'>, keys: string[], what: string): ReadFailure | 'not-found' | undefined {
  for (const key of keys) {
    const error = answer.errors[key];
    if (error !== undefined) {
      const code = answer.codes[key] ?? '';
      if (code === 'NOT_FOUND' || (code === '' && /\bnot found\b/i.test(error))) return 'not-found';
      return { code: 'SYNC.READ_FAILED', message: `Bitrix24 could not read ${what}: ${error}`, transient: /^(INTERNAL_SERVER_ERROR|QUERY_LIMIT_EXCEEDED|OVERLOAD_LIMIT)$/.test(code) };
    }
    if (!(key in answer.results)) {
      return { code: 'SYNC.READ_FAILED', message: `Bitrix24 gave no answer for ${what}; it will be read again.`, transient: true };
    }
  }
  return undefined;
}

export function keyOf(ref: DocumentRef): string {
  return `${ref.type}:${ref.id}`;
}

function fromItem(ref: DocumentRef, rawItem: unknown, rawRows: unknown) {
  const item = itemSchema.parse((rawItem as { item?: unknown }).item);
  const rows = z.array(rowSchema).parse((rawRows as { productRows?: unknown })?.productRows ?? []);
  const lines = rows.map(fromRow);
  const companyId = positive(item.companyId);
  const contactId = positive(item.contactId);
  return {
    ref,
    doc: {
      type: ref.type,
      id: String(item.id),
      number: (ref.type === 'quote' ? item.quoteNumber : item.accountNumber) ?? String(item.id),
      title: item.title ?? '',
      currency: (item.currencyId ?? '').toUpperCase(),
      issueDate: day(item.begindate),
      dueDate: day(item.closedate),
      stageId: item.stageId ?? null,
      categoryId: item.categoryId === null || item.categoryId === undefined ? null : Number(item.categoryId),
      lines,
      total: Decimal.of(item.opportunity ?? 0),
      fields: customFields((rawItem as { item?: unknown }).item),
      times: { createdAt: instant(item.createdTime), updatedAt: instant(item.updatedTime) },
      ...(ref.type === 'quote'
        ? { summary: text(item.content), terms: text(item.terms) }
        : { parentQuoteId: positive(item.parentId7) }),
    },
    customer: companyId ? { kind: 'company' as const, id: companyId } : contactId ? { kind: 'contact' as const, id: contactId } : null,
    productIds: unique(lines.flatMap((l) => (l.productId ? [l.productId] : []))),
  };
}

/** The custom (UF) fields of a raw Bitrix24 document: `ufCrm…` on items, `UF_CRM_…` on classic invoices. */
function customFields(raw: unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries((raw ?? {}) as Record<string, unknown>).filter(([k]) => /^(ufCrm|UF_CRM_)/.test(k)));
}

/**
 * One product row. `priceNetto`/`priceBrutto` are unit prices before discount without/with tax;
 * `discountTypeId` 1 = absolute per unit, 2 = percent (docs/reference/bitrix24.md#product-rows).
 */
export function fromRow(r: z.infer<typeof rowSchema>): Omit<DocumentLine, 'accountCode'> & { accountCode: null } {
  const taxIncluded = (r.taxIncluded ?? 'N') === 'Y';
  const quantity = Decimal.of(r.quantity ?? 0);
  const taxRate = r.taxRate === null || r.taxRate === undefined || r.taxRate === '' ? null : Decimal.of(r.taxRate);
  const price = Decimal.of(r.price ?? 0);
  const before = Decimal.of((taxIncluded ? r.priceBrutto : r.priceNetto) ?? r.price ?? 0);
  const discountType = Number(r.discountTypeId ?? 2);
  const discountRate = Decimal.of(r.discountRate ?? 0);
  let discount: DocumentLine['discount'] = null;
  if (discountType === 2 && !discountRate.isZero()) discount = { kind: 'percent', rate: discountRate };
  else if (discountType === 1 && !Decimal.of(r.discountSum ?? 0).isZero()) {
    // discountSum is per unit and without tax; for tax-included rows the gross discount is brutto − price.
    discount = { kind: 'amount', perUnit: taxIncluded ? before.sub(price) : Decimal.of(r.discountSum ?? 0) };
  }
  return {
    productId: positive(r.productId),
    name: r.productName ?? '',
    quantity,
    unitPrice: before,
    discount,
    taxRate,
    taxIncluded,
    // `price` is the unit price after discount, with tax.
    total: price.mul(quantity).round(2),
    accountCode: null,
  };
}

function fromClassic(ref: DocumentRef, raw: unknown) {
  const inv = classicSchema.parse(raw);
  const lines = inv.PRODUCT_ROWS.map((r) => {
    const taxIncluded = (r.VAT_INCLUDED ?? 'N') === 'Y';
    // VAT_RATE is a coefficient (0.2 = 20 %) on classic invoices (docs/reference/bitrix24.md#classic-invoices).
    const coefficient = r.VAT_RATE === null || r.VAT_RATE === undefined || r.VAT_RATE === '' ? null : Decimal.of(r.VAT_RATE);
    const taxRate = coefficient === null ? null : coefficient.mul(100);
    const quantity = Decimal.of(r.QUANTITY ?? 0);
    const unit = Decimal.of(r.PRICE ?? 0);
    const gross = taxIncluded || !taxRate ? unit : unit.mul(Decimal.of(1).add(taxRate.div(100)));
    return {
      productId: positive(r.PRODUCT_ID),
      name: r.PRODUCT_NAME ?? '',
      quantity,
      unitPrice: unit,
      discount: null,
      taxRate,
      taxIncluded,
      total: gross.mul(quantity).round(2),
      accountCode: null,
    };
  });
  const companyId = positive(inv.UF_COMPANY_ID);
  const contactId = positive(inv.UF_CONTACT_ID);
  return {
    ref,
    doc: {
      type: 'invoice' as const,
      id: String(inv.ID),
      number: inv.ACCOUNT_NUMBER ?? String(inv.ID),
      title: inv.ORDER_TOPIC ?? '',
      currency: (inv.CURRENCY ?? '').toUpperCase(),
      issueDate: day(inv.DATE_BILL),
      dueDate: day(inv.DATE_PAY_BEFORE),
      stageId: inv.STATUS_ID ?? null,
      categoryId: null,
      lines,
      total: Decimal.of(inv.PRICE ?? 0),
      fields: customFields(raw),
      times: { createdAt: instant(inv.DATE_INSERT), updatedAt: instant(inv.DATE_UPDATE) },
    },
    customer: companyId ? { kind: 'company' as const, id: companyId } : contactId ? { kind: 'contact' as const, id: contactId } : null,
    productIds: unique(lines.flatMap((l) => (l.productId ? [l.productId] : []))),
  };
}

function toCustomer(kind: 'company' | 'contact', raw: unknown): DocumentCustomer {
  const c = customerSchema.parse(raw);
  const email = c.fm?.find((m) => (m.typeId ?? '').toUpperCase() === 'EMAIL' && m.value)?.value ?? c.emailWork ?? c.emailHome ?? null;
  const personName = [c.name, c.lastName].filter(Boolean).join(' ').trim();
  return {
    kind,
    id: String(c.id),
    name: (kind === 'company' ? c.title : personName || c.title) ?? `${kind} ${c.id}`,
    email: email || null,
    firstName: kind === 'contact' ? c.name ?? null : null,
    lastName: kind === 'contact' ? c.lastName ?? null : null,
  };
}

/** The Xero account code a product carries in its `property{N}` (`{value, valueId}` or a list of them). */
function accountCodeOf(raw: unknown, propertyId: number): string | null {
  const product = (raw as { product?: Record<string, unknown> } | undefined)?.product;
  const v = product?.[`property${propertyId}`];
  const first = Array.isArray(v) ? v[0] : v;
  const value = first && typeof first === 'object' ? (first as { value?: unknown }).value : first;
  const text = value === null || value === undefined ? '' : String(value).trim();
  return text || null;
}

/** Text as Xero shows it: trimmed, HTML-free (Bitrix24 may store BB/HTML in text fields), null when empty. */
function text(v: string | null | undefined): string | null {
  const t = (v ?? '').replace(/<[^>]*>/g, ' ').replace(/\[\/?[a-z]+[^\]]*\]/gi, '').replace(/[ \t]+/g, ' ').trim();
  return t || null;
}

/** A Bitrix24 date-time (`2024-07-22T18:00:08+03:00`, with its offset) as ms, or null. */
function instant(v: string | null | undefined): number | null {
  const ms = v ? Date.parse(v) : Number.NaN;
  return Number.isFinite(ms) ? ms : null;
}

function day(v: string | null | undefined): string | null {
  return v && /^\d{4}-\d{2}-\d{2}/.test(v) ? v.slice(0, 10) : null;
}

function positive(v: unknown): string | null {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? String(n) : null;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

function noun(type: DocumentType): string {
  return type === 'quote' ? 'quote' : 'invoice';
}
