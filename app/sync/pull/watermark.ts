/**
 * The pull's watermark per connection and kind: Xero's `If-Modified-Since` of the next poll. It moves only over what
 * was read and written; a little is read again before it, since Xero's clocks and read replicas may lag.
 */
import type { Store } from '../../store/index.js';
import type { XeroType } from '../../store/links.js';
import type { ChangesRead, XeroChange } from '../../xero/changes.js';

/** Re-read this much before the watermark: Xero's clocks and its read replicas may lag a little. */
export const WATERMARK_OVERLAP_MS = 2 * 60_000;

export async function watermarkOf(store: Store, connectionId: number, kind: XeroType): Promise<number | undefined> {
  const v = await store.watermarks.get(`connection:${connectionId}`, `xero.${kind}s`);
  const t = v === undefined ? NaN : Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

export async function saveWatermark(store: Store, connectionId: number, kind: XeroType, at: number): Promise<void> {
  await store.watermarks.set(`connection:${connectionId}`, `xero.${kind}s`, new Date(at).toISOString());
}

/**
 * The next watermark: the newest Xero change read (Xero's own clock), but never past a document that failed, nor
 * past an incomplete read; never backwards.
 */
export function nextWatermark(base: number, read: ChangesRead, failedIds: Set<string>): number {
  const times = (pred: (c: XeroChange) => boolean) => read.changes.filter(pred).map((c) => c.updatedAt ?? 0).filter((t) => t > 0);
  const failed = times((c) => failedIds.has(c.id.toLowerCase()));
  if (failed.length) return Math.max(base, Math.min(...failed));
  const seen = times(() => true);
  return seen.length ? Math.max(base, ...seen) : base;
}
