/**
 * Crash healing must not adopt a stranger's invoice: the look-up by document number searches the whole Xero
 * organisation, where a person may have typed an invoice with the same reference.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

describe('crash healing', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when an invoice with the same reference but another contact and total already exists in Xero and the document carries a sent mark, then the connector creates its own invoice and leaves the stranger\'s untouched', async () => {
    const stranger = env.xero.seedInvoice(env.tenantId, {
      Contact: { Name: 'Somebody Else Ltd' }, Reference: 'CRH-1', Status: 'DRAFT', CurrencyCode: 'NZD',
      LineItems: [{ Description: 'Their own work', Quantity: 1, UnitAmount: 999, AccountCode: '200', TaxType: 'OUTPUT2' }],
    });
    const before = JSON.stringify(stranger);
    const admin = env.b24.actAs(1);
    const companyId = Number(admin.createCompany({ title: 'Our Customer Ltd' }).id);
    env.b24.setEventDelivery(false);
    const id = Number(admin.createSmartInvoice({ title: 'Invoice CRH-1', accountNumber: 'CRH-1', companyId, currencyId: 'NZD' }).id);
    admin.setProductRows(SMART_INVOICE, id, [{ productName: 'Consulting', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    // As if a push had sent this document and crashed before saving the link: the sent mark is there.
    await env.c.store.links.markSent(env.memberId, [{ b24Type: 'smart_invoice', b24Id: String(id) }], Date.now() - 1000);
    env.b24.setEventDelivery(true);
    admin.updateItem(SMART_INVOICE, id, { title: 'Invoice CRH-1 ' });
    await env.settle();

    const link = await env.c.store.links.find(env.memberId, 'smart_invoice', String(id));
    assert.ok(link, 'the document is linked');
    assert.notEqual(link.xeroId.toLowerCase(), String(stranger.InvoiceID).toLowerCase(), 'the stranger\'s invoice was not adopted');
    const theirs = env.xero.invoices(env.tenantId).find((i) => i.InvoiceID === stranger.InvoiceID)!;
    assert.equal(JSON.stringify({ ...theirs, UpdatedDateUTC: undefined }), JSON.stringify({ ...JSON.parse(before), UpdatedDateUTC: undefined }));
  });
});
