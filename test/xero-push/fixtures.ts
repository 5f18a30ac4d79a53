// Documents and settings for the Xero push tests.
import { Decimal } from '../../app/domain/money.js';
import type { DocumentLine, SalesDocument } from '../../app/domain/document.js';
import { settingsSchema, type PortalSettings } from '../../app/domain/settings.js';
import type { MappingContext } from '../../app/xero/invoice-mapper.js';

export const settings: PortalSettings = settingsSchema.parse({
  defaultSalesAccount: '200',
  taxRateMap: { '15': 'OUTPUT2', '0': 'ZERORATED', none: 'NONE' },
});

export const CURRENCIES = ['NZD', 'AUD', 'USD'];

type LineInput = Partial<Omit<DocumentLine, 'quantity' | 'unitPrice' | 'taxRate' | 'total'>> & {
  quantity?: string | number; unitPrice: string | number; taxRate?: string | number | null; total?: string | number;
};

/** A row; `total` defaults to the Bitrix24 row total: price after discount × quantity, with tax, 2 dp. */
export function line(i: LineInput): DocumentLine {
  const quantity = Decimal.of(i.quantity ?? 1);
  const unitPrice = Decimal.of(i.unitPrice);
  const taxRate = i.taxRate === undefined || i.taxRate === null ? (i.taxRate === null ? null : Decimal.of(15)) : Decimal.of(i.taxRate);
  const taxIncluded = i.taxIncluded ?? false;
  const discount = i.discount ?? null;
  return {
    productId: i.productId ?? null,
    name: i.name ?? 'Consulting',
    quantity, unitPrice, discount, taxRate, taxIncluded,
    total: i.total !== undefined ? Decimal.of(i.total) : bitrixRowTotal(quantity, unitPrice, discount, taxRate, taxIncluded),
    accountCode: i.accountCode ?? null,
  };
}

/** Bitrix24's row total: net (or gross) amount rounded per row; tax-excluded rows add their tax rounded per row. */
export function bitrixRowTotal(q: Decimal, price: Decimal, discount: DocumentLine['discount'], rate: Decimal | null, included: boolean): Decimal {
  let amount = q.mul(price);
  if (discount?.kind === 'percent') amount = amount.mul(Decimal.of(100).sub(discount.rate)).div(100);
  amount = amount.round(2);
  if (discount?.kind === 'amount') amount = amount.sub(discount.perUnit.mul(q).round(2));
  if (!rate || included) return amount;
  return amount.add(amount.mul(rate).div(100).round(2));
}

export function doc(lines: DocumentLine[], over: Partial<SalesDocument> = {}): SalesDocument {
  return {
    type: 'smart_invoice', id: '42', number: 'B24-42', title: 'Website', currency: 'NZD',
    issueDate: '2025-03-01', dueDate: '2025-03-31',
    customer: { kind: 'company', id: '12', name: 'Ridgeway University', email: null },
    stageId: null, categoryId: null, lines,
    total: Decimal.sum(lines.map((l) => l.total)),
    ...over,
  };
}

export function ctx(contactId: string, over: Partial<MappingContext> = {}): MappingContext {
  return { contactId, settings, currencies: CURRENCIES, ...over };
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
