import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusBed } from '../statuses/bed.js';
import { testStore } from '../helpers/store.js';
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
    assert.equal((await bed.c.store.links.find(bed.memberId, 'company', String(org.id)))!.xeroId, String(xeroOrg.ContactID).toLowerCase());
    const writes = bed.b24.callLog.filter((c) => c.method === 'batch').length;
    const commands = bed.b24.callLog.filter((c) => c.viaBatch && /\.add$|\.update$/.test(c.method)).length;
    // + the directory reads of the empty portal (companies, contacts, products: one batch each) and the catalog's
    assert.ok(writes <= Math.ceil(commands / 50) + 4, `${writes} batch calls for ${commands} commands`);
    assert.equal(bed.xero.callCount('GET /Contacts'), 3);

    bed.b24.resetCounters();
    const again = await importAll(bed);
    assert.equal(again.preview.planned.create, 0);
    assert.equal(again.summary.outcome.create, 0);
    assert.equal(bed.b24.items(4).length, companies.length);
    assert.equal(bed.b24.items(3).length, contacts.length);
  });
});

describe('import from Xero: bad input', () => {
  it('when Xero has a contact without a usable name, two contacts with the same name, archived contacts and Bitrix24 refuses contacts, then each is reported with its reason and skipped, and the rest is imported', async () => {
    const bed = await statusBed();
    bed.xero.seedContact(bed.tenantId, { Name: '...' });
    const twin = bed.xero.seedContact(bed.tenantId, { Name: 'Twin Traders' });
    bed.xero.archiveContact(bed.tenantId, String(twin.ContactID));
    bed.xero.seedContact(bed.tenantId, { Name: 'Twin Traders' }); // an active one with the archived one's name
    const old = bed.xero.seedContact(bed.tenantId, { Name: 'Old Mill Ltd' });
    bed.xero.archiveContact(bed.tenantId, String(old.ContactID));
    bed.xero.seedContact(bed.tenantId, { Name: 'Good Co', FirstName: 'Ann', LastName: 'Good', EmailAddress: 'ann@good.example' });
    // Bitrix24 refuses every contact: a mandatory field the import cannot fill.
    bed.b24.portal.userFields.push({ id: '9001', entityId: 'CRM_CONTACT', fieldName: 'UF_CRM_SOURCE', userTypeId: 'string', xmlId: null, sort: '100', multiple: 'N', mandatory: 'Y', showFilter: 'N', showInList: 'Y', editInList: 'Y', isSearchable: 'N', settings: {}, editFormLabel: { en: 'Lead source' }, listColumnLabel: null, listFilterLabel: null, errorMessage: null, helpMessage: null });

    const { preview, summary, runId } = await importAll(bed, { what: ['companies', 'contacts'], includeArchived: true });
    assert.equal(summary.run.state, 'done');
    const reasons = summary.failures.map((f) => `${f.name}: ${f.reason}`).join('\n');
    assert.match(reasons, /\.\.\.: The Xero contact has no usable name/);
    assert.match(reasons, /Twin Traders: Another Xero contact in this import is also named "Twin Traders"/);
    assert.match(reasons, /Ann Good: Bitrix24 refused it: The "Lead source" field is required\./);
    assert.equal(preview.planned.fail, 2, 'the failures known in advance are in the preview');
    assert.equal(summary.outcome.fail, 3, 'plus the write Bitrix24 refused');
    const titles = bed.b24.items(4).map((c) => c.title);
    assert.ok(titles.includes('Good Co') && titles.includes('Old Mill Ltd') && titles.filter((t) => t === 'Twin Traders').length === 1);
    let csv = '';
    for await (const line of bed.c.services.importFromXero.csv(bed.memberId, runId)) csv += line;
    assert.match(csv, /^Bitrix24 type,Xero id,Name,Reason\r\n/);
    assert.match(csv, /contact,[0-9a-f-]+\/ann@good\.example,Ann Good,"?Bitrix24 refused it/);

    const without = await importAll(bed, { what: ['companies'] });
    assert.match(without.summary.failures.map((f) => f.reason).join('\n'), /no usable name/);
    assert.equal(without.preview.planned.create, 0, 'archived contacts skipped unless asked, the rest already linked');
  });

  it('when Bitrix24 refuses a company for a missing required field, then the summary and the CSV carry Bitrix24\'s message, the company and its people are skipped and the rest is imported', async () => {
    const bed = await statusBed();
    bed.xero.seedContact(bed.tenantId, { Name: 'Refused Ltd', FirstName: 'Rita', LastName: 'Refused', EmailAddress: 'rita@refused.example' });
    bed.xero.seedContact(bed.tenantId, { Name: 'Lone Person', FirstName: 'Lone', LastName: 'Person', EmailAddress: 'lone@mail.example' });
    // Every company needs an industry code the import cannot fill (MANDATORY=Y user field).
    bed.b24.portal.userFields.push({ id: '9002', entityId: 'CRM_COMPANY', fieldName: 'UF_CRM_INDUSTRY_CODE', userTypeId: 'string', xmlId: null, sort: '100', multiple: 'N', mandatory: 'Y', showFilter: 'N', showInList: 'Y', editInList: 'Y', isSearchable: 'N', settings: {}, editFormLabel: { en: 'Industry code' }, listColumnLabel: null, listFilterLabel: null, errorMessage: null, helpMessage: null });

    const { summary, runId } = await importAll(bed, { what: ['companies', 'contacts'] });
    assert.equal(summary.run.state, 'done', summary.run.error ?? '');
    const byName = new Map(summary.failures.map((f) => [f.name, f.reason]));
    assert.equal(byName.get('Refused Ltd'), 'Bitrix24 refused it: The "Industry code" field is required.');
    assert.match(byName.get('Rita Refused') ?? '', /Its company "Refused Ltd" could not be written to Bitrix24/);
    const companies = summary.failures.filter((f) => f.kind === 'company');
    assert.ok(companies.length >= 1 && companies.every((f) => f.reason === 'Bitrix24 refused it: The "Industry code" field is required.'), JSON.stringify(companies));
    assert.deepEqual(bed.b24.items(4), []);
    assert.ok(bed.b24.items(3).some((c) => `${c.name} ${c.lastName}` === 'Lone Person'), 'the person is imported');
    assert.equal(summary.outcome.remaining, 0);
    let csv = '';
    for await (const line of bed.c.services.importFromXero.csv(bed.memberId, runId)) csv += line;
    assert.match(csv, /\r\ncompany,[0-9a-f-]+,Refused Ltd,"Bitrix24 refused it: The ""Industry code"" field is required\."\r\n/);
  });

  it('when a Xero item has no code, then the plan fails it with the reason and plans the others', async () => {
    const { planItem, Directory } = await import('../../app/sync/import/import-plan.js');
    const store = await testStore('m1');
    const run = await store.imports.createRun({ memberId: 'm1', connectionId: null, what: ['products'], includeArchived: false, startedBy: null });
    let seq = 0;
    const ctx = {
      what: ['products' as const], includeArchived: false, directory: new Directory(store.imports.directory, run.id), nextSeq: () => seq++,
      linkOf: async () => undefined, contactFieldsOf: async () => null,
      catalog: { iblockId: 23, vatByRate: new Map([[15, 5]]), accountPropertyId: 258, taxRates: new Map([['OUTPUT2', 15]]), currency: 'NZD' },
    };
    const item = { itemId: 'i1', code: '', name: 'Loose item', description: '', salePrice: 5, salesAccount: '200', taxType: 'OUTPUT2', isSold: true };
    const bad = await planItem(item, ctx);
    assert.equal(bad.action, 'fail');
    assert.match(bad.reason!, /no code/);
    const good = await planItem({ ...item, itemId: 'i2', code: 'LOOSE' }, ctx);
    assert.equal(good.action, 'create');
    assert.deepEqual((good.payload as { fields: Record<string, unknown> }).fields, { iblockId: 23, name: 'Loose item', xmlId: 'LOOSE', previewText: null, vatId: 5, vatIncluded: 'N', property258: { value: '200' } });
  });
});
