// Import tests: the connector installed in the Bitrix24 emulator and connected to the Xero emulator (the status bed),
// with a Xero organisation holding many contacts and items.
import assert from 'node:assert/strict';
import type { StatusBed } from '../statuses/bed.js';
import { fromAsync } from '../../app/async-lists.js';

/** Seeds `orgs` organisations (primary person, one contact person, phone, address, tax number) and `people` persons. */
export function seedXeroContacts(bed: Pick<StatusBed, 'xero' | 'tenantId'>, orgs: number, people: number): void {
  for (let i = 0; i < orgs; i++) {
    const n = String(i).padStart(5, '0');
    bed.xero.seedContact(bed.tenantId, {
      Name: `Org ${n} Ltd`, FirstName: 'Pat', LastName: `Owner${n}`, EmailAddress: `owner${n}@org.example`, TaxNumber: `TX-${n}`,
      Phones: [{ PhoneType: 'DEFAULT', PhoneNumber: `555 ${n}`, PhoneAreaCode: '9', PhoneCountryCode: '64' }],
      Addresses: [{ AddressType: 'STREET', AddressLine1: `${i} Queen St`, City: 'Auckland', PostalCode: '1010', Country: 'New Zealand' }],
      ContactPersons: [{ FirstName: 'Sam', LastName: `Clerk${n}`, EmailAddress: `clerk${n}@org.example`, IncludeInEmails: true }],
      IsCustomer: true,
    });
  }
  for (let i = 0; i < people; i++) {
    const n = String(i).padStart(5, '0');
    bed.xero.seedContact(bed.tenantId, { Name: `Jo Person${n}`, FirstName: 'Jo', LastName: `Person${n}`, EmailAddress: `jo${n}@mail.example` });
  }
}

export function seedXeroItems(bed: StatusBed, count: number): void {
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(5, '0');
    bed.xero.seedItem(bed.tenantId, { Code: `ITEM-${n}`, Name: `Item ${n}`, Description: `Item number ${n}`, SalesDetails: { UnitPrice: 10 + i, AccountCode: '200', TaxType: 'OUTPUT2' } });
  }
}

/** Previews and runs an import through the outbox, as the slider does. */
export async function importAll(bed: StatusBed, opts: { what?: ('companies' | 'contacts' | 'products')[]; includeArchived?: boolean } = {}) {
  const svc = bed.c.services.importFromXero;
  const run = await svc.requestPreview({ memberId: bed.memberId, what: opts.what ?? ['companies', 'contacts', 'products'], includeArchived: opts.includeArchived ?? false, startedBy: '1' });
  await bed.c.services.outbox.drain();
  const preview = await svc.summary(bed.memberId, run.id);
  await svc.requestRun(bed.memberId, run.id);
  await bed.c.services.outbox.drain();
  return { runId: run.id, preview, summary: await svc.summary(bed.memberId, run.id) };
}

/**
 * Every Xero organisation seeded by seedXeroContacts exactly once in Bitrix24 with its requisite, address and people
 * bound to it, each of the `people` persons once, every Xero item once as a product with one base price.
 */
export function assertImportedOnce(bed: StatusBed, opts: { people: number }): void {
  const orgs = bed.xero.contacts(bed.tenantId).filter((c) => c.ContactStatus === 'ACTIVE' && /^Org \d+ Ltd$/.test(String(c.Name)));
  const companies = bed.b24.items(4);
  const contacts = bed.b24.items(3);
  const count = <T>(list: T[], key: (x: T) => string) => list.reduce((m, x) => m.set(key(x), (m.get(key(x)) ?? 0) + 1), new Map<string, number>());
  const twice = (m: Map<string, number>) => [...m].filter(([, n]) => n > 1).map(([k]) => k);
  assert.deepEqual(twice(count(companies, (c) => String(c.title))), [], 'no company twice');
  assert.deepEqual(twice(count(contacts, (c) => `${c.name} ${c.lastName}`)), [], 'no contact twice');
  assert.deepEqual(twice(count(bed.b24.portal.requisites, (q) => `${q.ENTITY_TYPE_ID}:${q.ENTITY_ID}`)), [], 'no record with two requisites');
  for (const o of orgs) {
    const n = String(o.Name).slice(4, 9);
    const company = companies.find((c) => c.title === o.Name);
    assert.ok(company, `${o.Name} imported`);
    const rqs = bed.b24.portal.requisites.filter((q) => q.ENTITY_TYPE_ID === '4' && q.ENTITY_ID === String(company.id));
    assert.equal(rqs.length, 1, `${o.Name}: one requisite`);
    assert.deepEqual((rqs[0]!.ADDRESSES as { CITY: string }[]).map((a) => a.CITY), ['Auckland'], `${o.Name}: one address`);
    const own = contacts.filter((c) => Number(c.companyId) === Number(company.id)).map((c) => `${c.name} ${c.lastName}`).sort();
    assert.deepEqual(own, [`Pat Owner${n}`, `Sam Clerk${n}`], `${o.Name}: its primary person and contact person, bound to it`);
  }
  for (let i = 0; i < opts.people; i++) assert.equal(contacts.filter((c) => c.lastName === `Person${String(i).padStart(5, '0')}` && !Number(c.companyId)).length, 1, `person ${i}: one contact`);
  const items = bed.xero.items(bed.tenantId);
  const products = bed.b24.products();
  assert.equal(products.length, items.length, 'no product beyond the items');
  for (const i of items) {
    const product = products.filter((p) => p.xmlId === i.Code);
    assert.equal(product.length, 1, `item ${i.Code}: one product`);
    assert.equal(bed.b24.portal.prices.filter((x) => x.productId === Number(product[0]!.id)).length, 1, `item ${i.Code}: one base price`);
  }
}

/** The run is done, nothing failed or left, every planned record counted once, and each is a record Bitrix24 holds. */
export async function assertSummaryRight(bed: StatusBed, runId: number): Promise<ReturnType<StatusBed['c']['store']['imports']['outcomeCounts']>> {
  const imports = bed.c.store.imports;
  assert.equal((await imports.run(runId))?.state, 'done', (await imports.run(runId))?.error ?? '');
  const o = await imports.outcomeCounts(runId);
  const { remaining, ...outcome } = o;
  assert.equal(remaining, 0);
  assert.deepEqual(outcome, (await imports.plannedCounts(runId)), 'the summary counts every planned record once');
  assert.equal(outcome.fail, 0, (await fromAsync(imports.failures(runId, 5))).map((f) => `${f.name}: ${f.reason}`).join('\n'));
  const created = bed.b24.items(4).length + bed.b24.items(3).length + bed.b24.products().length;
  assert.equal(outcome.create, created, 'every record Bitrix24 holds was created by this import, and counted once');
  const links = (await bed.c.store.db.all('SELECT b24_type AS t, count(*) AS n, count(DISTINCT b24_id) AS d FROM links GROUP BY b24_type')) as { t: string; n: number; d: number }[];
  for (const l of links) assert.equal(l.n, l.d, `one link per ${l.t}`);
  assert.equal((await bed.c.store.links.count(bed.memberId)), created, 'every created record linked once');
  return o;
}
