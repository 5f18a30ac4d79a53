/**
 * Intake: a verified Bitrix24 event becomes a job in the outbox before the answer goes back, keyed by the
 * document so repeated and out-of-order events coalesce (the latest state wins).
 */
import { clock } from '../clock.js';
import type { B24Event } from '../bitrix/request-auth.js';
import type { Store } from '../store/index.js';
import type { B24Type } from '../store/links.js';
import { portalSettings } from './settings.js';
import { PUSH_CONTACT_JOB, pushContactKey } from './sync-contacts.js';

/** The documents the connector syncs; other dynamic types (smart processes) are ignored. */
const SMART_INVOICE_ENTITY_TYPE_ID = '31';

export interface EventDocument {
  type: B24Type;
  id: string;
  deleted: boolean;
}

/** Which document an event is about, or undefined when it is not one the connector syncs. */
export function documentOf(event: B24Event): EventDocument | undefined {
  const fields = (event.data as { FIELDS?: Record<string, unknown> }).FIELDS ?? {};
  const id = String(fields.ID ?? '');
  if (!/^\d+$/.test(id)) return undefined;
  const name = event.event;
  if (name.startsWith('ONCRMDYNAMICITEM')) {
    if (String(fields.ENTITY_TYPE_ID ?? '') !== SMART_INVOICE_ENTITY_TYPE_ID) return undefined;
    return { type: 'smart_invoice', id, deleted: name === 'ONCRMDYNAMICITEMDELETE' };
  }
  if (name.startsWith('ONCRMINVOICE')) return { type: 'invoice', id, deleted: name === 'ONCRMINVOICEDELETE' };
  if (name.startsWith('ONCRMQUOTE')) return { type: 'quote', id, deleted: name === 'ONCRMQUOTEDELETE' };
  return undefined;
}

/** The company or contact a change event is about (kept in step with its Xero contact when linked). */
export function customerOf(event: B24Event): { type: 'company' | 'contact'; id: string } | undefined {
  const id = String(((event.data as { FIELDS?: Record<string, unknown> }).FIELDS ?? {}).ID ?? '');
  if (!/^\d+$/.test(id)) return undefined;
  if (event.event === 'ONCRMCOMPANYUPDATE') return { type: 'company', id };
  if (event.event === 'ONCRMCONTACTUPDATE') return { type: 'contact', id };
  return undefined;
}

/** The outbox key of a document's push job. */
export function pushJobKey(memberId: string, doc: Pick<EventDocument, 'type' | 'id'>): string {
  return `push:${memberId}:${doc.type}:${doc.id}`;
}

/** The outbox job kind that pushes a document: quotes and invoices go to Xero in separate batches. */
export function pushJobKind(type: B24Type): 'push-invoice' | 'push-quote' {
  return type === 'quote' ? 'push-quote' : 'push-invoice';
}

/** How long after a push an update event of the document is likely the echo of the connector's own write-back. */
const ECHO_LIKELY_MS = 60_000;

/**
 * True when an update event is likely the echo of the connector's own write-back (the document was pushed within the
 * last minute). It is still worked (events are hints), but it does not count as new work arriving for batch filling.
 */
export function isLikelyEcho(store: Store, memberId: string, event: B24Event, now = clock.now()): boolean {
  const doc = documentOf(event);
  if (!doc || doc.deleted || !/UPDATE$/.test(event.event)) return false;
  const link = store.links.find(memberId, doc.type, doc.id);
  return Boolean(link && now - link.lastSyncedAt < ECHO_LIKELY_MS);
}

/** Stores the job an event asks for; returns false when the event needs no work. */
export function intakeEvent(store: Store, memberId: string, event: B24Event): boolean {
  if (event.event === 'ONOFFLINEEVENT') {
    store.jobs.enqueue({ memberId, kind: 'drain-offline', key: `drain-offline:${memberId}`, payload: {} });
    return true;
  }
  const customer = customerOf(event);
  if (customer) {
    store.jobs.enqueue({ memberId, kind: PUSH_CONTACT_JOB, key: pushContactKey(memberId, customer.type, customer.id), payload: customer });
    return true;
  }
  const doc = documentOf(event);
  if (!doc || (doc.type === 'quote' && !portalSettings(store, memberId).quoteSync)) return false;
  store.jobs.enqueue({
    memberId,
    kind: pushJobKind(doc.type),
    key: pushJobKey(memberId, doc),
    payload: { type: doc.type, id: doc.id, deleted: doc.deleted, event: event.event, ts: event.ts ?? null, ...(isLikelyEcho(store, memberId, event) ? { likelyEcho: true } : {}) },
  });
  return true;
}
