/**
 * The organisation's settings as the connector's lists need them: accounts, tax rates, currencies, branding themes,
 * tracking categories, the items' sales accounts, and the organisation's ShortCode (for deep links into Xero). Read whole (each list is one call), mapped once here into the
 * project's own plain types, so the cache can be stored as JSON and the core never sees xero-node models.
 */
import type { Account, BrandingTheme, Currency, Item, TaxRate, TrackingCategory, TrackingOption } from 'xero-node';
import type { XeroSession } from './connections.js';
import type { XeroGateway } from './gateway.js';

export interface OrgAccount {
  code: string;
  name: string;
  /** Xero account type, e.g. REVENUE, SALES, OTHERINCOME, BANK. */
  type: string;
  /** ACTIVE or ARCHIVED. */
  status: string;
  /** The account's default tax type. */
  taxType: string | null;
}

export interface OrgTaxRate {
  name: string;
  taxType: string;
  reportTaxType: string | null;
  /** Percent, e.g. 15. */
  effectiveRate: number;
  /** ACTIVE, DELETED, ARCHIVED or PENDING. */
  status: string;
  canApplyToRevenue: boolean;
}

export interface OrgBrandingTheme {
  id: string;
  name: string;
  sortOrder: number;
}

export interface OrgTrackingCategory {
  id: string;
  name: string;
  status: string;
  options: { id: string; name: string; status: string }[];
}

export interface OrgItem {
  id: string;
  code: string;
  name: string;
  salesAccountCode: string | null;
}

export interface OrgData {
  accounts: OrgAccount[];
  taxRates: OrgTaxRate[];
  currencies: string[];
  brandingThemes: OrgBrandingTheme[];
  trackingCategories: OrgTrackingCategory[];
  items: OrgItem[];
  /** The organisation's ShortCode (e.g. "!NLglS"), which Xero's deep links name; null when Xero gave none. */
  shortCode: string | null;
}

/** Account types that hold sales (Xero's REVENUE class). */
export const REVENUE_ACCOUNT_TYPES = new Set(['REVENUE', 'SALES', 'OTHERINCOME']);

/** A read of the tenant's accounting API, as the gateway calls it with the connection's session. */
function inTenant<R>(read: (api: XeroSession['xero']['accountingApi'], tenantId: string) => R): (s: XeroSession) => R {
  return (s) => read(s.xero.accountingApi, s.tenantId);
}

/** Reads the six lists and the organisation (seven calls through the gateway, inside the tenant's limits). */
export async function readOrgData(gateway: XeroGateway, tenantId: string): Promise<OrgData> {
  const [accounts, taxRates, currencies, themes, tracking, items, organisations] = await Promise.all([
    // https://developer.xero.com/documentation/api/accounting/accounts
    gateway.call('reading the chart of accounts', inTenant((api, tenantId) => api.getAccounts(tenantId))),
    // https://developer.xero.com/documentation/api/accounting/taxrates
    gateway.call('reading tax rates', inTenant((api, tenantId) => api.getTaxRates(tenantId))),
    // https://developer.xero.com/documentation/api/accounting/currencies
    gateway.call('reading currencies', inTenant((api, tenantId) => api.getCurrencies(tenantId))),
    // https://developer.xero.com/documentation/api/accounting/brandingthemes
    gateway.call('reading branding themes', inTenant((api, tenantId) => api.getBrandingThemes(tenantId))),
    // https://developer.xero.com/documentation/api/accounting/trackingcategories
    gateway.call('reading tracking categories', inTenant((api, tenantId) => api.getTrackingCategories(tenantId))),
    // https://developer.xero.com/documentation/api/accounting/items
    gateway.call('reading items', inTenant((api, tenantId) => api.getItems(tenantId))),
    // https://developer.xero.com/documentation/api/accounting/organisation (ShortCode)
    gateway.call('reading the organisation', inTenant((api, tenantId) => api.getOrganisations(tenantId))),
  ]);
  return {
    accounts: (accounts.accounts ?? []).map(toAccount).filter((a) => a.code !== ''),
    taxRates: (taxRates.taxRates ?? []).map(toTaxRate),
    currencies: (currencies.currencies ?? []).map((c: Currency) => String(c.code)),
    brandingThemes: (themes.brandingThemes ?? []).map(toTheme).sort((a, b) => a.sortOrder - b.sortOrder),
    trackingCategories: (tracking.trackingCategories ?? []).map(toTracking),
    items: (items.items ?? []).map(toItem),
    shortCode: organisations.organisations?.[0]?.shortCode || null,
  };
}

/** The organisation's base currency (e.g. "NZD"); USD when Xero names none. */
export async function baseCurrency(gateway: XeroGateway): Promise<string> {
  // https://developer.xero.com/documentation/api/accounting/organisation
  const answer = await gateway.call('reading the organisation', inTenant((api, tenantId) => api.getOrganisations(tenantId)));
  return String(answer.organisations?.[0]?.baseCurrency ?? 'USD');
}

const text = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

function toAccount(a: Account): OrgAccount {
  return { code: text(a.code), name: text(a.name), type: text(a.type), status: text(a.status) || 'ACTIVE', taxType: a.taxType ? String(a.taxType) : null };
}

function toTaxRate(r: TaxRate): OrgTaxRate {
  return {
    name: text(r.name), taxType: text(r.taxType), reportTaxType: r.reportTaxType ? String(r.reportTaxType) : null,
    effectiveRate: Number(r.effectiveRate ?? r.displayTaxRate ?? 0), status: text(r.status) || 'ACTIVE', canApplyToRevenue: r.canApplyToRevenue === true,
  };
}

function toTheme(t: BrandingTheme): OrgBrandingTheme {
  return { id: text(t.brandingThemeID), name: text(t.name), sortOrder: Number(t.sortOrder ?? 0) };
}

function toTracking(c: TrackingCategory): OrgTrackingCategory {
  return {
    id: text(c.trackingCategoryID), name: text(c.name), status: text(c.status) || 'ACTIVE',
    options: (c.options ?? []).map((o: TrackingOption) => ({ id: text(o.trackingOptionID), name: text(o.name), status: text(o.status) || 'ACTIVE' })),
  };
}

function toItem(i: Item): OrgItem {
  return { id: text(i.itemID).toLowerCase(), code: text(i.code), name: text(i.name), salesAccountCode: i.salesDetails?.accountCode ? String(i.salesDetails.accountCode) : null };
}
