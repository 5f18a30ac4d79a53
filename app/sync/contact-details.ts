/**
 * Contact details: the fields kept in step between a Bitrix24 company/contact and its Xero contact (name, e-mail,
 * phone, website, tax number, address), in one comparable shape for both sides. The link keeps the details both sides
 * last agreed on; a change is what differs from them, field by field, so the connector's own writes (which make both
 * sides equal to the agreed details) come back as no change: no echo.
 */
import type { B24Details } from '../bitrix/customers.js';
import type { XeroAddress, XeroParty } from '../xero/contact-reader.js';

export const DETAIL_FIELDS = ['name', 'email', 'phone', 'website', 'taxNumber', 'address'] as const;
export type DetailField = (typeof DETAIL_FIELDS)[number];
export type ContactDetails = Record<DetailField, string>;

export interface PostalAddress { line1: string; line2: string; city: string; region: string; postalCode: string; country: string }

export function addressText(a: PostalAddress | null | undefined): string {
  if (!a) return '';
  const parts = [a.line1, a.line2, a.city, a.region, a.postalCode, a.country].map((x) => x.trim());
  return parts.some(Boolean) ? JSON.stringify(parts) : '';
}

export function addressFromText(text: string): PostalAddress | null {
  if (!text) return null;
  const [line1 = '', line2 = '', city = '', region = '', postalCode = '', country = ''] = JSON.parse(text) as string[];
  return { line1, line2, city, region, postalCode, country };
}

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

/** Fields whose value differs from the agreed details (all of them when nothing was agreed yet). */
export function changedFields(now: ContactDetails, agreed: ContactDetails | null): DetailField[] {
  return DETAIL_FIELDS.filter((f) => !agreed || (now[f] ?? '') !== (agreed[f] ?? ''));
}

export function sameDetails(a: ContactDetails | null, b: ContactDetails | null): boolean {
  return Boolean(a && b) && DETAIL_FIELDS.every((f) => (a![f] ?? '') === (b![f] ?? ''));
}

export function norm(s: string | null | undefined): string {
  return (s ?? '').trim().toLowerCase().replace(/\s+/g, ' ');
}
