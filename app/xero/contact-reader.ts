/**
 * Xero contacts and items as the import and the contact sync see them: read page by page (1,000 contacts per
 * page, Xero's maximum, docs/reference/xero.md#reads) and mapped once into the project's own `XeroParty` / `XeroItem` shapes.
 * Nothing downstream touches xero-node's models.
 */
import type { Contact, Item } from 'xero-node';
import type { XeroGateway } from './gateway.js';

/** Contacts per page of a full read (Xero's maximum page size). */
export const CONTACT_PAGE_SIZE = 1000;

export interface XeroPhone { type: string; number: string }
export interface XeroAddress { type: 'POBOX' | 'STREET'; line1: string; line2: string; city: string; region: string; postalCode: string; country: string }
export interface XeroPerson { firstName: string; lastName: string; email: string }

/** A Xero contact: an organisation with people, or a person. */
export interface XeroParty {
  contactId: string;
  contactNumber: string;
  name: string;
  firstName: string;
  lastName: string;
  email: string;
  status: string;
  isCustomer: boolean;
  isSupplier: boolean;
  phones: XeroPhone[];
  website: string;
  taxNumber: string;
  addresses: XeroAddress[];
  persons: XeroPerson[];
}

export interface XeroItem {
  itemId: string;
  code: string;
  name: string;
  description: string;
  salePrice: number | null;
  salesAccount: string;
  taxType: string;
  isSold: boolean;
}

const text = (v: unknown): string => (v === undefined || v === null ? '' : String(v).trim());

/** One phone as people write it: "+64 9 555 0101". */
function phoneOf(p: { phoneCountryCode?: string; phoneAreaCode?: string; phoneNumber?: string }): string {
  const number = text(p.phoneNumber);
  if (!number) return '';
  const cc = text(p.phoneCountryCode);
  return [cc ? (cc.startsWith('+') ? cc : `+${cc}`) : '', text(p.phoneAreaCode), number].filter(Boolean).join(' ');
}

export function partyOf(c: Contact): XeroParty {
  return {
    contactId: text(c.contactID).toLowerCase(),
    contactNumber: text(c.contactNumber),
    name: text(c.name),
    firstName: text(c.firstName),
    lastName: text(c.lastName),
    email: text(c.emailAddress),
    status: text(c.contactStatus) || 'ACTIVE',
    isCustomer: Boolean(c.isCustomer),
    isSupplier: Boolean(c.isSupplier),
    phones: (c.phones ?? []).map((p) => ({ type: text(p.phoneType) || 'DEFAULT', number: phoneOf(p) })).filter((p) => p.number),
    website: text(c.website),
    taxNumber: text(c.taxNumber),
    addresses: (c.addresses ?? [])
      .map((a) => ({
        type: (text(a.addressType) === 'POBOX' ? 'POBOX' : 'STREET') as XeroAddress['type'],
        line1: text(a.addressLine1), line2: [a.addressLine2, a.addressLine3, a.addressLine4].map(text).filter(Boolean).join(', '),
        city: text(a.city), region: text(a.region), postalCode: text(a.postalCode), country: text(a.country),
      }))
      .filter((a) => a.line1 || a.city || a.postalCode || a.country),
    persons: (c.contactPersons ?? [])
      .map((p) => ({ firstName: text(p.firstName), lastName: text(p.lastName), email: text(p.emailAddress) }))
      .filter((p) => p.firstName || p.lastName || p.email),
  };
}

export function itemOf(i: Item): XeroItem {
  const price = i.salesDetails?.unitPrice;
  return {
    itemId: text(i.itemID).toLowerCase(),
    code: text(i.code),
    name: text(i.name),
    description: text(i.description),
    salePrice: price === undefined || price === null ? null : Number(price),
    salesAccount: text(i.salesDetails?.accountCode),
    taxType: text(i.salesDetails?.taxType),
    isSold: i.isSold !== false,
  };
}

