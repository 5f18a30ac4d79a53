/**
 * Intake: a verified Bitrix24 event becomes a job in the outbox before the answer goes back, keyed by the
 * document so repeated and out-of-order events coalesce (the latest state wins).
 */
import { clock } from '../../clock.js';
import type { B24Event } from '../../bitrix/request-auth.js';
import { customerHintOf, documentHintOf, type DocumentHint } from '../../bitrix/events.js';
import type { Store } from '../../store/index.js';
import type { B24Type, Link } from '../../store/links.js';
import type { Metrics } from '../../metrics.js';
import { noteDropped, type DropReason } from '../event-drops.js';
import { portalSettings } from '../settings.js';
import { PUSH_CONTACT_JOB, pushContactKey } from '../contacts/sync-contacts.js';

/** The outbox key of a document's push job. */
export function pushJobKey(memberId: string, doc: Pick<DocumentHint, 'type' | 'id'>): string {
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
export async function isLikelyEcho(store: Store, memberId: string, event: B24Event, now = clock.now()): Promise<boolean> {
  const doc = documentHintOf(event);
  if (!doc || doc.deleted || !/UPDATE$/.test(event.event)) return false;
  const link = await store.links.find(memberId, doc.type, doc.id);
  return Boolean(link && now - link.lastSyncedAt < ECHO_LIKELY_MS);
}

export interface IntakeOptions {
  /**
   * New documents (not linked yet) this portal's events may queue per minute; more are dropped (`over_limit`). Unset:
   * no cap (the offline queue's records come from Bitrix24 itself, read with the connector's token).
   */
  newDocumentsPerMinute?: number;
  metrics?: Pick<Metrics, 'eventDropped'>;
}

/** Payload fields of a push job that outlive an event coalescing into it: an admin's "Send to Xero" or backfill. */
export const STICKY_PUSH_FIELDS = ['adminAsked'] as const;

/** A company or contact the connector keeps in step: linked to a Xero contact (sync-contacts.ts works only those). */
export function isSyncedCustomer(link: Link | undefined): boolean {
  return link?.xeroType === 'contact' && link.connectionId !== null;
}

/** A document the connector has in Xero, or sent there without a recorded answer (heal-lost.ts finds it). */
export async function isKnownDocument(store: Store, memberId: string, doc: Pick<DocumentHint, 'type' | 'id'>): Promise<boolean> {
  return Boolean((await store.links.find(memberId, doc.type, doc.id))) || (await store.links.wasSent(memberId, doc.type, doc.id));
}

/**
 * Stores the job an event asks for; returns false when the event needs no work. An event is a hint: a linked document
 * (or company, contact) is looked at; an unlinked one only while the portal's new documents of this minute stay under
 * the cap, and its push drops it unless Bitrix24 says it was created or changed after the install (push/load.ts).
 * Everything else is dropped here, counted (event-drops.ts), and leaves no job row.
 */
export function intakeEvent(store: Store, memberId: string, event: B24Event, opts: IntakeOptions = {}): Promise<boolean> {
  // The link check, the check for a waiting job, the per-minute cap and the enqueue are one unit: two events about
  // one new document must not both pass the checks before either is stored.
  return store.transaction(() => intakeInTransaction(store, memberId, event, opts));
}

async function intakeInTransaction(store: Store, memberId: string, event: B24Event, opts: IntakeOptions): Promise<boolean> { // runs inside store.transaction
  const drop = async (reason: DropReason) => {
    await noteDropped(store, opts.metrics, memberId, reason);
    return false;
  };
  if (event.event === 'ONOFFLINEEVENT') {
    await store.jobs.enqueue({ memberId, kind: 'drain-offline', key: `drain-offline:${memberId}`, payload: {} });
    return true;
  }
  const customer = customerHintOf(event);
  if (customer) {
    if (!isSyncedCustomer((await store.links.find(memberId, customer.type, customer.id)))) return drop('not_linked');
    await store.jobs.enqueue({ memberId, kind: PUSH_CONTACT_JOB, key: pushContactKey(memberId, customer.type, customer.id), payload: customer });
    return true;
  }
  const doc = documentHintOf(event);
  if (!doc || (doc.type === 'quote' && !(await portalSettings(store, memberId)).quoteSync)) return false;
  const key = pushJobKey(memberId, doc);
  // A job already waiting for the document takes the event in (no new key); otherwise an unknown document is new work.
  if (!(await isKnownDocument(store, memberId, doc)) && !(await store.jobs.findLive(key))) {
    if (doc.deleted) return drop('not_linked');
    if (opts.newDocumentsPerMinute !== undefined && !(await store.eventTallies.take(memberId, NEW_DOCUMENT_TALLY, opts.newDocumentsPerMinute))) return drop('over_limit');
  }
  await store.jobs.enqueue({
    memberId,
    kind: pushJobKind(doc.type),
    key,
    payload: { type: doc.type, id: doc.id, deleted: doc.deleted, event: event.event, ts: event.ts ?? null, ...((await isLikelyEcho(store, memberId, event)) ? { likelyEcho: true } : {}) },
    sticky: STICKY_PUSH_FIELDS,
  });
  return true;
}

/** The event tally of new documents queued, capped per portal and minute. */
const NEW_DOCUMENT_TALLY = 'new_document';
