/**
 * The portal's install, on Bitrix24's own clock: a document Bitrix24 says was created and last changed before it is
 * pre-install history, which only the admin's backfill ("Send existing invoices") sends; an event about one is
 * dropped. Bitrix24's clock, because the documents' own times are on it: a self-hosted portal's clock may differ from
 * the connector's.
 *
 * The time is the portal's first install on this store: a reinstall (the portal row kept, `installedAt` with it)
 * keeps it, so documents made while the app was away are not taken for history. An admin who reinstalls expects what
 * happened since the first install to sync, and the reconciliation sweep finds it by the same rule.
 */
import { clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { PortalClient } from '../../bitrix/portal-client.js';
import { readServerTime } from '../../bitrix/server-time.js';
import type { Store } from '../../store/index.js';
import type { Portal } from '../../store/portals.js';

/**
 * Documents created or changed this shortly before the install count as after it: server.time has whole seconds,
 * and an invoice a colleague saves while the admin installs belongs to the new install, not to its history.
 */
export const INSTALL_GRACE_MS = 2 * 60_000;

/**
 * Reads the portal's clock (at every install and update): how far it runs ahead of the connector's is kept, since an
 * event's `ts` is on it (the replay guard compares the two), and the first install is recorded on it, once: the
 * store's own first install time (`installedAt`, kept by a reinstall) carried over with that offset. A portal that
 * cannot be asked keeps what was known (no offset, `installedAt` as its install time) until it is asked again.
 */
export async function readPortalClock(deps: { store: Store; logger: Logger }, client: PortalClient, memberId: string): Promise<void> {
  const portal = await deps.store.portals.get(memberId);
  if (!portal) return;
  try {
    const before = clock.now();
    const portalNow = await readServerTime(client);
    const offset = portalNow - Math.round((before + clock.now()) / 2);
    await deps.store.portals.setB24ClockOffset(memberId, offset);
    if (portal.b24InstalledAt === null) await deps.store.portals.keepB24InstalledAt(memberId, portal.installedAt + offset);
  } catch (err) {
    deps.logger.warn({ err, memberId }, "the portal's clock could not be read; its install time is the connector's");
  }
}

/** The time now on the portal's clock, ms, as far as the connector knows it (event `ts` is on it). */
export function portalNow(portal: Pick<Portal, 'b24ClockOffsetMs'> | undefined): number {
  return clock.now() + (portal?.b24ClockOffsetMs ?? 0);
}

/** From when a document counts as after the install (Bitrix24's clock, ms). */
export function installedSince(portal: Pick<Portal, 'installedAt' | 'b24InstalledAt'>): number {
  return (portal.b24InstalledAt ?? portal.installedAt) - INSTALL_GRACE_MS;
}

/** True when Bitrix24's own times show a document created and last changed before `since`; unknown times never do. */
export function madeBefore(times: { createdAt: number | null; updatedAt: number | null }, since: number): boolean {
  return times.createdAt !== null && times.updatedAt !== null && times.createdAt < since && times.updatedAt < since;
}
