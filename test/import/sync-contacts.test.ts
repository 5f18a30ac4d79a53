import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusBed } from '../statuses/bed.js';
import { importAll, seedXeroContacts, seedXeroItems } from './bed.js';

describe('contacts kept in step', () => {
  it('when an imported company is renamed in Bitrix24, then its Xero contact is renamed once, and the webhook that rename causes writes nothing back', async () => {
    const bed = await statusBed();
    bed.xero.configureWebhook({ url: `${bed.c.url}/xero/webhooks` });
    seedXeroContacts(bed, 3, 0);
    await importAll(bed, { what: ['companies', 'contacts'] });
    const company = bed.b24.items(4).find((c) => c.title === 'Org 00001 Ltd')!;
    const link = (await bed.c.store.links.find(bed.memberId, 'company', String(company.id)))!;
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    bed.xero.resetCounters();
    bed.b24.resetCounters();

    bed.b24.actAs(1).updateItem(4, Number(company.id), { title: 'Org One Holdings Ltd' });
    await bed.b24.flushEvents();
    await bed.c.services.outbox.drain();
    const xeroContact = bed.xero.contacts(bed.tenantId).find((c) => String(c.ContactID).toLowerCase() === link.xeroId)!;
    assert.equal(xeroContact.Name, 'Org One Holdings Ltd');
    assert.equal(bed.xero.callCount('POST /Contacts'), 1);

    await bed.xero.flushWebhooks(); // Xero tells the connector about the change it made
    await bed.c.services.outbox.drain();
    assert.equal(bed.b24.callLog.filter((c) => /^crm\.(company|contact)\.update$/.test(c.method)).length, 0, 'no echo into Bitrix24');
    assert.equal(bed.xero.callCount('POST /Contacts'), 1, 'no second Xero write');
  });

  it('when a company is renamed while Bitrix24 cannot reach the connector, then the reconciliation sweep brings the name to Xero', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 2, 0);
    await importAll(bed, { what: ['companies'] });
    const company = bed.b24.items(4).find((c) => c.title === 'Org 00000 Ltd')!;
    const link = (await bed.c.store.links.find(bed.memberId, 'company', String(company.id)))!;
    bed.b24.setEventDelivery(false);
    bed.b24.actAs(1).updateItem(4, Number(company.id), { title: 'Org Zero Ltd' });
    await bed.c.store.jobs.enqueue({ memberId: bed.memberId, kind: 'reconcile', key: `reconcile:${bed.memberId}`, payload: {} });
    await bed.c.services.outbox.drain();
    assert.equal(bed.xero.contacts(bed.tenantId).find((c) => String(c.ContactID).toLowerCase() === link.xeroId)!.Name, 'Org Zero Ltd');
  });

  it('when a phone is changed in Xero, then the webhook and the poll bring it to the linked Bitrix24 company, and the event that write causes makes no Xero call', async () => {
    const bed = await statusBed();
    bed.xero.configureWebhook({ url: `${bed.c.url}/xero/webhooks` });
    seedXeroContacts(bed, 2, 0);
    await importAll(bed, { what: ['companies'] });
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    const company = bed.b24.items(4).find((c) => c.title === 'Org 00000 Ltd')!;
    const link = (await bed.c.store.links.find(bed.memberId, 'company', String(company.id)))!;
    bed.xero.resetCounters();

    bed.xero.updateContact(bed.tenantId, link.xeroId, { Phones: [{ PhoneType: 'DEFAULT', PhoneNumber: '777 0000', PhoneAreaCode: '4', PhoneCountryCode: '64' }] });
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    const phones = (bed.b24.items(4).find((c) => c.id === company.id)!.fm as { typeId: string; value: string }[]).filter((f) => f.typeId === 'PHONE').map((f) => f.value);
    assert.deepEqual(phones, ['+64 4 777 0000']);

    await bed.b24.flushEvents(); // the company update event of the connector's own write
    await bed.c.services.outbox.drain();
    assert.equal(bed.xero.callCount('POST /Contacts'), 0, 'no echo into Xero');

    bed.xero.updateContact(bed.tenantId, link.xeroId, { EmailAddress: 'new@org.example' });
    const report = await bed.c.services.syncContacts.pollConnection(bed.connectionId);
    assert.equal(report.updated, 1);
    const emails = (bed.b24.items(4).find((c) => c.id === company.id)!.fm as { typeId: string; value: string }[]).filter((f) => f.typeId === 'EMAIL').map((f) => f.value);
    assert.deepEqual(emails, ['new@org.example']);
  });

  it('when Xero\'s phone change reached Bitrix24 but a crash lost the agreement, then the Bitrix24 event of that write sends nothing to Xero', async () => {
    const bed = await statusBed();
    bed.xero.configureWebhook({ url: `${bed.c.url}/xero/webhooks` });
    seedXeroContacts(bed, 1, 0);
    await importAll(bed, { what: ['companies'] });
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    const company = bed.b24.items(4).find((c) => c.title === 'Org 00000 Ltd')!;
    const link = (await bed.c.store.links.find(bed.memberId, 'company', String(company.id)))!;
    const agreedBefore = await bed.c.store.links.contactFields(link.id);

    bed.xero.updateContact(bed.tenantId, link.xeroId, { Phones: [{ PhoneType: 'DEFAULT', PhoneNumber: '777 0000', PhoneAreaCode: '4', PhoneCountryCode: '64' }] });
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    // The connector was killed after writing Bitrix24, before it recorded the new agreement.
    await bed.c.store.links.setContactFields(link.id, agreedBefore!);
    bed.xero.resetCounters();

    await bed.b24.flushEvents(); // the company update event of that write
    await bed.c.services.outbox.drain();
    assert.equal(bed.xero.callCount('POST /Contacts'), 0, 'no echo into Xero');
    assert.equal((await bed.c.store.links.contactFields(link.id) as { phone?: string }).phone, '+64 4 777 0000', 'the agreement is Xero\'s phone again');
  });

  it('when an invoice names an imported company and products, then it is pushed to the same Xero contact with the items\' codes', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 2, 0);
    seedXeroItems(bed, 3);
    await importAll(bed, { what: ['companies', 'products'] });
    const company = bed.b24.items(4).find((c) => c.title === 'Org 00001 Ltd')!;
    const product = bed.b24.products().find((p) => p.xmlId === 'ITEM-00002')!;
    const contactsBefore = bed.xero.contacts(bed.tenantId).length;
    await bed.c.store.settings.set(bed.memberId, 'defaultSalesAccount', '200');
    const inv = bed.b24.actAs(1).createSmartInvoice({ title: 'Order', companyId: Number(company.id), currencyId: 'NZD' });
    bed.b24.actAs(1).setProductRows(31, Number(inv.id), [{ productId: Number(product.id), productName: 'Item 00002', price: 12, quantity: 2, taxRate: null, taxIncluded: 'N' }]);
    await bed.b24.flushEvents();
    await bed.c.services.outbox.drain();
    const pushed = bed.xero.invoices(bed.tenantId).find((i) => i.Reference === inv.accountNumber || String(i.InvoiceNumber) === String(inv.accountNumber));
    assert.ok(pushed, `invoice in Xero; jobs: ${JSON.stringify((await bed.c.store.jobs.list({ states: ['needs_attention'] })).map((j) => j.lastError))}`);
    const xeroOrg = bed.xero.contacts(bed.tenantId).find((c) => c.Name === 'Org 00001 Ltd')!;
    assert.equal(pushed.Contact.ContactID, xeroOrg.ContactID);
    assert.equal(bed.xero.contacts(bed.tenantId).length, contactsBefore, 'no second contact');
    assert.equal(pushed.LineItems[0].ItemCode, 'ITEM-00002');
  });
});
