/**
 * Drain the Bitrix24 offline event queue: the path that works even when Bitrix24 cannot reach the connector.
 * Records are reserved (`clear: 0` → `process_id`), turned into push jobs in one SQLite transaction, and only
 * then cleared in Bitrix24; if storing fails they are flagged with `event.offline.error` and fetched again next time. Records without
 * the document id (the docs' samples show `EVENT_DATA: false`) start a reconciliation sweep instead.
 * Source: docs/reference/bitrix24.md#offline-events.
 */
import { clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { PortalClients } from '../bitrix/portal-client.js';
import type { B24Event } from '../bitrix/request-auth.js';
import type { Metrics } from '../metrics.js';
import { documentOf, intakeEvent } from './intake.js';
import { AUTH_CONNECTOR } from '../bitrix/portal-setup.js';

/** Records per `event.offline.get` (the method's maximum is 1000; 50 is its default). */
const PAGE = 200;

interface OfflineRecord {
  ID: string;
  EVENT_NAME: string;
  EVENT_DATA: unknown;
  MESSAGE_ID: string;
}

export async function drainOfflineEvents(deps: { store: Store; portals: PortalClients; logger: Logger; metrics?: Metrics }, memberId: string): Promise<number> {
  const client = deps.portals.for(memberId);
  let total = 0;
  for (let round = 0; round < 100; round++) {
    // https://apidocs.bitrix24.com/api-reference/events/event-offline-get.html
    // `error: 1`: records flagged by a drain whose store refused the write (locked, disk full) are taken again.
    const got = await client.call<{ process_id: string | null; events: OfflineRecord[] }>('event.offline.get', { clear: 0, limit: PAGE, error: 1, auth_connector: AUTH_CONNECTOR });
    const events = got.events ?? [];
    if (events.length === 0 || !got.process_id) break;
    try {
      deps.store.transaction(() => {
        let needsSweep = false;
        for (const rec of events) {
          const event = asEvent(memberId, rec);
          // The same rule as online events (intake.ts, push/load.ts), without the cap: Bitrix24 itself wrote these.
          if (event && documentOf(event)) intakeEvent(deps.store, memberId, event, { metrics: deps.metrics });
          else if (/^ONCRM(DYNAMICITEM|INVOICE)/.test(rec.EVENT_NAME)) needsSweep = true;
        }
        if (needsSweep) deps.store.jobs.enqueue({ memberId, kind: 'reconcile', key: `reconcile:${memberId}`, payload: { reason: 'offline event without id' } });
      });
    } catch (err) {
      // https://apidocs.bitrix24.com/api-reference/events/event-offline-error.html
      await client.call('event.offline.error', { process_id: got.process_id, message_id: events.map((e) => e.MESSAGE_ID), auth_connector: AUTH_CONNECTOR });
      throw err;
    }
    // https://apidocs.bitrix24.com/api-reference/events/event-offline-clear.html
    await client.call('event.offline.clear', { process_id: got.process_id, auth_connector: AUTH_CONNECTOR });
    total += events.length;
    if (events.length < PAGE) break;
  }
  if (total) deps.logger.info({ memberId, records: total }, 'offline events drained');
  // The setup checklist's "offline events working": the queue was read (and cleared) successfully.
  deps.store.watermarks.set(`portal:${memberId}`, 'offline.drainedAt', String(clock.now()));
  if (total) deps.store.watermarks.set(`portal:${memberId}`, 'offline.receivedAt', String(clock.now()));
  return total;
}

function asEvent(memberId: string, rec: OfflineRecord): B24Event | undefined {
  const data = rec.EVENT_DATA;
  if (!data || typeof data !== 'object') return undefined;
  return { event: rec.EVENT_NAME.toUpperCase(), data: data as Record<string, unknown>, auth: { member_id: memberId, application_token: '' } };
}
