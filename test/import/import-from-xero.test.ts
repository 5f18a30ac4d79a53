import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusBed } from '../statuses/bed.js';
import { importAll, seedXeroContacts, seedXeroItems } from './bed.js';

describe('import from Xero', () => {
  it('when 2,000 Xero contacts with persons and 500 items are imported, then Bitrix24 gets the companies, contacts and products, linked, in batches of 50, and a second run creates nothing', async () => {
    const bed = await statusBed();
    seedXeroContacts(bed, 1500, 500);
    seedXeroItems(bed, 500);
    const xeroContacts = bed.xero.contacts(bed.tenantId).filter((c) => c.ContactStatus === 'ACTIVE');
    bed.b24.resetCounters();
    bed.xero.resetCounters();
    const { preview, summary } = await importAll(bed);
    assert.equal(summary.run.state, 'done', summary.run.error ?? '');
    const { remaining, ...outcome } = summary.outcome;
    assert.equal(remaining, 0);
    assert.deepEqual(outcome, preview.planned);
    const companies = bed.b24.items(4);
    const contacts = bed.b24.items(3);
    assert.equal(companies.length, 1500 + xeroContacts.length - 2000);
    assert.equal(contacts.length, 1500 * 2 + 500);
    assert.equal(bed.b24.products().length, 500 + bed.xero.items(bed.tenantId).length - 500);
    const org = companies.find((c) => c.title === 'Org 00007 Ltd')!;
    assert.ok(org);
    const people = contacts.filter((c) => Number(c.companyId) === Number(org.id)).map((c) => `${c.name} ${c.lastName}`).sort();
    assert.deepEqual(people, ['Pat Owner00007', 'Sam Clerk00007']);
    const rq = bed.b24.portal.requisites.find((q) => q.ENTITY_ID === String(org.id))!;
    assert.equal(rq.RQ_VAT_ID, 'TX-00007');
    assert.equal((rq.ADDRESSES as Record<string, unknown>[])[0]!.CITY, 'Auckland');
    const xeroOrg = xeroContacts.find((c) => c.Name === 'Org 00007 Ltd')!;
    assert.equal(bed.c.store.links.find(bed.memberId, 'company', String(org.id))!.xeroId, String(xeroOrg.ContactID).toLowerCase());
    const writes = bed.b24.callLog.filter((c) => c.method === 'batch').length;
    const commands = bed.b24.callLog.filter((c) => c.viaBatch && /\.add$|\.update$/.test(c.method)).length;
    assert.ok(writes <= Math.ceil(commands / 50) + 2, `${writes} batch calls for ${commands} commands`);
    assert.equal(bed.xero.callCount('GET /Contacts'), 3);

    bed.b24.resetCounters();
    const again = await importAll(bed);
    assert.equal(again.preview.planned.create, 0);
    assert.equal(again.summary.outcome.create, 0);
    assert.equal(bed.b24.items(4).length, companies.length);
    assert.equal(bed.b24.items(3).length, contacts.length);
  });
});
