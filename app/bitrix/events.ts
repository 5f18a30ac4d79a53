/**
 * What a Bitrix24 event names, read from its payload: events carry ids, not data (`data.FIELDS.ID`, plus
 * `data.FIELDS.ENTITY_TYPE_ID` for smart process items; docs/reference/bitrix24.md#events). Each reader returns a hint
 * — which document, company or contact to read again with the connector's own token — or undefined when the event is
 * about nothing the connector syncs.
 */
import type { DocumentType } from '../domain/document.js';
import { ENTITY_TYPE } from './entity-types.js';
import type { B24Event } from './request-auth.js';

/** A document an event names: smart invoice, classic invoice or quote, and whether the event is its deletion. */
export interface DocumentHint {
  type: DocumentType;
  id: string;
  deleted: boolean;
}

/** A company or contact a change event names. */
export interface CustomerHint {
  type: 'company' | 'contact';
  id: string;
}

/** `data.FIELDS` of an event, or nothing. */
function fieldsOf(event: Pick<B24Event, 'data'>): Record<string, unknown> {
  const fields = (event.data as { FIELDS?: unknown }).FIELDS;
  return fields && typeof fields === 'object' ? (fields as Record<string, unknown>) : {};
}

/** The numeric `data.FIELDS.ID` of an event, or undefined. */
function idOf(event: Pick<B24Event, 'data'>): string | undefined {
  const id = String(fieldsOf(event).ID ?? '');
  return /^\d+$/.test(id) ? id : undefined;
}

/**
 * The document an event is about, or undefined when it is not one the connector syncs. Smart invoices share
 * `ONCRMDYNAMICITEM*` with every smart process: only `ENTITY_TYPE_ID` 31 is one.
 */
export function documentHintOf(event: Pick<B24Event, 'event' | 'data'>): DocumentHint | undefined {
  const id = idOf(event);
  if (!id) return undefined;
  const name = event.event;
  if (name.startsWith('ONCRMDYNAMICITEM')) {
    if (String(fieldsOf(event).ENTITY_TYPE_ID ?? '') !== String(ENTITY_TYPE.smart_invoice)) return undefined;
    return { type: 'smart_invoice', id, deleted: name === 'ONCRMDYNAMICITEMDELETE' };
  }
  if (name.startsWith('ONCRMINVOICE')) return { type: 'invoice', id, deleted: name === 'ONCRMINVOICEDELETE' };
  if (name.startsWith('ONCRMQUOTE')) return { type: 'quote', id, deleted: name === 'ONCRMQUOTEDELETE' };
  return undefined;
}

/** The company or contact a change event is about (ONCRMCOMPANYUPDATE, ONCRMCONTACTUPDATE), or undefined. */
export function customerHintOf(event: Pick<B24Event, 'event' | 'data'>): CustomerHint | undefined {
  const id = idOf(event);
  if (!id) return undefined;
  if (event.event === 'ONCRMCOMPANYUPDATE') return { type: 'company', id };
  if (event.event === 'ONCRMCONTACTUPDATE') return { type: 'contact', id };
  return undefined;
}

/** Whether an ONAPPUNINSTALL asks for the app's data to be deleted (`data.CLEAN` 1). */
export function uninstallCleansData(event: Pick<B24Event, 'data'>): boolean {
  return String((event.data as { CLEAN?: unknown }).CLEAN ?? '0') === '1';
}
