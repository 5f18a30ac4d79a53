/**
 * The neutral sales document → a Xero sales invoice (ACCREC, DRAFT) or quote, validated first so that a salesperson
 * or accountant reads what to fix in words they use, before anything is sent.
 *
 * Amounts: everything is computed with `Decimal`; the lines are chosen per document so that Xero's total is the
 * Bitrix24 amount to the cent (line-representation.ts): unit amounts with 4 dp on invoices (send `unitdp=4` on the
 * call), 2 dp on quotes (Xero's quote calls take no `unitdp`), per-line TaxAmount where Xero's own rounding would
 * differ, and a rounding line to the organisation's rounding account where no line can carry the difference.
 */
import { clock } from '../clock.js';
import { Contact, Invoice, LineAmountTypes, LineItem, Quote, QuoteLineAmountTypes, QuoteStatusCodes, type CurrencyCode } from 'xero-node';
import { AppError } from '../errors.js';
import { Decimal } from '../domain/money.js';
import type { SalesDocument } from '../domain/document.js';
import { taxRateKey, type PortalSettings } from '../domain/settings.js';
import type { OrgTrackingCategory } from './organisation.js';
import { amountTypesOf, chooseRepresentation, type AmountTypes, type Representation } from './line-representation.js';

export { amountTypesOf, type AmountTypes };

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
  /**
   * Xero account of the rounding line, when a document needs one (the setting, else the account the organisation's
   * chart marks ROUNDING). Without it such a document is sent without one and the after-push check flags it.
   */
  roundingAccount?: string | null;
  /** The organisation's tracking categories (cached org data), for the tracking setting. (Default: none known) */
  trackingCategories?: readonly OrgTrackingCategory[];
}

/** Builds the Xero invoice of a document; throws `AppError` (SYNC.*) naming what to fix. */
export function toXeroInvoice(doc: SalesDocument, ctx: MappingContext): Invoice {
  const { amountTypes, lines } = mapDocument(doc, ctx, 4);
  const invoice: Invoice = {
    type: Invoice.TypeEnum.ACCREC,
    contact: { contactID: ctx.contactId } as Contact,
    date: doc.issueDate ?? undefined,
    dueDate: doc.dueDate ?? undefined,
    reference: doc.number,
    currencyCode: doc.currency as unknown as CurrencyCode,
    lineAmountTypes: LineAmountTypes[amountTypes],
    status: Invoice.StatusEnum.DRAFT,
    lineItems: lines,
  };
  if (ctx.existing) invoice.invoiceID = ctx.existing.id;
  return dropUndefined(invoice);
}

/** Builds the Xero quote of a document (DRAFT; quotes take upper-case line amount types, docs/reference/xero.md#quotes). */
export function toXeroQuote(doc: SalesDocument, ctx: MappingContext): Quote {
  const { amountTypes, lines } = mapDocument(doc, ctx, 2);
  const quote: Quote = {
    contact: { contactID: ctx.contactId } as Contact,
    date: doc.issueDate ?? new Date(clock.now()).toISOString().slice(0, 10),
    expiryDate: doc.dueDate ?? undefined,
    reference: doc.number,
    title: doc.title || undefined,
    summary: doc.summary ?? undefined,
    terms: doc.terms ?? undefined,
    brandingThemeID: ctx.settings.brandingThemeId ?? undefined,
    quoteNumber: ctx.settings.documentNumbering === 'bitrix24' ? doc.number : undefined,
    currencyCode: doc.currency as unknown as CurrencyCode,
    lineAmountTypes: QuoteLineAmountTypes[amountTypes === 'NoTax' ? 'NOTAX' : amountTypes === 'Inclusive' ? 'INCLUSIVE' : 'EXCLUSIVE'],
    // A new quote starts as a draft; an update leaves the status where it is (Xero refuses SENT → DRAFT).
    status: ctx.existing ? undefined : QuoteStatusCodes.DRAFT,
    lineItems: lines,
  };
  if (ctx.existing) quote.quoteID = ctx.existing.id;
  return dropUndefined(quote);
}

/** The total Xero will compute for the mapped lines (2 dp), for checks before sending. */
export function expectedXeroTotal(doc: SalesDocument, ctx: MappingContext, kind: 'invoice' | 'quote' = 'invoice'): Decimal {
  return representationOf(doc, ctx, kind).total;
}

/** How a document goes to Xero: line amount type, lines, and the rounding line's amount when one is needed. */
export function representationOf(doc: SalesDocument, ctx: Pick<MappingContext, 'roundingAccount'>, kind: 'invoice' | 'quote' = 'invoice'): Representation {
  return chooseRepresentation(doc.lines, doc.total, { unitDp: kind === 'quote' ? 2 : 4, roundingAccount: ctx.roundingAccount });
}

/** Words for the card when a document carries a rounding line, e.g. "Xero has a rounding line of 0.01 NZD …". */
export function roundingNote(doc: SalesDocument, rep: Representation, account: string | null | undefined): string | null {
  if (!rep.rounding) return null;
  return account
    ? `Xero has a rounding line of ${rep.rounding.toFixed(2)} ${doc.currency} (account ${account}) so that its total equals Bitrix24's ${doc.total.toFixed(2)}.`
    : `Xero's total differs from Bitrix24's by ${rep.rounding.toFixed(2)} ${doc.currency}: no rounding account is known. Set one in the settings.`;
}

function mapDocument(doc: SalesDocument, ctx: MappingContext, unitDp: 2 | 4): { amountTypes: AmountTypes; lines: LineItem[] } {
  validate(doc, ctx);
  const rep = representationOf(doc, ctx, unitDp === 2 ? 'quote' : 'invoice');
  const { amountTypes } = rep;
  const noTax = ctx.settings.taxRateMap[taxRateKey(null)] ?? 'NONE';
  const lines = rep.lines.map((spec, i): LineItem => {
    const lineItemID = ctx.existing?.lineItemIds[i];
    const amounts = {
      quantity: spec.quantity.toNumber(4),
      unitAmount: spec.unitAmount.toNumber(unitDp),
      discountRate: spec.discountRate?.toNumber(4),
      discountAmount: spec.discountAmount?.toNumber(2),
      taxAmount: spec.taxAmount?.toNumber(2),
    };
    if (spec.row === null) {
      return dropUndefined({ description: 'Rounding', ...amounts, accountCode: ctx.roundingAccount ?? undefined, taxType: amountTypes === 'NoTax' ? undefined : noTax, lineItemID });
    }
    const l = doc.lines[spec.row];
    return dropUndefined({
      description: l.name.trim() || 'Item',
      ...amounts,
      accountCode: (l.accountCode ?? ctx.settings.defaultSalesAccount) || undefined,
      taxType: amountTypes === 'NoTax' ? undefined : ctx.settings.taxRateMap[taxRateKey(l.taxRate)],
      itemCode: l.productId ? ctx.itemCodes?.get(l.productId) : undefined,
      lineItemID,
    });
  });
  return { amountTypes, lines };
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
