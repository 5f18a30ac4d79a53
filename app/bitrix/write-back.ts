/**
 * Writes Xero's id, number, status and amount due onto Bitrix24 documents, up to 50 per batch. The portal
 * raises an update event for each write: an echo, recognised by the unchanged content hash.
 */
import type { SalesDocument } from '../domain/document.js';
import type { XeroDocumentState } from '../xero/documents.js';
import { ENTITY_TYPE } from './entity-types.js';
import { AUTH_CONNECTOR } from './portal-setup.js';
import { limitOf, type BatchCalls, type PortalClient } from './portal-client.js';

export interface XeroFieldValues {
  id: string;
  number: string;
  status: string;
  amountDue: number;
  url?: string | null;
}

/** User-field names per document type (created by the installer, bitrix/portal-setup.ts). */
export function xeroFieldNames(type: SalesDocument['type']): Record<keyof XeroFieldValues, string> {
  const prefix = type === 'smart_invoice' ? 'UF_CRM_SMART_INVOICE_' : type === 'quote' ? 'UF_CRM_QUOTE_' : 'UF_CRM_';
  return { id: `${prefix}XERO_ID`, number: `${prefix}XERO_NUMBER`, status: `${prefix}XERO_STATUS`, amountDue: `${prefix}XERO_DUE`, url: `${prefix}XERO_URL` };
}

/**
 * The Xero id Bitrix24 shows on the document as read (its custom fields, camelCase on items, UF_CRM_… on classic
 * invoices), or undefined when the field was not among them.
 */
export function shownXeroId(doc: Pick<SalesDocument, 'type' | 'fields'>): string | null | undefined {
  const wanted = xeroFieldNames(doc.type).id.replace(/_/g, '').toLowerCase();
  const hit = Object.entries(doc.fields ?? {}).find(([k]) => k.replace(/_/g, '').toLowerCase() === wanted);
  return hit ? (hit[1] ? String(hit[1]) : null) : undefined;
}

export function xeroFieldValues(type: SalesDocument['type'], v: XeroFieldValues): Record<string, unknown> {
  const names = xeroFieldNames(type);
  const out: Record<string, unknown> = { [names.id]: v.id, [names.number]: v.number, [names.status]: v.status, [names.amountDue]: v.amountDue };
  if (v.url !== undefined) out[names.url] = v.url ?? '';
  return out;
}

/** The REST call that updates a document's fields (UF names as created, not camelCase). */
export function updateCall(doc: Pick<SalesDocument, 'type' | 'id'>, fields: Record<string, unknown>): [string, Record<string, unknown>] {
  if (doc.type === 'invoice') {
    // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-update.html
    return ['crm.invoice.update', { id: doc.id, fields, auth_connector: AUTH_CONNECTOR }];
  }
  // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-update.html
  return ['crm.item.update', { entityTypeId: ENTITY_TYPE[doc.type], id: doc.id, fields, useOriginalUfNames: 'Y', auth_connector: AUTH_CONNECTOR }];
}

export async function writeBackXeroState(client: PortalClient, written: { doc: SalesDocument; state: XeroDocumentState }[]): Promise<void> {
  for (let i = 0; i < written.length; i += 50) {
    const calls: BatchCalls = {};
    for (const { doc, state } of written.slice(i, i + 50)) {
      calls[`${doc.type}_${doc.id}`] = updateCall(doc, xeroFieldValues(doc.type, { id: state.id, number: state.number, status: state.status, amountDue: state.amountDue }));
    }
    const answer = await client.batch(calls);
    // A write blocked by the operating time limit waits with its job (the writes that went through stay written).
    limitOf(answer);
    const { results, errors } = answer;
    // A command with neither a result nor an error was not written (docs/reference/bitrix24.md#batch): it fails like a refusal, and is tried again.
    const failed = [...Object.entries(errors), ...Object.keys(calls).filter((k) => !(k in results) && errors[k] === undefined).map((k) => [k, 'Bitrix24 gave no answer'])];
    if (failed.length) throw new Error(failed.map(([k, m]) => `${k}: ${m}`).join('; '));
  }
}
