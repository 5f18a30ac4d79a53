/**
 * Drain the Bitrix24 offline event queue: the path that works even when Bitrix24 cannot reach the connector.
 * Records are reserved (`clear: 0` → `process_id`), turned into push jobs in one SQLite transaction, and only
 * then cleared in Bitrix24; if storing fails they are flagged as failed and fetched again next time. Records without
 * the document id (the docs' samples show `EVENT_DATA: false`) start a reconciliation sweep instead.
 * Source: docs/reference/bitrix24.md#offline-events; the queue's calls are in bitrix/offline-events.ts.
 */
import { clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/index.js';
import type { PortalClients } from '../../bitrix/portal-client.js';
import { clearOfflineEvents, flagOfflineEvents, reserveOfflineEvents } from '../../bitrix/offline-events.js';
import type { Metrics } from '../../metrics.js';
import { intakeEvent } from './intake.js';

/** Records reserved per read (Bitrix24's maximum is 1000; 50 is its default). */
const PAGE = 200;

export async function drainOfflineEvents(deps: { store: Store; portals: PortalClients; logger: Logger; metrics?: Metrics }, memberId: string): Promise<number> {
  const client = await deps.portals.for(memberId);
  let total = 0;
  for (let round = 0; round < 100; round++) {
    const { processId, records: events } = await reserveOfflineEvents(client, memberId, PAGE);
    if (events.length === 0 || !processId) break;
    try {
      await deps.store.transaction(async () => {
        let needsSweep = false;
        for (const rec of events) {
          // The same rule as online events (intake.ts, push/load.ts), without the cap: Bitrix24 itself wrote these.
          if (rec.event && rec.document) await intakeEvent(deps.store, memberId, rec.event, { metrics: deps.metrics });
          else if (rec.unnamedDocument) needsSweep = true;
        }
        if (needsSweep) await deps.store.jobs.enqueue({ memberId, kind: 'reconcile', key: `reconcile:${memberId}`, payload: { reason: 'offline event without id' } });
      });
    } catch (err) {
      await flagOfflineEvents(client, processId, events.map((e) => e.messageId));
      throw err;
    }
    await clearOfflineEvents(client, processId);
    total += events.length;
    if (events.length < PAGE) break;
  }
  if (total) deps.logger.info({ memberId, records: total }, 'offline events drained');
  // The setup checklist's "offline events working": the queue was read (and cleared) successfully.
  await deps.store.watermarks.set(`portal:${memberId}`, 'offline.drainedAt', String(clock.now()));
  if (total) await deps.store.watermarks.set(`portal:${memberId}`, 'offline.receivedAt', String(clock.now()));
  return total;
}