/**
 * The organisation's contacts, one page (≤ 1,000) at a time, from `fromPage`; archived ones only when asked.
 * `since` reads only contacts changed since then (If-Modified-Since). One Xero call per page.
 */
export async function* contactPages(
  gateway: XeroGateway,
  opts: { includeArchived?: boolean; since?: Date; fromPage?: number } = {},
): AsyncGenerator<{ page: number; parties: XeroParty[] }> {
  for (let page = opts.fromPage ?? 1; ; page++) {
    const answer = await gateway.call('reading the contacts', (s) =>
      // https://developer.xero.com/documentation/api/accounting/contacts#get-contacts
      s.xero.accountingApi.getContacts(s.tenantId, opts.since, undefined, 'Name ASC', undefined, page, opts.includeArchived ?? false, false, undefined, CONTACT_PAGE_SIZE),
    );
    const contacts = answer.contacts ?? [];
    yield { page, parties: contacts.map(partyOf) };
    if (contacts.length < CONTACT_PAGE_SIZE) return;
  }
}

/** Some contacts by ContactID (≤ 50 per call, as `IDs`), e.g. those a webhook named. */
export async function contactsById(gateway: XeroGateway, ids: string[]): Promise<XeroParty[]> {
  const out: XeroParty[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    const chunk = ids.slice(i, i + 50);
    const answer = await gateway.call('reading changed contacts', (s) =>
      // https://developer.xero.com/documentation/api/accounting/contacts#get-contacts (IDs)
      s.xero.accountingApi.getContacts(s.tenantId, undefined, undefined, undefined, chunk, undefined, true),
    );
    out.push(...(answer.contacts ?? []).map(partyOf));
  }
  return out;
}

/** Every item of the organisation (the Items endpoint is not paged). One Xero call. */
export async function readItems(gateway: XeroGateway): Promise<XeroItem[]> {
  const answer = await gateway.call('reading the items', (s) =>
    // https://developer.xero.com/documentation/api/accounting/items#get-items
    s.xero.accountingApi.getItems(s.tenantId, undefined, undefined, 'Code ASC', 4),
  );
  return (answer.items ?? []).map(itemOf);
}

/** Tax type → effective rate in percent, for mapping items' tax to Bitrix24 VAT rates. One Xero call. */
export async function taxRatesByType(gateway: XeroGateway): Promise<Map<string, number>> {
  const answer = await gateway.call('reading the tax rates', (s) =>
    // https://developer.xero.com/documentation/api/accounting/taxrates#get-taxrates
    s.xero.accountingApi.getTaxRates(s.tenantId),
  );
  return new Map((answer.taxRates ?? []).map((t) => [text(t.taxType), Number(t.effectiveRate ?? t.displayTaxRate ?? 0)]));
}

/**
 * Updates contacts (≤ 50 per call) with `summarizeErrors=false` and an Idempotency-Key naming the content, so a retry
 * cannot apply twice. Returns ContactID → Xero's refusal, for those it refused.
 */
export async function updateContacts(gateway: XeroGateway, contacts: Contact[], idempotencyKey: (chunk: Contact[]) => string): Promise<Map<string, string>> {
  const refused = new Map<string, string>();
  for (let i = 0; i < contacts.length; i += 50) {
    const chunk = contacts.slice(i, i + 50);
    const answer = await gateway.call(`updating ${chunk.length} contact(s)`, (s) =>
      // https://developer.xero.com/documentation/api/accounting/contacts#post-contacts
      s.xero.accountingApi.updateOrCreateContacts(s.tenantId, { contacts: chunk }, false, idempotencyKey(chunk)),
    );
    (answer.contacts ?? []).forEach((el, n) => {
      const errors = (el.validationErrors ?? []).map((e) => e.message).filter(Boolean);
      if (errors.length) refused.set(String(chunk[n]?.contactID ?? ''), errors.join(' '));
    });
  }
  return refused;
}
