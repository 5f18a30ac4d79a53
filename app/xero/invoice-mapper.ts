/**
 * The neutral sales document → a Xero sales invoice (ACCREC, DRAFT) or quote, validated first so that a salesperson
 * or accountant reads what to fix in words they use, before anything is sent.
 *
 * Amounts: everything is computed with `Decimal`; unit amounts go out with 4 dp (send `unitdp=4` on the call).
 * Xero computes each line as round2(Quantity × UnitAmount × (1 − DiscountRate/100)) − DiscountAmount, tax per
 * line rounded to 2 dp, then sums (xero-api.md §3). The mapper picks the line amount types so Xero's total equals the
 * Bitrix24 total:
 * - NoTax when no line has VAT, Inclusive when every line with VAT has it included: each Xero line amount equals the
 *   Bitrix24 line total exactly (a line whose price × quantity × discount does not round to Bitrix24's total is sent
 *   as a net unit price that does);
 * - Exclusive otherwise (mixed): tax-excluded lines go as entered; tax-included lines are converted to the net line
 *   amount whose gross (net + Xero's rounded tax) is the Bitrix24 line total, or the nearest reachable one, keeping
 *   the document within 0.01 of the Bitrix24 total.
 */
import { Contact, Invoice, LineAmountTypes, LineItem, Quote, QuoteLineAmountTypes, QuoteStatusCodes, type CurrencyCode } from 'xero-node';
import { AppError } from '../errors.js';
import { Decimal } from '../money.js';
import type { DocumentLine, SalesDocument } from '../sync/document.js';
import { taxRateKey, type PortalSettings } from '../sync/settings.js';

export interface MappingContext {
  /** Xero ContactID of the document's customer (from `resolveContacts`). */
  contactId: string;
  settings: PortalSettings;
  /** Bitrix24 product id → Xero item code, for products linked to Xero items. (Default: none) */
  itemCodes?: Map<string, string>;
  /** Currency codes the Xero organisation has enabled (`listCurrencies`). */
  currencies: readonly string[];
  /** The Xero invoice or quote this document is already linked to: updated in place, line ids kept. */
  existing?: { id: string; lineItemIds: string[] };
}

export type AmountTypes = 'Exclusive' | 'Inclusive' | 'NoTax';

/** A mapped line plus the line amount Xero is expected to compute for it (for checks and logs). */
interface MappedLine {
  line: LineItem;
  expectedLineAmount: Decimal;
  expectedTax: Decimal;
}

const HUNDRED = Decimal.of(100);
const CENT = Decimal.of('0.01');

/** Builds the Xero invoice of a document; throws `AppError` (SYNC.*) naming what to fix. */
export function toXeroInvoice(doc: SalesDocument, ctx: MappingContext): Invoice {
  const { amountTypes, lines } = mapDocument(doc, ctx);
  const invoice: Invoice = {
    type: Invoice.TypeEnum.ACCREC,
    contact: { contactID: ctx.contactId } as Contact,
    date: doc.issueDate ?? undefined,
    dueDate: doc.dueDate ?? undefined,
    reference: doc.number,
    currencyCode: doc.currency as unknown as CurrencyCode,
    lineAmountTypes: LineAmountTypes[amountTypes],
    status: Invoice.StatusEnum.DRAFT,
    lineItems: lines.map((l) => l.line),
  };
  if (ctx.existing) invoice.invoiceID = ctx.existing.id;
  return dropUndefined(invoice);
}

/** Builds the Xero quote of a document (DRAFT; quotes take upper-case line amount types, xero-api.md §5). */
export function toXeroQuote(doc: SalesDocument, ctx: MappingContext): Quote {
  const { amountTypes, lines } = mapDocument(doc, ctx);
  const quote: Quote = {
    contact: { contactID: ctx.contactId } as Contact,
    date: doc.issueDate ?? new Date().toISOString().slice(0, 10),
    expiryDate: doc.dueDate ?? undefined,
    reference: doc.number,
    title: doc.title || undefined,
    currencyCode: doc.currency as unknown as CurrencyCode,
    lineAmountTypes: QuoteLineAmountTypes[amountTypes === 'NoTax' ? 'NOTAX' : amountTypes === 'Inclusive' ? 'INCLUSIVE' : 'EXCLUSIVE'],
    status: QuoteStatusCodes.DRAFT,
    lineItems: lines.map((l) => l.line),
  };
  if (ctx.existing) quote.quoteID = ctx.existing.id;
  return dropUndefined(quote);
}

