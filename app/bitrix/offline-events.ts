/**
 * The portal's offline event queue (docs/reference/bitrix24.md#offline-events): records reserved under a
 * `process_id` (`clear: 0`), then cleared once their work is stored, or flagged so that the next read takes them
 * again. Every call carries the connector's `auth_connector`, the key its own writes are left out of the queue by.
 */
import { AUTH_CONNECTOR } from './portal-setup.js';
import type { PortalClient } from './portal-client.js';
import { documentHintOf, type DocumentHint } from './events.js';
import type { B24Event } from './request-auth.js';

/** One queued record, read as an event. */
export interface OfflineRecord {
  messageId: string;
  /** The record as an event (its name and data; no application token), when it carries data. */
  event: B24Event | undefined;
  /** The synced document the record names, when it names one. */
  document: DocumentHint | undefined;
  /**
   * A smart-item or classic-invoice change the record does not name a synced document for (the documentation's
   * samples show `EVENT_DATA: false`): only a sweep finds it.
   */
  unnamedDocument: boolean;
}

export interface OfflineBatch {
  /** The reservation to clear or flag; null when nothing was reserved. */
  processId: string | null;
  records: OfflineRecord[];
}

interface RawRecord {
  ID: string;
  EVENT_NAME: string;
  EVENT_DATA: unknown;
  MESSAGE_ID: string;
}

/**
 * Reserves up to `limit` records (the method's maximum is 1000). `error: 1`: records flagged by a drain whose store
 * refused the write (locked, disk full) are taken again.
 */
export async function reserveOfflineEvents(client: PortalClient, memberId: string, limit: number): Promise<OfflineBatch> {
  // https://apidocs.bitrix24.com/api-reference/events/event-offline-get.html
  const got = await client.call<{ process_id: string | null; events: RawRecord[] }>('event.offline.get', { clear: 0, limit, error: 1, auth_connector: AUTH_CONNECTOR });
  return { processId: got.process_id ?? null, records: (got.events ?? []).map((r) => recordOf(memberId, r)) };
}

/** Flags reserved records as not processed: the next read takes them again. */
export async function flagOfflineEvents(client: PortalClient, processId: string, messageIds: string[]): Promise<void> {
  // https://apidocs.bitrix24.com/api-reference/events/event-offline-error.html
  await client.call('event.offline.error', { process_id: processId, message_id: messageIds, auth_connector: AUTH_CONNECTOR });
}

/** Deletes the whole reservation from the queue. */
export async function clearOfflineEvents(client: PortalClient, processId: string): Promise<void> {
  // https://apidocs.bitrix24.com/api-reference/events/event-offline-clear.html
  await client.call('event.offline.clear', { process_id: processId, auth_connector: AUTH_CONNECTOR });
}

function recordOf(memberId: string, rec: RawRecord): OfflineRecord {
  const data = rec.EVENT_DATA;
  const event: B24Event | undefined = data && typeof data === 'object'
    ? { event: rec.EVENT_NAME.toUpperCase(), data: data as Record<string, unknown>, auth: { member_id: memberId, application_token: '' } }
    : undefined;
  const document = event && documentHintOf(event);
  return { messageId: rec.MESSAGE_ID, event, document, unnamedDocument: !document && /^ONCRM(DYNAMICITEM|INVOICE)/.test(rec.EVENT_NAME) };
}
