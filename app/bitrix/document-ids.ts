/**
 * The ids Bitrix24 lists of documents, companies and contacts: those changed since a time (the reconciliation sweep)
 * or every one (the backfill). Ids only, read with keyset paging (`start: -1`, ascending by id; PortalClient.list,
 * docs/reference/bitrix24.md#lists-and-paging). Classic invoices are switched off on newer portals: their list then
 * fails, and the caller decides what that means.
 */
import type { DocumentType } from '../domain/document.js';
import { ENTITY_TYPE } from './entity-types.js';
import type { PortalClient } from './portal-client.js';

/** The documents of one type Bitrix24 last changed after `since` (ISO 8601, on the portal's clock). */
export function documentIdsChangedSince(client: PortalClient, type: DocumentType, since: string): Promise<string[]> {
  return documentIds(client, type, since);
}

/** Every document of one type the portal holds (smart invoices of every pipeline, or classic invoices). */
export function allDocumentIds(client: PortalClient, type: DocumentType): Promise<string[]> {
  return documentIds(client, type);
}

async function documentIds(client: PortalClient, type: DocumentType, since?: string): Promise<string[]> {
  if (type === 'invoice') {
    // https://apidocs.bitrix24.com/api-reference/crm/outdated/invoice/crm-invoice-list.html
    const rows = await client.list<{ ID: number | string }>(
      'crm.invoice.list',
      since === undefined ? { select: ['ID'], order: { ID: 'ASC' } } : { filter: { '>DATE_UPDATE': since }, select: ['ID', 'DATE_UPDATE'], order: { ID: 'ASC' } },
      { idKey: 'ID' },
    );
    return rows.map((r) => String(r.ID));
  }
  // https://apidocs.bitrix24.com/api-reference/crm/universal/crm-item-list.html
  const rows = await client.list<{ id: number | string }>(
    'crm.item.list',
    since === undefined
      ? { entityTypeId: ENTITY_TYPE[type], select: ['id'], order: { id: 'ASC' } }
      : { entityTypeId: ENTITY_TYPE[type], filter: { '>updatedTime': since }, select: ['id', 'updatedTime'], order: { id: 'ASC' } },
    { idKey: 'id', resultKey: 'items' },
  );
  return rows.map((r) => String(r.id));
}

/** The companies or contacts Bitrix24 last changed after `since` (ISO 8601, on the portal's clock). */
export async function customerIdsChangedSince(client: PortalClient, kind: 'company' | 'contact', since: string): Promise<string[]> {
  // https://apidocs.bitrix24.com/api-reference/crm/companies/crm-company-list.html (…/contacts/crm-contact-list.html)
  const rows = await client.list<{ ID: number | string }>(
    `crm.${kind}.list`,
    { filter: { '>DATE_MODIFY': since }, select: ['ID'], order: { ID: 'ASC' } },
    { idKey: 'ID' },
  );
  return rows.map((r) => String(r.ID));
}
