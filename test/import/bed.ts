// Import tests: the connector installed in the Bitrix24 emulator and connected to the Xero emulator (the status bed),
// with a Xero organisation holding many contacts and items.
import type { StatusBed } from '../statuses/bed.js';

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
  const run = svc.requestPreview({ memberId: bed.memberId, what: opts.what ?? ['companies', 'contacts', 'products'], includeArchived: opts.includeArchived ?? false, startedBy: '1' });
  await bed.c.services.outbox.drain();
  const preview = svc.summary(bed.memberId, run.id);
  svc.requestRun(bed.memberId, run.id);
  await bed.c.services.outbox.drain();
  return { runId: run.id, preview, summary: svc.summary(bed.memberId, run.id) };
}
