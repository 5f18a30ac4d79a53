/**
 * Per-portal settings: read through `portalSettings`, which validates what is stored, so a bad value never reaches
 * the sync. Their schema and type are the domain's (domain/settings.ts).
 */
import type { Store } from '../store/index.js';
import { settingsSchema, type PortalSettings } from '../domain/settings.js';

const KEY = 'sync';

export async function portalSettings(store: Store, memberId: string): Promise<PortalSettings> {
  const parsed = settingsSchema.safeParse((await store.settings.get(memberId, KEY)) ?? {});
  return parsed.success ? parsed.data : settingsSchema.parse({});
}

/** Saves a change; throws zod's error naming the bad field (the page API turns it into a message). */
export function updatePortalSettings(store: Store, memberId: string, patch: Partial<PortalSettings>): Promise<PortalSettings> {
  // The read and the write are one unit: two changes at once must not each save over the other's fields.
  return store.transaction(async () => {
    const next = settingsSchema.parse({ ...(await portalSettings(store, memberId)), ...patch });
    await store.settings.set(memberId, KEY, next);
    return next;
  });
}
