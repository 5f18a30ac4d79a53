import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QUOTE, SMART_INVOICE } from './emulators/bitrix24/index.js';
import { useSkipAheadClock } from './helpers/clock.js';
import { startEnvironment, type Environment } from './helpers/env.js';
import { updatePortalSettings } from '../app/sync/settings.js';
import { pushWithLostAnswer } from './helpers/lost-answer.js';

// Xero's minute is spent by the file's pushes: the gateway's waits for it to free move the clock instead of sleeping.
useSkipAheadClock();

type Row = Record<string, unknown>;

/** A salesperson creates a company and an estimate with rows, as in the Bitrix24 UI. */
function createQuote(env: Environment, opts: { number: string; company?: string; companyId?: number; stageId?: string; rows?: Row[] }) {
  const user = env.b24.actAs(2);
  const companyId = opts.companyId ?? Number(user.createCompany({ title: opts.company ?? `Client of ${opts.number}`, fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: `${opts.number.toLowerCase()}@example.com` }] }).id);
  const q = user.createQuote({
    title: `Fit-out ${opts.number}`, quoteNumber: opts.number, companyId, currencyId: 'NZD', stageId: opts.stageId ?? 'DRAFT',
    begindate: '2026-11-20T00:00:00+00:00', closedate: '2026-12-20T00:00:00+00:00',
    content: 'Kitchen fit-out, stage one', terms: 'Valid for 30 days. 50 % deposit on acceptance.',
  });
  const id = Number(q.id);
  user.setProductRows(QUOTE, id, opts.rows ?? [
    { productName: 'Design hour', price: 103.5, quantity: 10, taxRate: 15, taxIncluded: 'Y', discountTypeId: 2, discountRate: 10, priceBrutto: 115, priceNetto: 100 },
    { productName: 'Site visit', price: 57.5, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
  ]);
  return { id, companyId };
}

function xeroQuotesFor(env: Environment, reference: string) {
  return env.xero.quotes(env.tenantId).filter((q) => q.Reference === reference);
}

function quoteItem(env: Environment, id: number): Row {
  return env.b24.items(QUOTE).find((i) => Number(i.id) === id)! as Row;
}

async function activity(env: Environment, id: number): Promise<string[]> {
  return (await env.c.store.activity.list({ memberId: env.memberId, subject: `quote:${id}`, limit: 20 })).map((a) => a.message);
}

/** A fresh environment for the enclosing suite, handed to `use`; at the end no request broke Xero's spec. */
function suiteEnvironment(use: (env: Environment) => void): void {
  let env: Environment;
  before(async () => use((env = await startEnvironment())));
  after(async () => {
    env.xero.assertNoSpecViolations();
    await env.close();
  });
}