/** The total Xero will compute for the mapped lines (2 dp), for checks before sending. */
export function expectedXeroTotal(doc: SalesDocument, ctx: MappingContext): Decimal {
  const { amountTypes, lines } = mapDocument(doc, ctx);
  const amounts = Decimal.sum(lines.map((l) => l.expectedLineAmount));
  return amountTypes === 'Exclusive' ? amounts.add(Decimal.sum(lines.map((l) => l.expectedTax))) : amounts;
}

/** Which line amount type a document needs. */
export function amountTypesOf(lines: DocumentLine[]): AmountTypes {
  const taxed = lines.filter((l) => l.taxRate !== null);
  if (taxed.length === 0) return 'NoTax';
  return taxed.every((l) => l.taxIncluded) ? 'Inclusive' : 'Exclusive';
}

function mapDocument(doc: SalesDocument, ctx: MappingContext): { amountTypes: AmountTypes; lines: MappedLine[] } {
  validate(doc, ctx);
  const amountTypes = amountTypesOf(doc.lines);
  let residual = Decimal.ZERO; // Xero gross − Bitrix24 gross so far, for converted lines of an Exclusive document
  const lines = doc.lines.map((l, i) => {
    const base: LineItem = {
      description: l.name.trim() || 'Item',
      quantity: l.quantity.toNumber(4),
      accountCode: (l.accountCode ?? ctx.settings.defaultSalesAccount) || undefined,
      taxType: amountTypes === 'NoTax' ? undefined : ctx.settings.taxRateMap[taxRateKey(l.taxRate)],
      itemCode: l.productId ? ctx.itemCodes?.get(l.productId) : undefined,
      lineItemID: ctx.existing?.lineItemIds[i],
    };
    const rate = l.taxRate ?? Decimal.ZERO;
    let mapped: MappedLine;
    if (amountTypes === 'Exclusive' && l.taxIncluded && !rate.isZero()) {
      mapped = convertedLine(base, l, rate, residual);
      residual = residual.add(mapped.expectedLineAmount.add(mapped.expectedTax)).sub(l.total);
    } else {
      mapped = enteredLine(base, l, amountTypes, rate);
    }
    mapped.line = dropUndefined(mapped.line);
    return mapped;
  });
  return { amountTypes, lines };
}

/** A line as entered: unit price and discount; falls back to a net unit price when Xero's rounding would differ. */
function enteredLine(base: LineItem, l: DocumentLine, amountTypes: AmountTypes, rate: Decimal): MappedLine {
  const unit = l.unitPrice.round(4);
  const line: LineItem = { ...base, unitAmount: unit.toNumber(4) };
  let amount = l.quantity.mul(unit).round(2);
  if (l.discount?.kind === 'percent' && !l.discount.rate.isZero()) {
    line.discountRate = l.discount.rate.toNumber(4);
    amount = l.quantity.mul(unit).mul(HUNDRED.sub(l.discount.rate)).div(HUNDRED).round(2);
  } else if (l.discount?.kind === 'amount' && !l.discount.perUnit.isZero()) {
    const discountAmount = l.discount.perUnit.mul(l.quantity).round(2);
    line.discountAmount = discountAmount.toNumber(2);
    amount = amount.sub(discountAmount);
  }
  // Inclusive and NoTax lines must land exactly on Bitrix24's line total.
  if (amountTypes !== 'Exclusive' && !amount.eq(l.total)) return foldedLine(base, l.quantity, l.total, amountTypes, rate);
  return { line, expectedLineAmount: amount, expectedTax: taxOf(amount, amountTypes, rate) };
}

/**
 * A tax-included line in an Exclusive document: the net line amount N whose gross N + round2(N × rate) is the
 * Bitrix24 line total; when no N reaches it exactly (gross steps by 0.02 there), the neighbour that brings the
 * running difference back towards zero.
 */
function convertedLine(base: LineItem, l: DocumentLine, rate: Decimal, residual: Decimal): MappedLine {
  const gross = l.total;
  const start = gross.mul(HUNDRED).div(HUNDRED.add(rate)).round(2);
  const candidates = [-2, -1, 0, 1, 2].map((k) => start.add(CENT.mul(k)));
  const grossOf = (n: Decimal) => n.add(taxOf(n, 'Exclusive', rate));
  const exact = candidates.find((n) => grossOf(n).eq(gross));
  const net =
    exact ??
    candidates.reduce((best, n) => (grossOf(n).sub(gross).add(residual).abs().cmp(grossOf(best).sub(gross).add(residual).abs()) < 0 ? n : best));
  return foldedLine(base, l.quantity, net, 'Exclusive', rate);
}

