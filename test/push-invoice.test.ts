import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from './emulators/bitrix24/index.js';
import { useSkipAheadClock } from './helpers/clock.js';
import { startEnvironment, NZ_TAX_MAP, type Environment } from './helpers/env.js';
import { updatePortalSettings } from '../app/sync/settings.js';

// Xero's minute is spent by the file's pushes: the gateway's waits for it to free move the clock instead of sleeping.
useSkipAheadClock();

type Row = Record<string, unknown>;

/** A salesperson creates a company and a smart invoice with rows, as in the Bitrix24 UI. */
function createInvoice(env: Environment, opts: { number: string; company?: string; rows?: Row[]; currency?: string; companyId?: number }) {
  const user = env.b24.actAs(2);
  const companyId = opts.companyId ?? Number(user.createCompany({ title: opts.company ?? `Customer of ${opts.number}`, fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: `${opts.number.toLowerCase()}@example.com` }] }).id);
  const inv = user.createSmartInvoice({ title: `Invoice ${opts.number}`, accountNumber: opts.number, companyId, currencyId: opts.currency ?? 'NZD', begindate: '2026-11-20T00:00:00+00:00', closedate: '2026-12-20T00:00:00+00:00' });
  const id = Number(inv.id);
  user.setProductRows(SMART_INVOICE, id, opts.rows ?? [
    { productName: 'Consulting hour', price: 115, quantity: 10, taxRate: 15, taxIncluded: 'Y' },
    { productName: 'Travel', price: 57.5, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
  ]);
  return { id, companyId };
}

function xeroInvoiceFor(env: Environment, reference: string) {
  return env.xero.invoices(env.tenantId).filter((i) => i.Reference === reference);
}

