// Totals by construction: Xero's total equals the Bitrix24 amount for every document. The Bitrix24 side is the
// emulator's row arithmetic (row-math.ts), the Xero side the emulator's line arithmetic (books.ts `lineMath`), the
// mapping the connector's own; a small sample goes through the real SDK to the Xero emulator over HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Invoice, LineItem, Quote } from 'xero-node';
import { Decimal } from '../../app/domain/money.js';
import type { SalesDocument } from '../../app/domain/document.js';
import { settingsSchema } from '../../app/domain/settings.js';
import { toXeroInvoice, toXeroQuote, type MappingContext } from '../../app/xero/invoice-mapper.js';
import { pushInvoices } from '../../app/xero/invoices.js';
import { pushQuotes } from '../../app/xero/quotes.js';
import { lineMath, totals, type Lat } from '../emulators/xero/books.js';
import { round } from '../emulators/xero/xero-json.js';
import { xeroTestbed } from '../helpers/xero.js';
import { seeded } from '../xero-push/fixtures.js';
import { CURRENCIES, randomDocument } from './documents.js';

const RATES = [0, 5, 7.5, 10, 12.5, 15, 20, 21, 25];
const taxType = (rate: number) => `R${String(rate).replace('.', '_')}`;
const ctx: MappingContext = {
  contactId: '00000000-0000-0000-0000-0000000000c1',
  settings: settingsSchema.parse({ defaultSalesAccount: '200', taxRateMap: { ...Object.fromEntries(RATES.map((r) => [String(r), taxType(r)])), none: 'NONE' } }),
  currencies: CURRENCIES,
  roundingAccount: '860',
};
const rateOfType = new Map<string, number>([...RATES.map((r) => [taxType(r), r] as const), ['NONE', 0]]);

/** Xero's total for a payload, computed with the emulator's arithmetic (unit amounts kept at `unitDp`). */
function xeroTotal(lineItems: LineItem[], lat: string, unitDp: number): number {
  const kind = ({ EXCLUSIVE: 'Exclusive', INCLUSIVE: 'Inclusive', NOTAX: 'NoTax' } as Record<string, Lat>)[lat.toUpperCase()];
  const lines = lineItems.map((l) => {
    const { lineAmount, tax } = lineMath(
      { quantity: l.quantity ?? 1, unitAmount: round(l.unitAmount ?? 0, unitDp), discountRate: l.discountRate, discountAmount: l.discountAmount, taxAmount: l.taxAmount },
      kind,
      kind === 'NoTax' ? 0 : rateOfType.get(l.taxType ?? 'NONE')!,
    );
    return { LineAmount: lineAmount, TaxAmount: tax };
  });
  return totals(lines, kind).Total;
}

function check(kind: 'invoice' | 'quote', count: number, seed: number): { rounding: number } {
  const rnd = seeded(seed);
  let rounding = 0;
  for (let n = 1; n <= count; n++) {
    const d = randomDocument(rnd, n, kind === 'quote' ? 'quote' : 'smart_invoice', RATES);
    const x: Invoice | Quote = kind === 'quote' ? toXeroQuote(d, ctx) : toXeroInvoice(d, ctx);
    const total = xeroTotal(x.lineItems ?? [], String(x.lineAmountTypes), kind === 'quote' ? 2 : 4);
    if (x.lineItems?.some((l) => l.accountCode === '860')) rounding++;
    if (Decimal.of(total).toFixed(2) !== d.total.toFixed(2)) {
      const rows = d.lines.map((l) => [l.quantity, l.unitPrice, l.discount && ('rate' in l.discount ? l.discount.rate : l.discount.perUnit), l.taxRate, l.taxIncluded, l.total].map(String));
      assert.fail(`${kind} ${n}: Xero ${total}, Bitrix24 ${d.total.toFixed(2)}\nrows ${JSON.stringify(rows)}\nXero ${JSON.stringify(x.lineItems)}`);
    }
  }
  return { rounding };
}

describe('totals by construction', () => {
  it('when 10,000 random invoices are mapped, then Xero computes exactly the Bitrix24 amount for every one', () => {
    const { rounding } = check('invoice', 10_000, 15);
    assert.ok(rounding < 500, `rounding lines on ${rounding} of 10,000 invoices`);
  });

  it('when 10,000 random quotes (2-dp unit amounts) are mapped, then Xero computes exactly the Bitrix24 amount for every one', () => {
    check('quote', 10_000, 1515);
  });

  it('when a sample of invoices and quotes goes to Xero over HTTP, then every Xero total is the Bitrix24 amount', async () => {
    const bed = await xeroTestbed({ limits: { perMinute: 1000 }, emulator: { seedDemo: true, limits: { perMinute: 1000 } } });
    const contactId = bed.emu.contacts(bed.tenantId).find((c) => c.Name === 'Ridgeway University')!.ContactID as string;
    const nz: MappingContext = { ...ctx, contactId, settings: settingsSchema.parse({ defaultSalesAccount: '200', taxRateMap: { '15': 'OUTPUT2', '0': 'ZERORATED', none: 'NONE' } }), currencies: ['NZD'] };
    const rnd = seeded(77);
    const docs: SalesDocument[] = Array.from({ length: 20 }, (_, i) => ({ ...randomDocument(rnd, i + 1, i % 2 ? 'quote' : 'smart_invoice', [15, 0]), currency: 'NZD' }));
    const invoices = docs.filter((d) => d.type !== 'quote');
    const results = await pushInvoices(bed.gateway, bed.tenantId, invoices.map((d) => ({ key: d.id, payload: toXeroInvoice(d, nz), idempotencyKey: `totals-${d.id}` })));
    for (const d of invoices) {
      const r = results.get(d.id)!;
      assert.ok(r.ok, !r.ok ? r.message : '');
      assert.equal(Decimal.of(r.total).toFixed(2), d.total.toFixed(2), `invoice ${d.id}`);
    }
    const quotes = docs.filter((d) => d.type === 'quote');
    const sent = await pushQuotes(bed.gateway, bed.tenantId, quotes.map((d) => ({ key: d.id, payload: toXeroQuote(d, nz), idempotencyKey: `totals-q-${d.id}` })));
    for (const d of quotes) {
      const r = sent.get(d.id)!;
      assert.ok(r.ok, !r.ok ? r.message : '');
      assert.equal(Decimal.of(r.total).toFixed(2), d.total.toFixed(2), `quote ${d.id}`);
    }
    bed.emu.assertNoSpecViolations();
  });
});
