/**
 * How the pages name and link a document: `smart_invoice:42` (an activity subject) → "Invoice #42" and its card
 * in Bitrix24 (opened in a portal slider through the frame SDK's openPath, or as a plain link outside a frame).
 * Card paths: docs/reference/bitrix24.md#placements (placement URI), e.g. /crm/type/31/details/42/.
 */
import type { Translate } from '../app/http/i18n.js';
import type { B24Type } from '../app/store/links.js';

export const DOCUMENT_TYPES = ['smart_invoice', 'invoice', 'quote'] as const;
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

export interface DocumentRef {
  type: DocumentType;
  id: string;
}

export function isDocumentType(v: unknown): v is DocumentType {
  return typeof v === 'string' && (DOCUMENT_TYPES as readonly string[]).includes(v);
}

/** The document an activity subject or job payload names, or null. */
export function documentRef(value: unknown): DocumentRef | null {
  if (typeof value === 'string') {
    const [type, id] = value.split(':');
    return isDocumentType(type) && /^\d+$/.test(id ?? '') ? { type, id: id! } : null;
  }
  const p = value as { type?: unknown; id?: unknown } | null;
  return p && isDocumentType(p.type) && /^\d+$/.test(String(p.id ?? '')) ? { type: p.type, id: String(p.id) } : null;
}

export const subjectOf = (ref: DocumentRef): string => `${ref.type}:${ref.id}`;

/** A CRM record a page row is about: a document, or a company or contact (contact sync). */
export interface RecordRef {
  type: DocumentType | 'company' | 'contact';
  id: string;
}

/** The record an activity subject (`company:12`) or a job payload (`{type, id}`) names, or null (a portal-wide row). */
export function recordRef(value: unknown): RecordRef | null {
  const doc = documentRef(value);
  if (doc) return doc;
  const [type, id] = typeof value === 'string' ? value.split(':') : [(value as { type?: unknown } | null)?.type, String((value as { id?: unknown } | null)?.id ?? '')];
  return (type === 'company' || type === 'contact') && /^\d+$/.test(String(id ?? '')) ? { type, id: String(id) } : null;
}

/** "Invoice #42", "Classic invoice #7", "Estimate #3" in the user's language. */
export function documentLabel(t: Translate, ref: DocumentRef): string {
  return t(`doc.${ref.type}`, { id: ref.id });
}

/** The document's card path in the portal. */
export function cardPath(ref: DocumentRef): string {
  switch (ref.type) {
    case 'smart_invoice':
      return `/crm/type/31/details/${ref.id}/`;
    case 'invoice':
      return `/crm/invoice/show/${ref.id}/`;
    case 'quote':
      return `/crm/quote/show/${ref.id}/`;
  }
}

/** A link to the document's card: `href` for a plain click, `openPath` for the frame SDK's slider. */
export function documentLink(t: Translate, portalOrigin: string, ref: DocumentRef): { text: string; href: string; openPath: string } {
  const path = cardPath(ref);
  return { text: documentLabel(t, ref), href: `${portalOrigin}${path}`, openPath: path };
}

export const asB24Type = (t: DocumentType): B24Type => t;
