import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AppError } from '../../app/errors.js';
import { Decimal } from '../../app/domain/money.js';
import { expectedXeroTotal, toXeroInvoice, toXeroQuote } from '../../app/xero/invoice-mapper.js';
import { listCurrencies, pushInvoices } from '../../app/xero/invoices.js';
import type { PushedDocument } from '../../app/xero/documents.js';
import { xeroTestbed, type XeroTestbed } from '../helpers/xero.js';
import { ctx, doc, line, seeded, settings } from './fixtures.js';
import type { SalesDocument } from '../../app/domain/document.js';

const bed: XeroTestbed = await xeroTestbed({ limits: { perMinute: 1000 }, emulator: { seedDemo: true, limits: { perMinute: 1000 } } });
const contactId: string = bed.emu.contacts(bed.tenantId).find((c) => c.Name === 'Ridgeway University')!.ContactID;
afterEach(() => bed.emu.assertNoSpecViolations());

let seq = 0;
/** Pushes one document and returns Xero's answer and the stored invoice. */
async function push(d: SalesDocument, over: Parameters<typeof ctx>[1] = {}) {
  const key = `smart_invoice:${d.id}:${++seq}`;
  const results = await pushInvoices(bed.gateway, bed.tenantId, [{ key, payload: toXeroInvoice(d, ctx(contactId, over)), idempotencyKey: key }]);
  const r = results.get(key)!;
  assert.ok(r.ok, `push failed: ${!r.ok ? r.message : ''}`);
  const stored = bed.emu.invoices(bed.tenantId).find((i) => i.InvoiceID === (r as PushedDocument).id)!;
  return { result: r as PushedDocument, stored };
}

function mapError(d: SalesDocument, over: Parameters<typeof ctx>[1] = {}): AppError {
  try {
    toXeroInvoice(d, ctx(contactId, over));
  } catch (e) {
    assert.ok(e instanceof AppError);
    return e;
  }
  assert.fail('expected the mapping to refuse the document');
}

