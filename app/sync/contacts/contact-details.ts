/**
 * Each side's record read as the domain's contact details (domain/contact-details.ts): a Xero contact's first phone
 * and street address, a Bitrix24 record's first e-mail, phone, website and its requisite's tax number and address.
 */
import type { B24Details } from '../../bitrix/customers.js';
import type { XeroAddress, XeroParty } from '../../xero/contact-reader.js';
import { addressText, norm, type ContactDetails } from '../../domain/contact-details.js';

/** The phone Xero shows first: default, then mobile, then any other. */
export function primaryPhone(p: XeroParty): string {
  return (p.phones.find((x) => x.type === 'DEFAULT') ?? p.phones.find((x) => x.type === 'MOBILE') ?? p.phones[0])?.number ?? '';
}

export function primaryAddress(p: XeroParty): XeroAddress | undefined {
  return p.addresses.find((a) => a.type === 'STREET') ?? p.addresses[0];
}

/** Whether a Xero contact is a person (its name is just its person's name) rather than an organisation. */
export function isPerson(p: XeroParty): boolean {
  const person = `${p.firstName} ${p.lastName}`.trim();
  return Boolean(person) && norm(person) === norm(p.name);
}

export function detailsOfParty(p: XeroParty): ContactDetails {
  return { name: p.name, email: p.email, phone: primaryPhone(p), website: p.website, taxNumber: p.taxNumber, address: addressText(primaryAddress(p)) };
}

export function detailsOfB24(d: B24Details): ContactDetails {
  const c = d.customer;
  return { name: c.name, email: c.emails[0] ?? '', phone: c.phones[0] ?? '', website: c.webs[0] ?? '', taxNumber: d.taxNumber, address: addressText(d.address) };
}
