import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DocumentCustomer } from '../../app/domain/document.js';
import { customerKey, resolveContacts } from '../../app/xero/contacts.js';
import { knownContactIds, saveContactLinks } from '../../app/sync/push/customer-links.js';
import { xeroTestbed } from '../helpers/xero.js';

const company = (id: string, name: string, email: string | null = null): DocumentCustomer => ({ kind: 'company', id, name, email });

describe('contact resolution', () => {
  it('when customers are linked, numbered, named or new, then each gets its Xero contact with 2 look-ups and 1 create', async () => {
    const bed = await xeroTestbed();
    const numbered = bed.emu.seedContact(bed.tenantId, { Name: 'Harbour Foods', ContactNumber: 'b24:company:5' });
    const city = bed.emu.contacts(bed.tenantId).find((c) => c.Name === 'City Limousines')!;
    const linkedId = bed.emu.contacts(bed.tenantId).find((c) => c.Name === 'Ridgeway University')!.ContactID as string;
    await bed.store.links.save({ memberId: bed.memberId, connectionId: bed.connectionId, b24Type: 'company', b24Id: '1', xeroType: 'contact', xeroId: linkedId, xeroNumber: null, contentHash: null, xeroStatus: null, xeroUpdatedAt: null });
    const customers: DocumentCustomer[] = [
      company('1', 'Ridgeway University'),
      company('5', 'Harbour Foods Ltd (renamed in Bitrix24)'),
      company('6', 'city limousines', 'billing@citylimo.example'),
      company('7', 'Nova Builders', 'ap@nova.example'),
      { kind: 'contact', id: '8', name: 'Jane Doe', email: null, firstName: 'Jane', lastName: 'Doe' },
    ];
    bed.emu.resetCounters();
    const known = await knownContactIds(bed.store, bed.memberId, customers);
    const r = await resolveContacts(bed.gateway, bed.tenantId, customers, known);
    assert.equal(r.contactIds.get('b24:company:1'), linkedId);
    assert.equal(r.contactIds.get('b24:company:5'), numbered.ContactID);
    assert.equal(r.contactIds.get('b24:company:6'), city.ContactID);
    assert.equal(bed.emu.callCount('GET /Contacts'), 2);
    assert.equal(bed.emu.callCount('PUT /Contacts'), 1);
    const nova = bed.emu.contacts(bed.tenantId).find((c) => c.Name === 'Nova Builders')!;
    assert.equal(nova.ContactNumber, 'b24:company:7');
    assert.equal(nova.EmailAddress, 'ap@nova.example');
    assert.equal(r.contactIds.get('b24:company:7'), nova.ContactID);
    const jane = bed.emu.contacts(bed.tenantId).find((c) => c.Name === 'Jane Doe')!;
    assert.equal(jane.ContactNumber, 'b24:contact:8');
    assert.deepEqual(r.links.map((l) => [l.customerKey, l.via]).sort(), [['b24:company:5', 'number'], ['b24:company:6', 'name'], ['b24:company:7', 'created'], ['b24:contact:8', 'created']]);
    assert.equal(r.failures.size, 0);

    await saveContactLinks(bed.store, bed.memberId, bed.connectionId, r.links);
    bed.emu.resetCounters();
    const again = await resolveContacts(bed.gateway, bed.tenantId, customers, await knownContactIds(bed.store, bed.memberId, customers));
    assert.equal(bed.emu.counters.total, 0);
    assert.deepEqual(again.contactIds, r.contactIds);
    bed.emu.assertNoSpecViolations();
  });

  it('when a created contact\'s name is already assigned to another contact, then that contact is found by name and linked, without a duplicate', async () => {
    const bed = await xeroTestbed();
    const before = bed.emu.contacts(bed.tenantId).length;
    const r = await resolveContacts(bed.gateway, bed.tenantId, [company('20', 'Acme Ltd'), { kind: 'contact', id: '21', name: 'Acme Ltd', email: null }], new Map());
    assert.equal(r.failures.size, 0);
    const acme = bed.emu.contacts(bed.tenantId).filter((c) => c.Name === 'Acme Ltd');
    assert.equal(acme.length, 1);
    assert.equal(bed.emu.contacts(bed.tenantId).length, before + 1);
    assert.equal(r.contactIds.get('b24:company:20'), acme[0].ContactID);
    assert.equal(r.contactIds.get('b24:contact:21'), acme[0].ContactID);
    assert.equal(r.links.find((l) => l.customerKey === 'b24:contact:21')!.via, 'name');
    bed.emu.assertNoSpecViolations();
  });

  it('when a Xero contact has the customer\'s name but another e-mail, then the customer is created under its name plus its Bitrix24 reference', async () => {
    const bed = await xeroTestbed();
    const r = await resolveContacts(bed.gateway, bed.tenantId, [company('30', 'City Limousines', 'someone@else.example')], new Map());
    const created = bed.emu.contacts(bed.tenantId).find((c) => c.ContactNumber === customerKey({ kind: 'company', id: '30' }))!;
    assert.equal(created.Name, 'City Limousines (company 30)');
    assert.equal(r.contactIds.get('b24:company:30'), created.ContactID);
    bed.emu.assertNoSpecViolations();
  });

  it('when Xero refuses a new contact for another reason, then that customer fails with Xero\'s words and the others resolve', async () => {
    const bed = await xeroTestbed();
    const r = await resolveContacts(bed.gateway, bed.tenantId, [company('40', '   '), company('41', 'Fine Co')], new Map());
    assert.ok(r.contactIds.has('b24:company:41'));
    assert.equal(r.failures.get('b24:company:40')!.code, 'XERO.VALIDATION');
    assert.match(r.failures.get('b24:company:40')!.message, /name must be specified/);
    bed.emu.assertNoSpecViolations();
  });
});
