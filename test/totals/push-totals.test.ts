// Totals through the whole push: Bitrix24 emulator → connector → Xero emulator.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

type Row = Record<string, unknown>;

function createInvoice(env: Environment, number: string, rows: Row[]): number {
  const user = env.b24.actAs(2);
  const companyId = Number(user.createCompany({ title: `Customer of ${number}` }).id);
  const id = Number(user.createSmartInvoice({ title: number, accountNumber: number, companyId, currencyId: 'NZD' }).id);
  user.setProductRows(SMART_INVOICE, id, rows);
  return id;
}

const amountOf = (env: Environment, id: number) => Number(env.b24.items(SMART_INVOICE).find((i) => Number(i.id) === id)!.opportunity);

describe('totals through the push', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when tax-exclusive unit prices have four decimals and quantities are fractional, then Xero shows exactly the Bitrix24 amount and no difference is logged', async () => {
    const rows = [
      { productName: 'Design', priceExclusive: 9.9999, quantity: 3.3333, taxRate: 15, taxIncluded: 'N' },
      { productName: 'Hosting', priceExclusive: 12.3456, quantity: 7.125, taxRate: 15, taxIncluded: 'N' },
      { productName: 'Licence', price: 33.3333, quantity: 2.5, taxRate: 15, taxIncluded: 'Y', discountTypeId: 2, discountRate: 7.5 },
    ];
    const id = createInvoice(env, 'TOT-1', rows);
    await env.settle();
    const [x] = env.xero.invoices(env.tenantId).filter((i) => i.Reference === 'TOT-1');
    assert.equal(x.Total, amountOf(env, id));
    assert.equal((await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}`, limit: 20 })).filter((a) => a.kind === 'invoice.total_mismatch').length, 0);
  });

  it('when no line can carry the document rounding, then Xero gets a rounding line to the chart\'s rounding account and the card note says so', async () => {
    // Three rows of 1000.5 × 0.01: each rounds to 10.01, the document to 30.02; no unit amount makes 1000.5 × u
    // round to 10.00, and without VAT no tax can carry the cent.
    const id = createInvoice(env, 'TOT-2', [1, 2, 3].map((n) => ({ productName: `Screw ${n}`, price: 0.01, quantity: 1000.5, taxRate: null, taxIncluded: 'N' })));
    await env.settle();
    assert.equal(amountOf(env, id), 30.02);
    const [x] = env.xero.invoices(env.tenantId).filter((i) => i.Reference === 'TOT-2');
    assert.equal(x.Total, 30.02);
    const rounding = (x.LineItems as Row[]).find((l) => l.Description === 'Rounding')!;
    assert.deepEqual([rounding.AccountCode, rounding.LineAmount], ['860', -0.01]);
    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!;
    assert.match(await env.c.store.links.note(link.id) ?? '', /rounding line of -0\.01 NZD \(account 860\)/);
  });
});