describe('pushing quotes from Bitrix24 to Xero', () => {
  let env: Environment;
  suiteEnvironment((e) => (env = e));

  it('when a quote\'s write-back to Bitrix24 was missed, then a later run writes its Xero id back without reading Xero', async () => {
    const { id } = createQuote(env, { number: 'EST-1090' });
    await env.settle();
    const [x] = xeroQuotesFor(env, 'EST-1090');
    // The write-back was lost: the estimate does not show its Xero id (a salesperson's edit of the field, here).
    env.b24.actAs(2).updateItem(QUOTE, id, { ufCrmQuoteXeroId: '' });
    env.xero.resetCounters();
    await env.settle();
    assert.equal(quoteItem(env, id).ufCrmQuoteXeroId, x.QuoteID);
    assert.equal(env.xero.callCount('GET /Quotes/{id}'), 0, JSON.stringify(env.xero.counters.calls));
    assert.equal(xeroQuotesFor(env, 'EST-1090').length, 1);
  });

  it('when a salesperson creates an estimate, then one Xero draft quote appears with every field, and its id, number and status come back', async () => {
    const { id } = createQuote(env, { number: 'EST-1001', company: 'Harbour Kitchens Ltd' });
    await env.settle();
    const all = xeroQuotesFor(env, 'EST-1001');
    assert.equal(all.length, 1);
    const [x] = all;
    assert.equal(x.Status, 'DRAFT');
    assert.equal((x.Contact as Row).Name, 'Harbour Kitchens Ltd');
    assert.equal(x.DateString, '2026-11-20T00:00:00');
    assert.equal(x.ExpiryDateString, '2026-12-20T00:00:00');
    assert.equal(x.Title, 'Fit-out EST-1001');
    assert.equal(x.Summary, 'Kitchen fit-out, stage one');
    assert.equal(x.Terms, 'Valid for 30 days. 50 % deposit on acceptance.');
    assert.match(String(x.QuoteNumber), /^QU-\d{4}$/, 'Xero numbers the quote (the default numbering)');
    assert.equal(x.CurrencyCode, 'NZD');
    assert.equal(x.LineAmountTypes, 'INCLUSIVE');
    assert.deepEqual((x.LineItems as Row[]).map((l) => [l.Description, l.Quantity, l.UnitAmount, l.DiscountRate ?? null, l.AccountCode, l.TaxType]), [
      ['Design hour', 10, 115, 10, '200', 'OUTPUT2'],
      ['Site visit', 1, 57.5, null, '200', 'OUTPUT2'],
    ]);
    assert.equal(x.Total, 1092.5);
    const link = (await env.c.store.links.find(env.memberId, 'quote', String(id)))!;
    assert.equal(link.xeroType, 'quote');
    assert.equal(link.xeroId, x.QuoteID);
    const item = quoteItem(env, id);
    assert.equal(item.ufCrmQuoteXeroId, x.QuoteID);
    assert.equal(item.ufCrmQuoteXeroNumber, x.QuoteNumber);
    assert.equal(item.ufCrmQuoteXeroStatus, 'DRAFT');
    assert.equal((await env.c.store.jobs.countByState(env.memberId)).needs_attention, 0);
    assert.ok((await activity(env, id)).some((m) => m === `Quote EST-1001 sent to Xero as draft ${x.QuoteNumber}.`));
  });

  it('when an estimate row names a product linked to a Xero item, then the Xero quote line carries the item code, as an invoice line does', async () => {
    env.xero.seedItem(env.tenantId, { Code: 'KIT-DESIGN', Name: 'Kitchen design', Description: 'Kitchen design, per hour', SalesDetails: { UnitPrice: 115, AccountCode: '200', TaxType: 'OUTPUT2' } });
    const user = env.b24.actAs(2);
    const product = user.createProduct({ iblockId: env.b24.productProperties()[0]?.iblockId ?? 23, name: 'Kitchen design' });
    const item = env.xero.items(env.tenantId).find((i) => i.Code === 'KIT-DESIGN')!;
    // The link the import (or a match by code) leaves between the product and the Xero item.
    await env.c.store.links.save({ memberId: env.memberId, connectionId: env.connectionId, b24Type: 'product', b24Id: String(product.id), xeroType: 'item', xeroId: String(item.ItemID), xeroNumber: 'KIT-DESIGN', contentHash: null, xeroStatus: 'ACTIVE', xeroUpdatedAt: null });
    createQuote(env, { number: 'EST-1501', rows: [
      { productId: Number(product.id), productName: 'Kitchen design', price: 115, quantity: 3, taxRate: 15, taxIncluded: 'Y' },
      { productName: 'Site visit', price: 57.5, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
    ] });
    await env.settle();
    const [x] = xeroQuotesFor(env, 'EST-1501');
    assert.ok(x, JSON.stringify((await env.c.store.jobs.list({ states: ['needs_attention'] })).map((j) => j.lastError)));
    assert.deepEqual((x.LineItems as Row[]).map((l) => [l.Description, l.ItemCode ?? null]), [['Kitchen design', 'KIT-DESIGN'], ['Site visit', null]]);
  });

  it('when the connector writes Xero numbers back and events come twice, then the echoes cause no Xero call and Xero has one quote', async () => {
    const { id } = createQuote(env, { number: 'EST-1002' });
    await env.b24.flushEvents();
    await env.b24.flushEvents();
    await env.settle();
    env.xero.resetCounters();
    env.b24.actAs(2).updateItem(QUOTE, id, { title: 'Fit-out EST-1002' });
    await env.settle();
    assert.equal(env.xero.counters.total, 0, JSON.stringify(env.xero.requestLog.map((r) => r.endpoint)));
    assert.equal(xeroQuotesFor(env, 'EST-1002').length, 1);
  });

  it('when a draft or sent quote is edited in Bitrix24, then the same Xero quote is updated; once accepted, the card says why not', async () => {
    const { id } = createQuote(env, { number: 'EST-1003' });
    await env.settle();
    const [first] = xeroQuotesFor(env, 'EST-1003');
    env.b24.actAs(2).setProductRows(QUOTE, id, [{ productName: 'Design hour', price: 115, quantity: 4, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    let [now] = xeroQuotesFor(env, 'EST-1003');
    assert.equal(now.QuoteID, first.QuoteID);
    assert.equal(now.Total, 460);
    env.xero.setQuoteStatus(env.tenantId, String(first.QuoteID), 'SENT');
    env.b24.actAs(2).updateItem(QUOTE, id, { title: 'Fit-out EST-1003, revised' });
    await env.settle();
    [now] = xeroQuotesFor(env, 'EST-1003');
    assert.equal(now.Title, 'Fit-out EST-1003, revised', 'a sent quote is still editable in Xero');
    assert.equal(now.Status, 'SENT');
    env.xero.setQuoteStatus(env.tenantId, String(first.QuoteID), 'ACCEPTED');
    env.b24.actAs(2).updateItem(QUOTE, id, { title: 'Too late' });
    await env.settle();
    [now] = xeroQuotesFor(env, 'EST-1003');
    assert.equal(now.Title, 'Fit-out EST-1003, revised');
    assert.match((await activity(env, id))[0]!, /Changes to quote EST-1003 were not sent: it is ACCEPTED in Xero/);
    assert.equal(xeroQuotesFor(env, 'EST-1003').length, 1);
  });

  it('when the estimate moves through its stages, then the Xero quote follows: sent, accepted through sent, declined through sent, deleted', async () => {
    const user = env.b24.actAs(2);
    const moves: [string, (id: number) => unknown, string, string, number][] = [
      ['SENT', (id) => user.moveStage(QUOTE, id, 'SENT'), 'SENT', 'marked sent', 1],
      ['APPROVED', (id) => user.moveStage(QUOTE, id, 'APPROVED'), 'ACCEPTED', 'accepted in Xero (through SENT)', 2],
      ['DECLAINED', (id) => user.moveStage(QUOTE, id, 'DECLAINED'), 'DECLINED', 'declined in Xero (through SENT)', 2],
      ['DELETE', (id) => user.deleteItem(QUOTE, id), 'DELETED', 'deleted in Xero because it was deleted in Bitrix24', 1],
    ];
    for (const [label, act, status, words, steps] of moves) {
      const { id } = createQuote(env, { number: `EST-2${label}` });
      await env.settle();
      env.xero.resetCounters();
      act(id);
      await env.settle();
      assert.equal(xeroQuotesFor(env, `EST-2${label}`)[0].Status, status, `${label} → ${status}`);
      const changes = env.xero.requestLog.filter((r) => r.method === 'POST' && /\/Quotes\//.test(r.endpoint)).length;
      assert.equal(changes, steps, 'one status change per allowed transition');
      assert.ok((await activity(env, id)).some((m) => m.includes(words)), (await activity(env, id)).join(' | '));
      assert.equal((await env.c.store.links.find(env.memberId, 'quote', String(id)))!.xeroStatus, status);
      if (label !== 'DELETE') assert.equal(quoteItem(env, id).ufCrmQuoteXeroStatus, status);
    }
  });

  it('when an estimate is created at a closing stage, then the Xero quote reaches that status too', async () => {
    createQuote(env, { number: 'EST-2NEW', stageId: 'APPROVED' });
    await env.settle();
    assert.equal(xeroQuotesFor(env, 'EST-2NEW')[0].Status, 'ACCEPTED');
  });

  it('when the admin maps a stage in the quote stage map, then that stage asks for the mapped status', async () => {
    const settings = await updatePortalSettings(env.c.store, env.memberId, { quoteStageMap: { SENT: 'ACCEPTED' } });
    try {
      const { id } = createQuote(env, { number: 'EST-2MAP' });
      await env.settle();
      env.b24.actAs(2).moveStage(QUOTE, id, 'SENT');
      await env.settle();
      assert.equal(xeroQuotesFor(env, 'EST-2MAP')[0].Status, 'ACCEPTED');
    } finally {
      await updatePortalSettings(env.c.store, env.memberId, { ...settings, quoteStageMap: {} });
    }
  });

  it('when Xero does not allow the transition, then the card explains it and it is not retried', async () => {
    const { id } = createQuote(env, { number: 'EST-3001' });
    await env.settle();
    const [x] = xeroQuotesFor(env, 'EST-3001');
    for (const s of ['SENT', 'ACCEPTED', 'INVOICED']) env.xero.setQuoteStatus(env.tenantId, String(x.QuoteID), s);
    env.b24.actAs(2).moveStage(QUOTE, id, 'DECLAINED');
    await env.settle();
    assert.equal(xeroQuotesFor(env, 'EST-3001')[0].Status, 'INVOICED');
    assert.match((await activity(env, id))[0]!, /Quote QU-\d+ stays INVOICED in Xero although it was moved to "Declined" in Bitrix24: Xero does not allow a quote that is INVOICED to become DECLINED\./);
    assert.equal((await env.c.store.jobs.countByState(env.memberId)).pending ?? 0, 0);
    env.xero.resetCounters();
    await env.b24.flushEvents();
    await env.settle();
    assert.equal(env.xero.counters.total, 0, 'not retried');
  });

  it('when the numbering setting says Bitrix24, then the Xero quote takes the Bitrix24 number', async () => {
    const settings = await updatePortalSettings(env.c.store, env.memberId, { documentNumbering: 'bitrix24' });
    try {
      createQuote(env, { number: 'EST-4001' });
      await env.settle();
      assert.equal(xeroQuotesFor(env, 'EST-4001')[0].QuoteNumber, 'EST-4001');
    } finally {
      await updatePortalSettings(env.c.store, env.memberId, { ...settings, documentNumbering: 'xero' });
    }
  });

  it('when Xero created a quote but its answer was lost and the estimate changed meanwhile, then it is found by its reference, not created twice', async () => {
    const { companyId } = createQuote(env, { number: 'EST-5000' });
    await env.settle();
    let id = 0;
    await pushWithLostAnswer(env, {
      create: () => ({ id } = createQuote(env, { number: 'EST-5001', companyId })),
      between: async () => {
        assert.equal(xeroQuotesFor(env, 'EST-5001').length, 1, 'Xero has it although the connector never heard back');
        assert.equal(await env.c.store.links.find(env.memberId, 'quote', String(id)), undefined);
      },
      edit: () => env.b24.actAs(2).setProductRows(QUOTE, id, [{ productName: 'Design hour', price: 115, quantity: 3, taxRate: 15, taxIncluded: 'Y' }]),
    });
    const all = xeroQuotesFor(env, 'EST-5001');
    assert.deepEqual([all.length, all[0].Total], [1, 345]);
    assert.equal((await env.c.store.links.find(env.memberId, 'quote', String(id)))!.xeroId, all[0].QuoteID);
  });

  it('when an invoice is made from an accepted estimate, then its Xero reference names the quote and the Xero quote becomes INVOICED', async () => {
    const { id, companyId } = createQuote(env, { number: 'EST-6001' });
    await env.settle();
    env.b24.actAs(2).moveStage(QUOTE, id, 'APPROVED');
    await env.settle();
    const [q] = xeroQuotesFor(env, 'EST-6001');
    assert.equal(q.Status, 'ACCEPTED');
    const user = env.b24.actAs(2);
    const inv = user.createSmartInvoice({ title: 'From EST-6001', accountNumber: 'INV-6001', companyId, currencyId: 'NZD', parentId7: id });
    user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Design hour', price: 115, quantity: 10, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const invoices = env.xero.invoices(env.tenantId).filter((i) => String(i.Reference).startsWith('INV-6001'));
    assert.equal(invoices.length, 1);
    assert.equal(invoices[0].Reference, `INV-6001 (quote ${q.QuoteNumber})`);
    assert.equal(xeroQuotesFor(env, 'EST-6001')[0].Status, 'INVOICED');
    assert.ok((await activity(env, id)).some((m) => m === `Quote ${q.QuoteNumber} was marked invoiced in Xero: invoice INV-6001 was made from it.`));
  });

  it('when a branding theme is chosen, then the Xero quote carries it; a theme Xero no longer has holds the estimate with Xero\'s reason', async () => {
    const theme = String(env.xero.brandingThemes(env.tenantId)[1].BrandingThemeID);
    const settings = await updatePortalSettings(env.c.store, env.memberId, { brandingThemeId: theme });
    try {
      createQuote(env, { number: 'EST-7201' });
      await env.settle();
      assert.equal(xeroQuotesFor(env, 'EST-7201')[0]?.BrandingThemeID, theme);
      // Chosen while it existed, deleted in Xero since.
      await updatePortalSettings(env.c.store, env.memberId, { brandingThemeId: '0f0f0f0f-0000-4000-8000-000000000000' });
      const { id } = createQuote(env, { number: 'EST-7202' });
      await env.settle();
      assert.equal(xeroQuotesFor(env, 'EST-7202').length, 0);
      const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:quote:${id}`))!;
      assert.equal(job.state, 'needs_attention');
      assert.match(job.lastError!, /BrandingThemeID '0f0f0f0f-0000-4000-8000-000000000000' is not a valid branding theme/);
    } finally {
      await updatePortalSettings(env.c.store, env.memberId, { ...settings, brandingThemeId: null });
    }
  });

  it('when quote sync is off, then estimates stay in Bitrix24', async () => {
    const settings = await updatePortalSettings(env.c.store, env.memberId, { quoteSync: false });
    try {
      createQuote(env, { number: 'EST-7001' });
      await env.settle();
      assert.equal(xeroQuotesFor(env, 'EST-7001').length, 0);
    } finally {
      await updatePortalSettings(env.c.store, env.memberId, { ...settings, quoteSync: true });
    }
  });
});

describe('healing a lost quote while Xero changes', () => {
  let env: Environment;
  suiteEnvironment((e) => (env = e));

  it('when a quote on the first page of the look-up changes before the second page is read, then the lost quote is still found and not created twice', async () => {
    const { companyId } = createQuote(env, { number: 'EST-8000' });
    await env.settle();
    // Other quotes changed before the lost one, a full page of them (Xero pages quotes by 100).
    for (let i = env.xero.quotes(env.tenantId).length + 1; i <= 100; i++) {
      env.xero.seedQuote(env.tenantId, {
        Contact: { Name: 'Walk-in Customer' }, Date: '2026-11-20', Reference: `SHOP-${i}`,
        LineItems: [{ Description: 'Counter sale', Quantity: 1, UnitAmount: 10, AccountCode: '200', TaxType: 'OUTPUT2' }],
      });
    }
    let id = 0;
    let touched = '';
    await pushWithLostAnswer(env, {
      create: () => ({ id } = createQuote(env, { number: 'EST-8001', companyId })),
      between: () => {
        assert.equal(xeroQuotesFor(env, 'EST-8001').length, 1, 'Xero has it although the connector never heard back');
        // Right after the look-up's first page, a person sends one of the quotes on it (its last change is now newest).
        env.xero.afterAnswer((r) => r.endpoint === 'GET /Quotes' && r.query.page === '1', (answer) => {
          const first = (answer as { Quotes: Row[] }).Quotes.find((q) => q.Reference !== 'EST-8001')!;
          touched = String(first.QuoteID);
          env.xero.setQuoteStatus(env.tenantId, touched, 'SENT');
        });
      },
      edit: () => env.b24.actAs(2).setProductRows(QUOTE, id, [{ productName: 'Design hour', price: 115, quantity: 3, taxRate: 15, taxIncluded: 'Y' }]),
    });
    assert.ok(touched, 'a quote changed between the pages of the look-up');
    const all = xeroQuotesFor(env, 'EST-8001');
    assert.deepEqual([all.length, all[0].Total], [1, 345]);
    assert.equal((await env.c.store.links.find(env.memberId, 'quote', String(id)))!.xeroId, all[0].QuoteID);
  });
});
