/**
 * The card tab's figures (total, paid, due, currency, due date, status) are Xero's, kept on the link by the push and
 * the status pull from Xero's own answers: however often a card is opened or its live stream ticks, its figures cost
 * no Xero call, and they follow Xero after each pull. Only the online invoice's address is read once, as a page's read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
}

/** The text of the card's stat `id` (total, paid, due, dueDate) in the tab's HTML. */
function stat(html: string, id: string): string {
  const m = new RegExp(`data-k="?${id}"?[^>]*>([^<]*)<`).exec(html) ?? new RegExp(`id="${id}"[\\s\\S]*?<[^>]*class="[^"]*value[^"]*"[^>]*>([^<]*)<`).exec(html);
  return (m?.[1] ?? '').trim();
}

describe('the card shows the figures kept from Xero', () => {
  let env: Environment;
  let invoiceId = 0;
  let xeroId = '';

  before(async () => {
    env = await startEnvironment();
    const admin = env.b24.actAs(1);
    const companyId = Number(admin.createCompany({ title: 'Figures Customer Ltd' }).id);
    invoiceId = Number(admin.createSmartInvoice({ title: 'Invoice FIG-1', accountNumber: 'FIG-1', companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
    admin.setProductRows(SMART_INVOICE, invoiceId, [{ productName: 'Consulting', price: 230, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    xeroId = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(invoiceId)))!.xeroId;
  });
  after(async () => env.close());

  const openTab = async () => {
    const res = await postForm(`${env.c.url}/placements/invoice`, { ...env.b24.frameAuth(1), PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', PLACEMENT_OPTIONS: JSON.stringify({ ID: String(invoiceId) }) });
    assert.equal(res.status, 200);
    return res.text();
  };
  const xeroCalls = () => env.xero.usage(env.tenantId).day;

  it('when a draft is opened twenty times, then its figures are the pushed answer\'s and Xero is not called', async () => {
    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(invoiceId)))!;
    const kept = await env.c.store.links.figures(link.id);
    assert.ok(kept, 'the push kept Xero\'s figures on the link');
    assert.deepEqual({ total: kept.total, paid: kept.amountPaid, due: kept.amountDue, currency: kept.currency, dueDate: kept.dueDate }, { total: '230.00', paid: '0.00', due: '230.00', currency: 'NZD', dueDate: '2026-12-31' });
    const before = xeroCalls();
    for (let i = 0; i < 20; i++) {
      const html = await openTab();
      assert.match(html, /230\.00/);
      assert.doesNotMatch(html, /Reading the figures from Xero/);
    }
    assert.equal(xeroCalls() - before, 0, 'no Xero call for a card whose link holds the figures');
  });

  it('when the invoice is approved and part-paid in Xero and the pull has run, then the card shows Xero\'s paid and due, and reads the online invoice\'s address once', async () => {
    env.xero.approveInvoice(env.tenantId, xeroId);
    env.xero.addPayment(env.tenantId, xeroId, 80);
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(invoiceId)))!;
    assert.deepEqual(
      (({ status, amountPaid, amountDue }) => ({ status, amountPaid, amountDue }))((await env.c.store.links.figures(link.id))!),
      { status: 'AUTHORISED', amountPaid: '80.00', amountDue: '150.00' },
    );
    const before = xeroCalls();
    const first = await openTab();
    assert.match(first, /80\.00/);
    assert.match(first, /150\.00/);
    for (let i = 0; i < 10; i++) await openTab();
    const spent = xeroCalls() - before;
    assert.ok(spent <= 1, `the online invoice's address is read once, then kept (${spent} calls)`);
    assert.ok((await env.c.store.links.figures(link.id))!.onlineUrl, 'the address is kept on the link');
    assert.match(await openTab(), /id="online-link"/);
  });
});
