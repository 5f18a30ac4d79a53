import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Contact, Quote, QuoteLineAmountTypes, QuoteStatusCodes } from 'xero-node';
import type { XeroClient } from 'xero-node';
import type { XeroEmulator } from '../emulators/xero/index.js';
import { connected, rejection } from './helpers.js';

describe('Xero emulator: contacts, items and quotes through xero-node', () => {
  let emu: XeroEmulator;
  let xero: XeroClient;
  let tenantId: string;
  before(async () => { ({ emu, xero, tenantId } = await connected()); });
  after(async () => { emu.assertNoSpecViolations(); await emu.close(); });

  it('when a contact is created with ContactNumber and persons, then it is stored and GET by id or ContactNumber returns it', async () => {
    const c = (await xero.accountingApi.createContacts(tenantId, { contacts: [{ name: 'Bitrix Co', contactNumber: 'B24-COMPANY-7', emailAddress: 'a@b.example', contactPersons: [{ firstName: 'Ann', lastName: 'Lee', emailAddress: 'ann@b.example' }] }] }, false)).body.contacts![0];
    assert.equal(c.statusAttributeString, 'OK');
    assert.equal(c.contactPersons![0].firstName, 'Ann');
    const byNumber = (await xero.accountingApi.getContact(tenantId, 'B24-COMPANY-7')).body.contacts![0];
    assert.equal(byNumber.contactID, c.contactID);
    const byId = (await xero.accountingApi.getContact(tenantId, c.contactID!)).body.contacts![0];
    assert.equal(byId.name, 'Bitrix Co');
  });

  it('when a second active contact takes an existing name, then Xero\'s uniqueness message comes back per element', async () => {
    await xero.accountingApi.createContacts(tenantId, { contacts: [{ name: 'Buzz Lightyear' }] });
    const res = await xero.accountingApi.createContacts(tenantId, { contacts: [{ name: 'buzz lightyear ' }, { name: 'Woody' }] }, false);
    const [dup, ok] = res.body.contacts!;
    assert.equal(dup.validationErrors![0].message, 'The contact name buzz lightyear  is already assigned to another contact. The contact name must be unique across all active contacts.');
    assert.equal(dup.contactID, '00000000-0000-0000-0000-000000000000');
    assert.equal(ok.statusAttributeString, 'OK');
  });

  it('when a contact is archived, then lists hide it unless includeArchived and its name can be reused', async () => {
    const c = emu.seedContact(tenantId, { Name: 'Old Customer' });
    emu.archiveContact(tenantId, c.ContactID);
    const active = (await xero.accountingApi.getContacts(tenantId)).body.contacts!;
    assert.ok(!active.some((x) => x.contactID === c.ContactID));
    const all = (await xero.accountingApi.getContacts(tenantId, undefined, undefined, undefined, undefined, undefined, true)).body.contacts!;
    assert.equal(String(all.find((x) => x.contactID === c.ContactID)?.contactStatus), String(Contact.ContactStatusEnum.ARCHIVED));
    const reuse = (await xero.accountingApi.createContacts(tenantId, { contacts: [{ name: 'Old Customer' }] }, false)).body.contacts![0];
    assert.equal(reuse.statusAttributeString, 'OK');
  });

  it('when contacts are updated, paged and read with If-Modified-Since, then only changed ones come back', async () => {
    const c = emu.seedContact(tenantId, { Name: 'Page Me' });
    await new Promise((r) => setTimeout(r, 1100));
    const since = new Date();
    await xero.accountingApi.updateContact(tenantId, c.ContactID, { contacts: [{ emailAddress: 'new@page.example' }] });
    const changed = (await xero.accountingApi.getContacts(tenantId, since)).body.contacts!;
    assert.deepEqual(changed.map((x) => x.name), ['Page Me']);
    const page = (await xero.accountingApi.getContacts(tenantId, undefined, undefined, undefined, undefined, 1, undefined, undefined, undefined, 2)).body;
    assert.equal(page.contacts!.length, 2);
    assert.equal(page.pagination!.pageSize, 2);
  });

  it('when items are written, then Code is the POST upsert key and a PUT of an existing code is refused', async () => {
    const first = (await xero.accountingApi.createItems(tenantId, { items: [{ code: 'WID-1', name: 'Widget', salesDetails: { unitPrice: 12.5, accountCode: '200', taxType: 'OUTPUT2' } }] })).body.items![0];
    const upsert = (await xero.accountingApi.updateOrCreateItems(tenantId, { items: [{ code: 'WID-1', name: 'Widget v2' }] })).body.items![0];
    assert.equal(upsert.itemID, first.itemID);
    assert.equal(emu.items(tenantId).find((i) => i.Code === 'WID-1')?.Name, 'Widget v2');
    const dup = await xero.accountingApi.createItems(tenantId, { items: [{ code: 'WID-1', name: 'Again' }] }, false);
    assert.equal(dup.body.items![0].validationErrors![0].message, "Price List Item with Code 'WID-1' already exists");
  });

  it('when accounts, tax rates and the organisation are read, then the NZ demo settings come back', async () => {
    const revenue = (await xero.accountingApi.getAccounts(tenantId, undefined, 'Type=="REVENUE"')).body.accounts!;
    assert.ok(revenue.length > 0 && revenue.every((a) => String(a.type) === 'REVENUE'));
    const rates = (await xero.accountingApi.getTaxRates(tenantId)).body.taxRates!;
    assert.equal(rates.find((r) => r.taxType === 'OUTPUT2')?.effectiveRate, 15);
    const org = (await xero.accountingApi.getOrganisations(tenantId)).body.organisations![0];
    assert.equal(org.name, 'Test Org (NZ)');
  });

  it('when a quote is created and moved through statuses, then the allowed transitions pass and the others are refused', async () => {
    const contactId = emu.seedContact(tenantId, { Name: 'Quote Buyer' }).ContactID;
    const q: Quote = { contact: { contactID: contactId }, date: '2026-04-01', expiryDate: '2026-04-30', lineAmountTypes: QuoteLineAmountTypes.EXCLUSIVE, lineItems: [{ description: 'Consulting', quantity: 2, unitAmount: 100, accountCode: '200', taxType: 'OUTPUT2' }] };
    const created = (await xero.accountingApi.createQuotes(tenantId, { quotes: [q] }, false)).body.quotes![0];
    assert.equal(String(created.status), 'DRAFT');
    assert.equal(created.total, 230);
    assert.match(created.quoteNumber!, /^QU-/);
    const bad = await rejection(xero.accountingApi.updateQuote(tenantId, created.quoteID!, { quotes: [{ contact: { contactID: contactId }, date: '2026-04-01', status: QuoteStatusCodes.ACCEPTED }] }));
    assert.equal(bad.status, 400);
    assert.match(bad.body.Elements[0].ValidationErrors[0].Message, /DRAFT to ACCEPTED/);
    const sent = (await xero.accountingApi.updateQuote(tenantId, created.quoteID!, { quotes: [{ contact: { contactID: contactId }, date: '2026-04-01', status: QuoteStatusCodes.SENT }] })).body.quotes![0];
    assert.equal(String(sent.status), 'SENT');
    emu.setQuoteStatus(tenantId, created.quoteID!, 'ACCEPTED');
    const edit = await rejection(xero.accountingApi.updateQuote(tenantId, created.quoteID!, { quotes: [{ contact: { contactID: contactId }, date: '2026-04-01', title: 'changed' }] }));
    assert.match(edit.body.Elements[0].ValidationErrors[0].Message, /ACCEPTED cannot be edited/);
    emu.setQuoteStatus(tenantId, created.quoteID!, 'INVOICED');
    const listed = (await xero.accountingApi.getQuotes(tenantId, undefined, undefined, undefined, undefined, undefined, contactId)).body.quotes!;
    assert.deepEqual(listed.map((x) => String(x.status)), ['INVOICED']);
  });

  it('when a quote lacks a contact or line items, then it is refused per element', async () => {
    const res = await xero.accountingApi.createQuotes(tenantId, { quotes: [{ date: '2026-04-01', lineItems: [{ description: 'x', quantity: 1, unitAmount: 1 }] } as Quote, { contact: { contactID: emu.contacts(tenantId)[0].ContactID }, date: '2026-04-01', lineItems: [] }] }, false);
    assert.deepEqual(res.body.quotes!.map((x) => x.statusAttributeString), ['ERROR', 'ERROR']);
  });
});