describe('pushing invoices from Bitrix24 to Xero', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when a salesperson creates a smart invoice, then one Xero draft appears with the customer, lines, account and tax, and its number comes back', async () => {
    const { id } = createInvoice(env, { number: 'INV-1001', company: 'Harbour Cafe Ltd' });
    await env.settle();
    const [x] = xeroInvoiceFor(env, 'INV-1001');
    assert.ok(x, 'the invoice is in Xero');
    assert.equal(xeroInvoiceFor(env, 'INV-1001').length, 1);
    assert.equal(x.Status, 'DRAFT');
    assert.equal(x.Type, 'ACCREC');
    assert.equal(x.LineAmountTypes, 'Inclusive');
    assert.equal(x.CurrencyCode, 'NZD');
    assert.equal((x.Contact as Row).Name, 'Harbour Cafe Ltd');
    const lines = x.LineItems as Row[];
    assert.deepEqual(lines.map((l) => [l.Description, l.Quantity, l.UnitAmount, l.AccountCode, l.TaxType]), [
      ['Consulting hour', 10, 115, '200', 'OUTPUT2'],
      ['Travel', 1, 57.5, '200', 'OUTPUT2'],
    ]);
    assert.equal(x.Total, 1207.5);
    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!;
    assert.equal(link.xeroId, x.InvoiceID);
    assert.equal(link.xeroStatus, 'DRAFT');
    const item = env.b24.items(SMART_INVOICE).find((i) => Number(i.id) === id)!;
    const fields = JSON.stringify(item);
    assert.ok(fields.includes(String(x.InvoiceID)), `the Xero id is written back: ${fields}`);
    assert.ok(fields.includes(String(x.InvoiceNumber)));
    assert.equal((await env.c.store.jobs.countByState(env.memberId)).needs_attention, 0);
  });

  it('when the connector writes Xero numbers back, then the echo events cause no Xero call', async () => {
    createInvoice(env, { number: 'INV-1002' });
    await env.settle();
    env.xero.resetCounters();
    // Our write-back raised an update event; a no-op save by a user raises another.
    const link = [...(await env.c.store.links.find(env.memberId, 'smart_invoice', String(env.b24.items(SMART_INVOICE).at(-1)!.id)))!.xeroId];
    assert.ok(link.length > 0);
    env.b24.actAs(2).updateItem(SMART_INVOICE, Number(env.b24.items(SMART_INVOICE).at(-1)!.id), { title: 'Invoice INV-1002' });
    await env.settle();
    assert.equal(env.xero.counters.total, 0, JSON.stringify(env.xero.requestLog.map((r) => r.endpoint)));
  });

  it('when a draft invoice is edited in Bitrix24, then the same Xero invoice is updated in place with its line ids', async () => {
    const { id } = createInvoice(env, { number: 'INV-1003' });
    await env.settle();
    const [before] = xeroInvoiceFor(env, 'INV-1003');
    const beforeLineIds = (before.LineItems as Row[]).map((l) => l.LineItemID);
    env.b24.actAs(2).setProductRows(SMART_INVOICE, id, [
      { productName: 'Consulting hour', price: 115, quantity: 12, taxRate: 15, taxIncluded: 'Y' },
      { productName: 'Travel', price: 57.5, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
      { productName: 'Parking', price: 23, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
    ]);
    await env.settle();
    const after = xeroInvoiceFor(env, 'INV-1003');
    assert.equal(after.length, 1, 'no second invoice');
    assert.equal(after[0].InvoiceID, before.InvoiceID);
    const lines = after[0].LineItems as Row[];
    assert.equal(lines.length, 3);
    assert.deepEqual(lines.slice(0, 2).map((l) => l.LineItemID), beforeLineIds);
    assert.equal(lines[0].Quantity, 12);
    assert.equal(after[0].Total, 1460.5);
  });

  it('when the invoice was approved in Xero, then Bitrix24 edits are not pushed and the card says why', async () => {
    const { id } = createInvoice(env, { number: 'INV-1004' });
    await env.settle();
    const [x] = xeroInvoiceFor(env, 'INV-1004');
    env.xero.approveInvoice(env.tenantId, String(x.InvoiceID));
    env.b24.actAs(2).setProductRows(SMART_INVOICE, id, [{ productName: 'Changed', price: 10, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const [after] = xeroInvoiceFor(env, 'INV-1004');
    assert.equal(after.Status, 'AUTHORISED');
    assert.equal((after.LineItems as Row[])[0].Description, 'Consulting hour');
    const notes = (await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}` })).map((a) => a.message);
    assert.ok(notes.some((m) => /were not sent: it is AUTHORISED in Xero/.test(m)), notes.join(' | '));
    // The push asked for the invoice's status, which the pull carried into Bitrix24 (no webhook needed).
    assert.equal(env.b24.items(SMART_INVOICE).find((i) => Number(i.id) === id)!.stageId, 'DT31_2:S');
  });

  it('when a draft invoice is deleted in Bitrix24, then the Xero draft is deleted', async () => {
    const { id } = createInvoice(env, { number: 'INV-1005' });
    await env.settle();
    env.b24.actAs(2).deleteItem(SMART_INVOICE, id);
    await env.settle();
    assert.equal(xeroInvoiceFor(env, 'INV-1005')[0].Status, 'DELETED');
  });

  it('when an approved unpaid invoice is deleted in Bitrix24, then it is voided in Xero', async () => {
    const { id } = createInvoice(env, { number: 'INV-1006' });
    await env.settle();
    env.xero.approveInvoice(env.tenantId, String(xeroInvoiceFor(env, 'INV-1006')[0].InvoiceID));
    env.b24.actAs(2).deleteItem(SMART_INVOICE, id);
    await env.settle();
    assert.equal(xeroInvoiceFor(env, 'INV-1006')[0].Status, 'VOIDED');
  });

  it('when events come twice and out of order, then Xero still gets one invoice', async () => {
    const { id } = createInvoice(env, { number: 'INV-1007' });
    // The same document changes again before the queue is worked: one job, latest state.
    env.b24.actAs(2).updateItem(SMART_INVOICE, id, { title: 'Changed title' });
    await env.b24.flushEvents();
    await env.b24.flushEvents();
    await env.settle();
    assert.equal(xeroInvoiceFor(env, 'INV-1007').length, 1);
  });

  it('when Xero created an invoice but its answer was lost and the invoice changed meanwhile, then it is found by its number, not created twice', async () => {
    // The customer is already in Xero, so the push makes one call: the invoice POST, whose answer is lost.
    const { companyId } = createInvoice(env, { number: 'INV-1010A' });
    await env.settle();
    const { id } = createInvoice(env, { number: 'INV-1010', companyId });
    env.xero.setFaults({ dropResponseRate: 1 });
    await env.b24.flushEvents();
    await env.c.services.outbox.drain();
    env.xero.setFaults({});
    assert.equal(xeroInvoiceFor(env, 'INV-1010').length, 1, 'Xero has it although the connector never heard back');
    assert.equal(await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)), undefined);
    // A salesperson edits it before the retry: another body, so Xero's idempotency replay cannot help.
    env.b24.actAs(2).setProductRows(SMART_INVOICE, id, [{ productName: 'Consulting hour', price: 115, quantity: 3, taxRate: 15, taxIncluded: 'Y' }]);
    await env.c.store.db.run(`UPDATE jobs SET run_at = 0 WHERE state = 'pending'`);
    await env.settle();
    const all = xeroInvoiceFor(env, 'INV-1010');
    assert.equal(all.length, 1);
    assert.equal(all[0].Total, 345);
    assert.equal((await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!.xeroId, all[0].InvoiceID);
  });

  it('when two invoices share a new customer, then one Xero contact is created and linked', async () => {
    const { companyId } = createInvoice(env, { number: 'INV-1008', company: 'Shared Customer Ltd' });
    createInvoice(env, { number: 'INV-1009', companyId });
    await env.settle();
    const contacts = env.xero.contacts(env.tenantId).filter((c) => c.Name === 'Shared Customer Ltd');
    assert.equal(contacts.length, 1);
    assert.equal(contacts[0].ContactNumber, `b24:company:${companyId}`);
    assert.equal((xeroInvoiceFor(env, 'INV-1009')[0].Contact as Row).ContactID, contacts[0].ContactID);
  });

  it('when a classic invoice is created, then it reaches Xero as a draft too', async () => {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Classic Customer Ltd' }).id);
    const inv = user.createClassicInvoice({
      ORDER_TOPIC: 'Classic one', ACCOUNT_NUMBER: 'CL-2001', UF_COMPANY_ID: companyId, CURRENCY: 'NZD', PERSON_TYPE_ID: 1,
      DATE_BILL: '2026-11-20', DATE_PAY_BEFORE: '2026-12-20', STATUS_ID: 'N',
      PRODUCT_ROWS: [{ PRODUCT_ID: 0, PRODUCT_NAME: 'Design work', PRICE: 230, QUANTITY: 2, VAT_RATE: 0.15, VAT_INCLUDED: 'Y' }],
    });
    await env.settle();
    const [x] = xeroInvoiceFor(env, 'CL-2001');
    assert.ok(x, JSON.stringify((await env.c.store.jobs.list({ memberId: env.memberId })).slice(0, 3)));
    assert.equal(x.Total, 460);
    assert.equal((x.Contact as Row).Name, 'Classic Customer Ltd');
    const link = (await env.c.store.links.find(env.memberId, 'invoice', String(inv.ID ?? inv.id)))!;
    assert.equal(link.xeroId, x.InvoiceID);
  });
});

describe('invoices that cannot be sent', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({ settings: { defaultSalesAccount: null } });
    // A second revenue account named "Sales": the default sales account can no longer be told automatically.
    env.xero.addAccount(env.tenantId, { Code: '201', Name: 'Sales', Type: 'REVENUE', TaxType: 'OUTPUT2' });
    await env.c.services.orgData.refresh(env.memberId);
  });
  after(async () => env.close());

  it('when a product has no GL code and there is no default, then the job needs attention naming it, and adding a default lets it through', async () => {
    const { id } = createInvoice(env, { number: 'INV-3001', rows: [{ productName: 'Mystery box', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }] });
    await env.settle();
    const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!;
    assert.equal(job.state, 'needs_attention');
    assert.equal(job.lastErrorCode, 'SYNC.MISSING_ACCOUNT_CODE');
    assert.match(job.lastError!, /Mystery box/);
    assert.equal(xeroInvoiceFor(env, 'INV-3001').length, 0);
    // The dashboard lists it with the reason.
    const page = await fetch(`${env.c.url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(env.b24.frameAuth(1)) });
    const html = await page.text();
    assert.match(html, /Needs attention/);
    assert.match(html, new RegExp(`Invoice #${id}</a></td><td class="reason">[^<]*Mystery box`));

    const session = env.c.services.sessions.issue({ memberId: env.memberId, userId: 1, isAdmin: true, userName: 'Admin', authId: env.b24.frameAuth(1).AUTH_ID });
    const res = await fetch(`${env.c.url}/api/settings`, { method: 'PUT', headers: { 'content-type': 'application/json', 'X-Connector-Session': session }, body: JSON.stringify({ defaultSalesAccount: '200' }) });
    assert.equal(res.status, 200);
    await env.settle();
    assert.equal(xeroInvoiceFor(env, 'INV-3001').length, 1, JSON.stringify(await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`) ?? (await env.c.store.activity.list({ memberId: env.memberId })).slice(0, 3)));
  });

  it('when the GL code is then set on the product card, then the next sweep lets the invoice through', async () => {
    await updatePortalSettings(env.c.store, env.memberId, { defaultSalesAccount: null });
    const user = env.b24.actAs(1);
    const product = user.createProduct({ iblockId: env.b24.productProperties()[0]?.iblockId ?? 23, name: 'Widget' });
    const { id } = createInvoice(env, { number: 'INV-3006', rows: [{ productId: product.id, productName: 'Widget', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }] });
    await env.settle();
    const waiting = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!;
    assert.equal(waiting.lastErrorCode, 'SYNC.MISSING_ACCOUNT_CODE');
    const propertyId = (await env.c.store.settings.get<number>(env.memberId, 'b24.accountCodePropertyId'))!;
    user.updateProduct(Number(product.id), { [`property${propertyId}`]: { value: '200' } });
    await env.c.services.intakeSchedule.queue('reconcile');
    await env.settle();
    const [x] = xeroInvoiceFor(env, 'INV-3006');
    assert.ok(x, JSON.stringify(await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`)));
    assert.equal((x.LineItems as Row[])[0].AccountCode, '200');
    await updatePortalSettings(env.c.store, env.memberId, { defaultSalesAccount: '200' });
  });

  it('when a VAT rate is not mapped, then the message names the rate and the settings to change', async () => {
    const { id } = createInvoice(env, { number: 'INV-3002', rows: [{ productName: 'Item', price: 120, quantity: 1, taxRate: 20, taxIncluded: 'Y' }] });
    await env.settle();
    const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!;
    assert.equal(job.lastErrorCode, 'SYNC.UNKNOWN_TAX_RATE');
    assert.match(job.lastError!, /20/);
  });

  it('when an invoice has no rows, then it is held with a clear message', async () => {
    const { id } = createInvoice(env, { number: 'INV-3003', rows: [] });
    await env.settle();
    const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!;
    assert.equal(job.lastErrorCode, 'SYNC.EMPTY_DOCUMENT');
  });

  it('when the currency is not enabled in Xero, then the message names it', async () => {
    const { id } = createInvoice(env, { number: 'INV-3004', currency: 'JPY' });
    await env.settle();
    const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!;
    assert.equal(job.lastErrorCode, 'SYNC.UNKNOWN_CURRENCY');
    assert.match(job.lastError!, /JPY/);
  });

  it('when the company of an invoice was deleted, then it is held naming the missing customer', async () => {
    const { id, companyId } = createInvoice(env, { number: 'INV-3007' });
    env.b24.actAs(1).deleteItem(4, companyId);
    await env.settle();
    const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!;
    assert.equal(job.lastErrorCode, 'SYNC.CUSTOMER_NOT_FOUND');
    assert.match(job.lastError!, new RegExp(`company ${companyId} .* was deleted in Bitrix24`));
  });

  it('when the Xero total differs from the Bitrix24 total by more than a cent, then both figures are flagged', async () => {
    // 20 % VAT in Bitrix24 mapped (wrongly) to NZ GST 15 %: Xero computes another total.
    await updatePortalSettings(env.c.store, env.memberId, { taxRateMap: { ...NZ_TAX_MAP, '20': 'OUTPUT2' } });
    const { id } = createInvoice(env, { number: 'INV-3008', rows: [{ productName: 'Item', price: 120, quantity: 1, taxRate: 20, taxIncluded: 'N' }] });
    await env.settle();
    const flagged = (await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}` })).find((a) => a.kind === 'invoice.total_mismatch');
    assert.ok(flagged, 'the difference is flagged');
    assert.match(flagged.message, /Bitrix24 120\.00 NZD, Xero 115\.00 NZD/);
    await updatePortalSettings(env.c.store, env.memberId, { taxRateMap: NZ_TAX_MAP });
  });

  it('when the invoice has no customer, then it is held asking for one', async () => {
    const inv = env.b24.actAs(2).createSmartInvoice({ title: 'No customer', accountNumber: 'INV-3005', currencyId: 'NZD' });
    env.b24.actAs(2).setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Thing', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${inv.id}`))!;
    assert.equal(job.lastErrorCode, 'SYNC.NO_CUSTOMER');
    assert.match(job.lastError!, /Choose the customer/);
  });
});
