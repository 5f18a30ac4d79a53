/**
 * The setup checklist shown on the dashboard until everything is done: Xero connected; tax rates matched (every
 * VAT rate documents use has a Xero tax rate); a default sales account chosen (or matched) or every product has one;
 * Xero webhooks verified (a signed delivery, such as Xero's intent-to-receive check, was seen); offline events
 * working (the Bitrix24 offline queue was read). Built from what is stored: no call to Bitrix24 or Xero.
 */
import { clock } from '../../clock.js';
import type { Store } from '../../store/index.js';
import { matchSalesAccount, type AccountMatch } from './mapping.js';
import type { OrgDataCache } from './org-data.js';
import { portalSettings } from '../settings.js';
import { taxTable, type TaxMatch } from './tax-matching.js';

export interface ChecklistItem {
  id: 'xero' | 'taxes' | 'account' | 'webhooks' | 'offline';
  title: string;
  done: boolean;
  /** What is the case, or what to do, in words. */
  detail: string;
}

export interface SetupOverview {
  checklist: ChecklistItem[];
  complete: boolean;
  org: { tenantName: string | null; readAt: number } | null;
  taxes: TaxMatch[];
  account: AccountMatch | null;
}

/** How recent the last offline drain must be to count as working. (Default: one day) */
const OFFLINE_FRESH_MS = 24 * 60 * 60_000;

/**
 * `coverage`: how many catalog products lack a sales account (gl-codes.ts `accountCoverage`), when it was counted;
 * the account step is also done when there are products and every one has an account.
 */
export async function setupOverview(store: Store, orgData: OrgDataCache, memberId: string, now = clock.now(), coverage?: { products: number; withoutAccount: number } | null): Promise<SetupOverview> {
  const connection = await store.connections.current(memberId);
  const org = await orgData.cached(memberId);
  const settings = await portalSettings(store, memberId);
  const seen = new Set(await store.settings.get<string[]>(memberId, 'b24.vatRatesSeen') ?? []);
  const taxes = org ? taxTable(await orgData.vatKeysInUse(memberId), org.taxRates, settings.taxRateMap) : [];
  const account = org ? matchSalesAccount(org.accounts, settings.defaultSalesAccount) : null;
  const everyProduct = Boolean(coverage && coverage.products > 0 && coverage.withoutAccount === 0);
  const blocking = taxes.filter((t) => !t.taxType && seen.has(t.key));
  const webhookAt = Number(await store.watermarks.get('xero', 'webhook.verifiedAt') ?? 0);
  const drainedAt = Number(await store.watermarks.get(`portal:${memberId}`, 'offline.drainedAt') ?? 0);

  const checklist: ChecklistItem[] = [
    {
      id: 'xero', title: 'Xero connected', done: connection?.state === 'active',
      detail: connection?.state === 'active' ? `Connected to ${connection.tenantName ?? 'Xero'}.` : connection ? `${connection.tenantName ?? 'Xero'} needs reconnecting.` : 'Connect Xero to start.',
    },
    {
      id: 'taxes', title: 'Tax rates matched', done: Boolean(org) && blocking.length === 0,
      detail: !org ? 'Waiting for the organisation\'s tax rates.' : blocking.length
        ? `Choose a Xero tax rate for ${blocking.map((t) => t.label).join(', ')}.`
        : `${taxes.filter((t) => t.taxType).length} VAT rate(s) matched${taxes.some((t) => t.state === 'automatic') ? ' (automatic ones can be changed)' : ''}.`,
    },
    {
      id: 'account', title: 'Default sales account', done: Boolean(account?.code) || everyProduct,
      detail: !account ? 'Waiting for the organisation\'s accounts.' : !account.code && everyProduct ? `Every product (${coverage!.products}) has a Xero sales account.` : account.code
        ? `${account.code} ${account.candidates.find((c) => c.code === account.code)?.name ?? ''}${account.state === 'automatic' ? ' (chosen automatically; change it in the settings)' : ''}.`.replace(' .', '.')
        : account.reason ?? 'Choose the default sales account, or give every product a Xero sales account.',
    },
    {
      id: 'webhooks', title: 'Xero webhooks verified', done: webhookAt > 0,
      detail: webhookAt > 0 ? `Xero's signed delivery was seen ${new Date(webhookAt).toISOString().slice(0, 16).replace('T', ' ')} UTC.` : 'In the Xero app\'s Webhooks tab, send "Intent to receive" to the connector\'s webhook URL. Until then statuses come by polling.',
    },
    {
      id: 'offline', title: 'Offline events working', done: drainedAt > 0 && now - drainedAt < OFFLINE_FRESH_MS,
      detail: drainedAt > 0 ? `The Bitrix24 offline queue was last read ${new Date(drainedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC.` : 'The Bitrix24 offline queue has not been read yet.',
    },
  ];
  return {
    checklist, complete: checklist.every((i) => i.done),
    org: org ? { tenantName: org.tenantName, readAt: org.readAt } : null,
    taxes, account,
  };
}