/** A line whose unit amount (4 dp) makes Xero's round2(quantity × unit) equal `amount`; discounts are folded in. */
function foldedLine(base: LineItem, quantity: Decimal, amount: Decimal, amountTypes: AmountTypes, rate: Decimal): MappedLine {
  const qty = quantity.isZero() ? Decimal.of(1) : quantity;
  const start = amount.div(qty).round(4);
  const step = Decimal.of('0.0001');
  let unit = start;
  for (let k = 0; k <= 100; k++) {
    const hit = [start.add(step.mul(k)), start.sub(step.mul(k))].find((u) => qty.mul(u).round(2).eq(amount));
    if (hit) {
      unit = hit;
      break;
    }
  }
  const lineAmount = qty.mul(unit).round(2);
  return { line: { ...base, quantity: qty.toNumber(4), unitAmount: unit.toNumber(4) }, expectedLineAmount: lineAmount, expectedTax: taxOf(lineAmount, amountTypes, rate) };
}

function taxOf(lineAmount: Decimal, amountTypes: AmountTypes, rate: Decimal): Decimal {
  if (amountTypes === 'NoTax' || rate.isZero()) return Decimal.ZERO;
  if (amountTypes === 'Inclusive') return lineAmount.mul(rate).div(HUNDRED.add(rate)).round(2);
  return lineAmount.mul(rate).div(HUNDRED).round(2);
}

/** Every problem a person can fix before the push, one `AppError` for the first kind found. */
function validate(doc: SalesDocument, ctx: MappingContext): void {
  const what = `${doc.type === 'quote' ? 'Quote' : 'Invoice'} ${doc.number || doc.id}`;
  if (!doc.customer || !ctx.contactId) {
    throw new AppError('SYNC.NO_CUSTOMER', `${what} has no customer. Choose a company or contact on it in Bitrix24, then save it again.`, 422);
  }
  if (doc.lines.length === 0) {
    throw new AppError('SYNC.EMPTY_DOCUMENT', `${what} has no product rows. Add at least one product or service row in Bitrix24.`, 422);
  }
  if (Decimal.sum(doc.lines.map((l) => l.total)).isZero()) {
    throw new AppError('SYNC.ZERO_TOTAL', `${what} totals 0, and Xero has nothing to bill. Check the prices and quantities of its rows.`, 422);
  }
  if (!ctx.currencies.some((c) => c.toUpperCase() === doc.currency.toUpperCase())) {
    throw new AppError(
      'SYNC.UNKNOWN_CURRENCY',
      `${what} is in ${doc.currency}, which the Xero organisation does not use (it has ${ctx.currencies.join(', ') || 'none'}). Add ${doc.currency} in Xero (Settings → Currencies) or change the document's currency.`,
      422,
      { currency: doc.currency },
    );
  }
  const noAccount = doc.lines.filter((l) => !(l.accountCode ?? ctx.settings.defaultSalesAccount));
  if (noAccount.length) {
    const names = [...new Set(noAccount.map((l) => `"${l.name}"`))];
    throw new AppError(
      'SYNC.MISSING_ACCOUNT_CODE',
      `${what}: ${names.join(', ')} ${names.length === 1 ? 'has' : 'have'} no Xero sales account. Set its Xero sales account in the product card, or a default sales account in the connector settings.`,
      422,
      { products: noAccount.map((l) => l.productId ?? l.name) },
    );
  }
  if (amountTypesOf(doc.lines) !== 'NoTax') {
    const unmapped = [...new Set(doc.lines.map((l) => taxRateKey(l.taxRate)).filter((k) => !ctx.settings.taxRateMap[k]))];
    if (unmapped.length) {
      const words = unmapped.map((k) => (k === 'none' ? '"no VAT"' : `${k}%`));
      throw new AppError(
        'SYNC.UNKNOWN_TAX_RATE',
        `${what} uses the VAT rate ${words.join(', ')}, which has no Xero tax rate. Map it in the connector settings.`,
        422,
        { rates: unmapped },
      );
    }
  }
}

/** Copy without undefined fields: absent rather than null in the request body. */
function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
