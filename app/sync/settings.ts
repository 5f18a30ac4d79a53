/**
 * Per-portal settings: read through `portalSettings`, which validates what is stored, so a bad value never reaches
 * the sync. Their schema and type are the domain's (domain/settings.ts).
 */
import type { Store } from '../store/index.js';
import { settingsSchema, type PortalSettings } from '../domain/settings.js';

const KEY = 'sync';

export function portalSettings(store: Store, memberId: string): PortalSettings { // step B: async transaction (runs inside store.transaction)
  const parsed = settingsSchema.safeParse(store.settings.get(memberId, KEY) ?? {});
  return parsed.success ? parsed.data : settingsSchema.parse({});
}

/** Saves a change; throws zod's error naming the bad field (the page API turns it into a message). */
export function updatePortalSettings(store: Store, memberId: string, patch: Partial<PortalSettings>): PortalSettings {
  // The read and the write are one unit: two changes at once must not each save over the other's fields.
  // step B: async transaction
  return store.transaction(() => {
    const next = settingsSchema.parse({ ...portalSettings(store, memberId), ...patch });
    store.settings.set(memberId, KEY, next);
    return next;
  });
}
