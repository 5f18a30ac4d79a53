/**
 * Contact details: the fields kept in step between a Bitrix24 company/contact and its Xero contact (name, e-mail,
 * phone, website, tax number, address), in one comparable shape for both sides. The link keeps the details both sides
 * last agreed on; a change is what differs from them, field by field, so the connector's own writes (which make both
 * sides equal to the agreed details) come back as no change: no echo.
 */

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
