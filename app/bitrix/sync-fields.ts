/**
 * The sync fields: what a Bitrix24 document shows of its Xero document, one user field per fact. The installer creates
 * every one of them on smart invoices, quotes and classic invoices (portal-setup.ts); the push's write-back and the
 * status pull write them through one writer (write-back.ts), by the names created here (docs/reference/bitrix24.md#user-fields).
 */
import type { DocumentType } from '../domain/document.js';

/** Each sync field: its name after the type's prefix, its user-field type and its label. */
export const SYNC_FIELDS = {
  id: { postfix: 'XERO_ID', type: 'string', label: 'Xero invoice ID' },
  number: { postfix: 'XERO_NUMBER', type: 'string', label: 'Xero number' },
  status: { postfix: 'XERO_STATUS', type: 'string', label: 'Xero status' },
  amountDue: { postfix: 'XERO_DUE', type: 'double', label: 'Amount due in Xero' },
  amountPaid: { postfix: 'XERO_PAID', type: 'double', label: 'Amount paid in Xero' },
  url: { postfix: 'XERO_URL', type: 'url', label: 'Xero online link' },
} as const;

export type SyncField = keyof typeof SYNC_FIELDS;

/** Values of some sync fields; a field left out is not written. */
export interface SyncFieldValues {
  id?: string;
  number?: string;
  status?: string;
  amountDue?: number;
  amountPaid?: number;
  /** Null clears the link. */
  url?: string | null;
}

/**
 * The user-field prefix of each document type: `UF_{OBJECT}_` for smart invoices and quotes (`userfieldconfig.add`),
 * `UF_CRM_` for classic invoices, whose names stay within 20 characters (docs/reference/bitrix24.md#classic-invoices).
 */
export const FIELD_PREFIX: Record<DocumentType, string> = { smart_invoice: 'UF_CRM_SMART_INVOICE_', quote: 'UF_CRM_QUOTE_', invoice: 'UF_CRM_' };

/** A sync field's user-field name on a document type, as created: `UF_CRM_SMART_INVOICE_XERO_STATUS`. */
export function syncFieldName(type: DocumentType, field: SyncField): string {
  return `${FIELD_PREFIX[type]}${SYNC_FIELDS[field].postfix}`;
}

/** The values by their user-field names, as the writer sends them. */
export function syncFieldsOf(type: DocumentType, values: SyncFieldValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(SYNC_FIELDS) as SyncField[]) {
    const v = values[field];
    if (v !== undefined) out[syncFieldName(type, field)] = v ?? '';
  }
  return out;
}
