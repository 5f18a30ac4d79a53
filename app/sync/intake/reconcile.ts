/**
 * Reconciliation sweep: documents modified since the last watermark are queued for a push, so anything missed
 * while the connector was down (online events are never resent) still reaches Xero. The push itself skips
 * documents whose content is unchanged, so the sweep costs Bitrix24 reads, not Xero calls.
 * The first sweep of a portal starts at its install: older documents are not pushed by themselves.
 */
import { clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/index.js';
import type { PortalClients } from '../../bitrix/portal-client.js';
import { customerIdsChangedSince, documentIdsChangedSince } from '../../bitrix/document-ids.js';
import { isSyncedCustomer, pushJobKey, pushJobKind, STICKY_PUSH_FIELDS } from './intake.js';
import { portalSettings } from '../settings.js';
import { installedSince } from './install-time.js';
import { PUSH_CONTACT_JOB, pushContactKey } from '../contacts/sync-contacts.js';

/** Needs-attention causes that can be fixed away from the document itself, re-checked at every sweep. */
const RECHECKED_CAUSES = ['SYNC.MISSING_ACCOUNT_CODE', 'SYNC.CUSTOMER_NOT_FOUND', 'XERO.CONTACT_NAME_TAKEN'];

/** Overlap re-read at each sweep, for clock skew between the portal and the connector. */
const OVERLAP_MS = 2 * 60_000;

export async function reconcile(deps: { store: Store; portals: PortalClients; logger: Logger }, memberId: string, now = clock.now()): Promise<number> {
  const { store } = deps;
  const portal = await store.portals.get(memberId);
  if (!portal || portal.state !== 'installed') return 0;
  const client = await deps.portals.for(memberId);
  const scope = `portal:${memberId}`;
  // The first sweep starts at the install (Bitrix24's clock, install-time.ts): older documents are the backfill's.
  const since = async (name: string) => new Date(Number(await store.watermarks.get(scope, name) ?? installedSince(portal)) - OVERLAP_MS).toISOString();

  const smart = await documentIdsChangedSince(client, 'smart_invoice', await since('b24.smart_invoices'));
  const quotes = (await portalSettings(store, memberId)).quoteSync ? await documentIdsChangedSince(client, 'quote', await since('b24.quotes')) : [];
  let classic: string[] = [];
  try {
    classic = await documentIdsChangedSince(client, 'invoice', await since('b24.invoices'));
  } catch (err) {
    deps.logger.debug({ err, memberId }, 'classic invoices are not available on this portal');
  }

  // Companies and contacts changed since the last sweep: the linked ones are brought in step with Xero (sync-contacts.ts
  // skips the rest, and those whose details did not change).
  const customers: { type: 'company' | 'contact'; id: string }[] = [];
  for (const type of ['company', 'contact'] as const) {
    const ids = await customerIdsChangedSince(client, type, await since(type === 'company' ? 'b24.companies' : 'b24.contacts'));
    customers.push(...ids.map((id) => ({ type, id })));
  }

  await store.transaction(async () => {
    for (const c of customers) {
      if (!isSyncedCustomer((await store.links.find(memberId, c.type, c.id)))) continue;
      await store.jobs.enqueue({ memberId, kind: PUSH_CONTACT_JOB, key: pushContactKey(memberId, c.type, c.id), payload: c });
    }
    await store.watermarks.set(scope, 'b24.companies', String(now));
    await store.watermarks.set(scope, 'b24.contacts', String(now));
    for (const [type, ids] of [['smart_invoice', smart], ['invoice', classic], ['quote', quotes]] as const) {
      for (const id of ids) {
        await store.jobs.enqueue({ memberId, kind: pushJobKind(type), key: pushJobKey(memberId, { type, id }), payload: { type, id, deleted: false, event: 'reconcile' }, sticky: STICKY_PUSH_FIELDS });
      }
    }
    await store.watermarks.set(scope, 'b24.smart_invoices', String(now));
    await store.watermarks.set(scope, 'b24.invoices', String(now));
    await store.watermarks.set(scope, 'b24.quotes', String(now));
    // Causes fixed outside the document (a GL code added on the product card, a customer restored) leave no
    // event on the document: give those documents another go.
    for (const errorCode of RECHECKED_CAUSES) await store.jobs.retryNow({ memberId, errorCode }, now);
  });
  const queued = smart.length + classic.length + quotes.length;
  if (queued) deps.logger.info({ memberId, queued }, 'reconciliation sweep queued documents');
  return queued;
}
