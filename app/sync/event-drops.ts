/**
 * Events dropped, counted: a Bitrix24 event is a hint to look at a document that is already linked, or that Bitrix24
 * says was created or changed after the install. Any other is answered 200 and dropped with its reason, counted in
 * the store per portal and minute (the dashboard's "events dropped in the last hour") and in `/metrics`
 * (`connector_events_dropped_total{reason}`), so a flood shows as counters, not as rows on the disk.
 */
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';

export const DROP_REASONS = ['before_install', 'not_found', 'not_linked', 'over_limit'] as const;
/**
 * `before_install`: created and last changed before the install (the backfill's to send); `not_found`: Bitrix24 has no
 * such document; `not_linked`: a company, contact or deletion the connector has nothing of in Xero; `over_limit`: more
 * new documents in a minute than `EVENT_NEW_DOCUMENTS_PER_MINUTE` (the reconciliation sweep finds the real ones).
 */
export type DropReason = (typeof DROP_REASONS)[number];

const TALLY = 'dropped:';

/** Counts a dropped event of a portal, in the store and in the process's metrics. */
export async function noteDropped(store: Store, metrics: Pick<Metrics, 'eventDropped'> | undefined, memberId: string, reason: DropReason, n = 1): Promise<void> {
  await store.eventTallies.add(memberId, `${TALLY}${reason}`, n);
  metrics?.eventDropped(reason, n);
}

/** The events of a portal dropped since `since` (ms), by reason (most first). */
export async function droppedSince(store: Store, memberId: string, since: number): Promise<{ total: number; reasons: { reason: DropReason; count: number }[] }> {
  const counts = await store.eventTallies.since(memberId, TALLY, since);
  const reasons = DROP_REASONS.flatMap((reason) => (counts.get(reason) ? [{ reason, count: counts.get(reason)! }] : [])).sort((a, b) => b.count - a.count);
  return { total: reasons.reduce((n, r) => n + r.count, 0), reasons };
}
