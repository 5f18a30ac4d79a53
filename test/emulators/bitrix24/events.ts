/**
 * Event bindings, online delivery and the offline queue.
 * Sources: docs/reference/bitrix24.md#events, docs/reference/bitrix24.md#offline-events; fixtures event.*.json (POST shapes).
 */
import { encodeForm } from './form.js';
import { isoDate } from './core.js';

export interface Binding {
  id: number;
  event: string;
  /** '' for offline bindings. */
  handler: string;
  /** 0 = "the user whose action triggered the event" (docs/reference/bitrix24.md#events, auth_type). */
  authType: number;
  offline: boolean;
  authConnector: string;
  options: Record<string, unknown>;
  createdBy: number;
}

export interface OfflineRecord {
  ID: number;
  TIMESTAMP_X: string;
  EVENT_NAME: string;
  EVENT_DATA: Record<string, unknown>;
  EVENT_ADDITIONAL: Record<string, unknown> | false;
  MESSAGE_ID: string;
  PROCESS_ID: string;
  ERROR: number;
  /** The `auth_connector` queue this record belongs to ('' = default queue). Source: docs/reference/bitrix24.md#offline-events. */
  connector: string;
  /** Dedup key: one record per event + object. Source: docs/reference/bitrix24.md#offline-events ("only one entry"). */
  objectKey: string;
}

export interface Delivery {
  at: string;
  event: string;
  handler: string;
  bindingId?: number;
  /** The decoded form the handler received (or would have received). */
  body: Record<string, unknown>;
  /** Raw `application/x-www-form-urlencoded` body. */
  raw: string;
  status: number;
  ok: boolean;
  /** Why nothing was sent or why it failed; never retried (on-line events have no retries). */
  dropped?: 'delivery-disabled' | 'app-not-installed';
  error?: string;
}

/** POSTs one event form; Bitrix24 logs failures and never retries (docs/reference/bitrix24.md#events "no retries"). */
export class EventDelivery {
  readonly log: Delivery[] = [];
  enabled = true;
  private pending = new Set<Promise<void>>();

  send(handler: string, body: Record<string, unknown>, meta: { event: string; bindingId?: number }, force = false): void {
    const raw = encodeForm(body);
    const entry: Delivery = { at: isoDate(), event: meta.event, handler, bindingId: meta.bindingId, body, raw, status: 0, ok: false };
    this.log.push(entry);
    if (!this.enabled && !force) {
      entry.dropped = 'delivery-disabled';
      return;
    }
    // Asynchronous like the cloud queue: the REST write answers first, the handler is called afterwards.
    const p = (async () => {
      await new Promise((r) => setImmediate(r));
      try {
        const res = await fetch(handler, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Bitrix24 Webhook Engine' },
          body: raw,
          signal: AbortSignal.timeout(10_000),
        });
        entry.status = res.status;
        entry.ok = res.ok;
        await res.arrayBuffer().catch(() => undefined);
      } catch (err) {
        entry.error = err instanceof Error ? err.message : String(err);
      }
    })();
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Resolves when every delivery started so far (and any started meanwhile) has finished. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
