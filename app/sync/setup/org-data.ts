/**
 * Organisation data: the connected Xero organisation's lists (accounts, tax rates, currencies, branding themes,
 * tracking categories, items) and the portal's VAT rates, read on connect and on demand ("Refresh from Xero"),
 * cached per portal with the time they were read. The sync trusts the cache for an hour and reads again after
 * that; a refresh releases the documents that waited for a tax rate or an account that now matches.
 */
import { clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Store } from '../../store/index.js';
import type { PortalClients } from '../../bitrix/portal-client.js';
import { activeVatRates } from '../../bitrix/vat-rates.js';
import type { XeroGateways } from '../../xero/gateway.js';
import { readOrgData, type OrgData } from '../../xero/organisation.js';
import type { JobHandler } from '../outbox.js';
import { vatKeyOf, type VatKey } from './tax-matching.js';

export interface CachedOrgData extends OrgData {
  connectionId: number;
  tenantName: string | null;
  /** When the lists were read (ms since epoch). */
  readAt: number;
}

/** How long the cached lists are trusted by the sync. (Default: one hour) */
export const ORG_DATA_TTL_MS = 60 * 60_000;

const ORG_KEY = 'xero.orgData';
const PORTAL_VAT_KEY = 'b24.vatRates';
const SEEN_VAT_KEY = 'b24.vatRatesSeen';

/** The outbox job that reads the lists (queued when Xero is connected). */
export const ORG_DATA_JOB = 'org-data';

export interface OrgDataDeps {
  store: Store;
  gateways: XeroGateways;
  portals: PortalClients;
  logger: Logger;
}

/** Codes of jobs that wait for a mapping and go again when it changes. */
export const MAPPING_ERROR_CODES = ['SYNC.MISSING_ACCOUNT_CODE', 'SYNC.UNKNOWN_TAX_RATE'] as const;

/** Lets the portal's documents waiting on a mapping cause go again; returns how many. */
export function retryWaitingOnMapping(store: Store, memberId: string): Promise<number> {
  return store.transaction(async () => {
    let n = 0;
    for (const errorCode of MAPPING_ERROR_CODES) n += await store.jobs.retryNow({ memberId, errorCode });
    return n;
  });
}

export class OrgDataCache {
  readonly #inFlight = new Map<string, Promise<CachedOrgData>>();

  constructor(private readonly deps: OrgDataDeps) {}

  /** The outbox handler of `org-data` jobs. */
  readonly handler: JobHandler = {
    run: async (jobs) => {
      for (const memberId of new Set(jobs.map((j) => j.memberId).filter((m): m is string => Boolean(m)))) await this.refresh(memberId);
      return new Map();
    },
  };

  /** What is cached for the portal's active connection, however old. */
  async cached(memberId: string): Promise<CachedOrgData | undefined> {
    const data = await this.deps.store.settings.get<CachedOrgData>(memberId, ORG_KEY);
    const connection = await this.deps.store.connections.current(memberId);
    return data && connection && data.connectionId === connection.id ? data : undefined;
  }

  /** The cached lists when younger than `maxAgeMs`, else read again. */
  async current(memberId: string, maxAgeMs = ORG_DATA_TTL_MS): Promise<CachedOrgData> {
    const data = await this.cached(memberId);
    if (data && clock.now() - data.readAt < maxAgeMs) return data;
    return this.refresh(memberId);
  }

  /**
   * Reads the lists from Xero and the VAT rates from Bitrix24 now (one read at a time per portal); the documents that
   * waited for a mapping go again unless `release` is false (a settings change releases them itself).
   */
  refresh(memberId: string, opts: { release?: boolean } = {}): Promise<CachedOrgData> {
    const running = this.#inFlight.get(memberId);
    if (running) return running;
    const p = this.read(memberId, opts.release ?? true).finally(() => this.#inFlight.delete(memberId));
    this.#inFlight.set(memberId, p);
    return p;
  }

  /** The Bitrix24 VAT rates in use: the portal's VAT list and the rates seen on documents. */
  async vatKeysInUse(memberId: string): Promise<VatKey[]> {
    const portal = await this.deps.store.settings.get<VatKey[]>(memberId, PORTAL_VAT_KEY) ?? [];
    const seen = await this.deps.store.settings.get<VatKey[]>(memberId, SEEN_VAT_KEY) ?? [];
    return [...new Set([...portal, ...seen])];
  }

  /** Remembers VAT rates met on documents, so the tax table lists them. Returns the ones not seen before. */
  noteVatKeys(memberId: string, keys: Iterable<VatKey>): Promise<VatKey[]> {
    const { store } = this.deps;
    // The read and the write are one unit: two pushes noting keys at once must not drop each other's.
    return store.transaction(async () => {
      const seen = new Set((await store.settings.get<VatKey[]>(memberId, SEEN_VAT_KEY)) ?? []);
      const fresh = [...new Set(keys)].filter((k) => !seen.has(k));
      if (fresh.length) await store.settings.set(memberId, SEEN_VAT_KEY, [...seen, ...fresh]);
      return fresh;
    });
  }

  private async read(memberId: string, release: boolean): Promise<CachedOrgData> {
    const { store, gateways, logger } = this.deps;
    const connection = await store.connections.current(memberId);
    if (!connection) throw new AppError('XERO.NOT_CONNECTED', 'Xero is not connected yet. A portal administrator can connect it in the Xero connector app.', 409);
    const lists = await readOrgData(gateways.for(connection.id), connection.tenantId);
    const before = await store.settings.get<CachedOrgData>(memberId, ORG_KEY);
    const changed = !before || before.connectionId !== connection.id || listsOf(before) !== listsOf(lists);
    const data: CachedOrgData = { ...lists, connectionId: connection.id, tenantName: connection.tenantName, readAt: clock.now() };
    await store.settings.set(memberId, ORG_KEY, data);
    try {
      await store.settings.set(memberId, PORTAL_VAT_KEY, await this.portalVatKeys(memberId));
    } catch (err) {
      // The VAT list only adds rows to the tax table; the rates on documents are matched anyway.
      logger.warn({ err, memberId }, 'the portal VAT list could not be read');
    }
    const retried = release ? (await retryWaitingOnMapping(store, memberId)) : 0;
    // The log tells what changed: a read that found the same lists and released nothing leaves no line.
    if (changed || retried) await store.activity.record({
      memberId, level: 'info', kind: 'xero.org_data',
      message: `Read ${connection.tenantName ?? 'the organisation'}'s settings from Xero: ${data.accounts.length} accounts, ${data.taxRates.length} tax rates, ${data.currencies.length} currencies, ${data.brandingThemes.length} branding themes, ${data.trackingCategories.length} tracking categories.${retried ? ` ${retried} waiting document(s) tried again.` : ''}`,
    });
    return data;
  }

  /** The portal's VAT list (one call; a portal has a handful of rates). */
  private async portalVatKeys(memberId: string): Promise<VatKey[]> {
    const rates = await activeVatRates(await this.deps.portals.for(memberId));
    return [...new Set(rates.map((r) => vatKeyOf(r)))];
  }
}

/** The lists of an organisation's settings as one comparable text (the time read left out). */
function listsOf(d: OrgData): string {
  return JSON.stringify([d.accounts, d.taxRates, d.currencies, d.brandingThemes, d.trackingCategories]);
}