describe('invoice mapping', () => {
  it('when rows exclude tax, then Xero gets an Exclusive DRAFT ACCREC with the reference, dates, tax type and the Bitrix24 total', async () => {
    const d = doc([line({ unitPrice: '100', quantity: 2 }), line({ name: 'Hosting', unitPrice: '19.99', quantity: 3 })]);
    const { result, stored } = await push(d);
    assert.equal(stored.Type, 'ACCREC');
    assert.equal(stored.Status, 'DRAFT');
    assert.equal(stored.LineAmountTypes, 'Exclusive');
    assert.equal(stored.Reference, 'B24-42');
    assert.equal(stored.DateString, '2025-03-01T00:00:00');
    assert.equal(stored.CurrencyCode, 'NZD');
    assert.deepEqual(stored.LineItems.map((l: any) => [l.Description, l.TaxType, l.AccountCode]), [['Consulting', 'OUTPUT2', '200'], ['Hosting', 'OUTPUT2', '200']]);
    assert.equal(Decimal.of(result.total).toFixed(2), d.total.toFixed(2));
    assert.equal(result.total, 298.97); // 200 + 30.00 tax, 59.97 + 9.00 tax
  });

  it('when every taxed row includes tax, then Xero gets Inclusive lines at the gross price and exactly the Bitrix24 total', async () => {
    const d = doc([line({ unitPrice: '115', quantity: 1, taxIncluded: true }), line({ unitPrice: '33.33', quantity: 3, taxIncluded: true })]);
    const { result, stored } = await push(d);
    assert.equal(stored.LineAmountTypes, 'Inclusive');
    assert.deepEqual(stored.LineItems.map((l: any) => l.UnitAmount), [115, 33.33]);
    assert.equal(result.total, d.total.toNumber(2));
    assert.equal(result.total, 214.99);
  });

  it('when no row has VAT, then Xero gets NoTax without tax types and the same total', async () => {
    const d = doc([line({ unitPrice: '10.5', quantity: 4, taxRate: null }), line({ unitPrice: '0.3333', quantity: 3, taxRate: null })]);
    const mapped = toXeroInvoice(d, ctx(contactId));
    assert.ok(mapped.lineItems!.every((l) => l.taxType === undefined));
    const { result, stored } = await push(d);
    assert.equal(stored.LineAmountTypes, 'NoTax');
    assert.equal(result.total, 43);
  });

  it('when taxed rows mix included and excluded tax, then the included ones are sent net and the total stays within 0.01', async () => {
    const d = doc([line({ unitPrice: '100', quantity: 1 }), line({ unitPrice: '57.50', quantity: 3, taxIncluded: true }), line({ unitPrice: '9.99', quantity: 7, taxIncluded: true })]);
    const { result, stored } = await push(d);
    assert.equal(stored.LineAmountTypes, 'Exclusive');
    assert.equal(stored.LineItems[1].UnitAmount, 50); // 57.50 / 1.15
    assert.ok(Decimal.of(result.total).sub(d.total).abs().cmp('0.01') <= 0, `${result.total} vs ${d.total}`);
    assert.equal(Decimal.of(result.total).toFixed(2), expectedXeroTotal(d, ctx(contactId)).toFixed(2));
  });

  it('when a row has a percent discount, then it goes as DiscountRate and Xero computes the discounted amount', async () => {
    const d = doc([line({ unitPrice: '200', quantity: 3, discount: { kind: 'percent', rate: Decimal.of('12.5') }, taxRate: null })]);
    const { result, stored } = await push(d);
    assert.equal(stored.LineItems[0].DiscountRate, 12.5);
    assert.equal(stored.LineItems[0].LineAmount, 525);
    assert.equal(result.total, 525);
  });

  it('when a row has an absolute discount per unit, then it goes as DiscountAmount for the whole row', async () => {
    const d = doc([line({ unitPrice: '80', quantity: 4, discount: { kind: 'amount', perUnit: Decimal.of('2.5') }, taxIncluded: true })]);
    const mapped = toXeroInvoice(d, ctx(contactId));
    assert.equal(mapped.lineItems![0].discountAmount, 10);
    const { result } = await push(d);
    assert.equal(result.total, 310);
  });

  it('when a unit price has 4 decimals, then Xero keeps them (unitdp=4) and the row total matches', async () => {
    const d = doc([line({ unitPrice: '0.1234', quantity: 1000, taxRate: null })]);
    const { result, stored } = await push(d);
    assert.equal(stored.LineItems[0].UnitAmount, 0.1234);
    assert.equal(result.total, 123.4);
  });

  it('when a product has its own sales account, then the line uses it; otherwise the default sales account', () => {
    const mapped = toXeroInvoice(doc([line({ unitPrice: 1, accountCode: '260' }), line({ unitPrice: 1 })]), ctx(contactId));
    assert.deepEqual(mapped.lineItems!.map((l) => l.accountCode), ['260', '200']);
  });

  it('when a product is linked to a Xero item, then the line carries its item code', async () => {
    const d = doc([line({ productId: '7', unitPrice: 150 })]);
    const { stored } = await push(d, { itemCodes: new Map([['7', 'DEV-HOUR']]) });
    assert.equal(stored.LineItems[0].ItemCode, 'DEV-HOUR');
  });

  it('when neither the product nor the settings have a sales account, then SYNC.MISSING_ACCOUNT_CODE names the products and the fix', () => {
    const e = mapError(doc([line({ name: 'Widget', unitPrice: 5 }), line({ name: 'Gadget', unitPrice: 5, accountCode: '200' })]), {
      settings: { ...settings, defaultSalesAccount: null },
    });
    assert.equal(e.code, 'SYNC.MISSING_ACCOUNT_CODE');
    assert.match(e.message, /"Widget"/);
    assert.doesNotMatch(e.message, /Gadget/);
    assert.match(e.message, /set its Xero sales account in the product card, or a default sales account in the connector settings/i);
  });

  it('when a VAT rate has no Xero tax rate, then SYNC.UNKNOWN_TAX_RATE names the rate and says to map it', () => {
    const e = mapError(doc([line({ unitPrice: 5, taxRate: '7.5' })]));
    assert.equal(e.code, 'SYNC.UNKNOWN_TAX_RATE');
    assert.match(e.message, /7\.5%/);
    assert.match(e.message, /map it in the connector settings/i);
  });

  it('when the document has no rows, then SYNC.EMPTY_DOCUMENT', () => {
    assert.equal(mapError(doc([])).code, 'SYNC.EMPTY_DOCUMENT');
  });

  it('when the rows total zero, then SYNC.ZERO_TOTAL', () => {
    assert.equal(mapError(doc([line({ unitPrice: 0, quantity: 3 })])).code, 'SYNC.ZERO_TOTAL');
  });

  it('when the currency is not enabled in the Xero organisation, then SYNC.UNKNOWN_CURRENCY names it and the organisation currencies come from Xero', async () => {
    const currencies = await listCurrencies(bed.gateway, bed.tenantId);
    assert.deepEqual(currencies, ['NZD', 'AUD', 'USD']);
    const e = mapError(doc([line({ unitPrice: 5 })], { currency: 'EUR' }), { currencies });
    assert.equal(e.code, 'SYNC.UNKNOWN_CURRENCY');
    assert.match(e.message, /EUR/);
  });

  it('when the document has no customer, then SYNC.NO_CUSTOMER', () => {
    assert.equal(mapError(doc([line({ unitPrice: 5 })], { customer: null })).code, 'SYNC.NO_CUSTOMER');
  });

  it('when a quote is mapped, then it is a DRAFT quote with upper-case line amount types', () => {
    const q = toXeroQuote(doc([line({ unitPrice: 5, taxIncluded: true })], { type: 'quote' }), ctx(contactId));
    assert.equal(String(q.status), 'DRAFT');
    assert.equal(String(q.lineAmountTypes), 'INCLUSIVE');
    assert.equal(q.reference, 'B24-42');
  });

  it('when 60 random documents (fixed seed) are pushed, then each Xero total equals the Bitrix24 row total: exactly for Inclusive and NoTax, within 0.01 for mixed', async () => {
    const rnd = seeded(20250301);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    const docs: SalesDocument[] = [];
    for (let n = 0; n < 60; n++) {
      const mode = pick(['exclusive', 'inclusive', 'notax', 'mixed']);
      const rows = [];
      for (let r = 0, count = 1 + Math.floor(rnd() * 6); r < count; r++) {
        const price = Decimal.of((rnd() * 500).toFixed(pick([0, 2, 2, 4])));
        const quantity = Decimal.of(pick(['1', '2', '3', '7', '12', '0.5', '2.25']));
        const discount = pick([null, null, { kind: 'percent' as const, rate: Decimal.of(pick(['5', '10', '12.5', '33'])) }, { kind: 'amount' as const, perUnit: price.mul('0.1').round(2) }]);
        const taxRate = mode === 'notax' ? null : pick(['15', '15', '0']);
        const taxIncluded = mode === 'inclusive' ? true : mode === 'mixed' ? rnd() < 0.5 : false;
        rows.push(line({ unitPrice: price.toString(), quantity: quantity.toString(), discount, taxRate, taxIncluded, name: `Row ${r}` }));
      }
      docs.push(doc(rows, { id: String(1000 + n), number: `P-${n}` }));
    }
    const items = docs.map((d) => ({ key: d.id, payload: toXeroInvoice(d, ctx(contactId)), idempotencyKey: `prop:${d.id}` }));
    const results = await pushInvoices(bed.gateway, bed.tenantId, items);
    for (const d of docs) {
      const r = results.get(d.id)!;
      assert.ok(r.ok, `document ${d.number}: ${!r.ok ? r.message : ''}`);
      const lat = String(toXeroInvoice(d, ctx(contactId)).lineAmountTypes);
      const diff = Decimal.of(r.total).sub(d.total).abs();
      if (lat === 'Exclusive' && d.lines.some((l) => l.taxIncluded && l.taxRate && !l.taxRate.isZero())) {
        assert.ok(diff.cmp('0.01') <= 0, `${d.number} (${lat}): Xero ${r.total}, Bitrix24 ${d.total}`);
      } else {
        assert.equal(Decimal.of(r.total).toFixed(2), d.total.toFixed(2), `${d.number} (${lat})`);
      }
    }
  });
});
