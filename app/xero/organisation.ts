/**
 * The organisation's settings as the connector's lists need them: accounts, tax rates, currencies, branding themes,
 * tracking categories, the items' sales accounts, and the organisation's ShortCode (for deep links into Xero). Read whole (each list is one call), mapped once here into the
 * project's own plain types, so the cache can be stored as JSON and the core never sees xero-node models.
 */
import type { Account, BrandingTheme, Currency, Item, TaxRate, TrackingCategory, TrackingOption } from 'xero-node';
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

/** Reads the six lists and the organisation (seven calls through the gateway, inside the tenant's limits). */
export async function readOrgData(gateway: XeroGateway, tenantId: string): Promise<OrgData> {
  const [accounts, taxRates, currencies, themes, tracking, items, organisations] = await Promise.all([
    gateway.call('reading the chart of accounts', (s) =>
      // https://developer.xero.com/documentation/api/accounting/accounts
      s.xero.accountingApi.getAccounts(s.tenantId),
    ),
    gateway.call('reading tax rates', (s) =>
      // https://developer.xero.com/documentation/api/accounting/taxrates
      s.xero.accountingApi.getTaxRates(s.tenantId),
    ),
    gateway.call('reading currencies', (s) =>
      // https://developer.xero.com/documentation/api/accounting/currencies
      s.xero.accountingApi.getCurrencies(s.tenantId),
    ),
    gateway.call('reading branding themes', (s) =>
      // https://developer.xero.com/documentation/api/accounting/brandingthemes
      s.xero.accountingApi.getBrandingThemes(s.tenantId),
    ),
    gateway.call('reading tracking categories', (s) =>
      // https://developer.xero.com/documentation/api/accounting/trackingcategories
      s.xero.accountingApi.getTrackingCategories(s.tenantId),
    ),
    gateway.call('reading items', (s) =>
      // https://developer.xero.com/documentation/api/accounting/items
      s.xero.accountingApi.getItems(s.tenantId),
    ),
    gateway.call('reading the organisation', (s) =>
      // https://developer.xero.com/documentation/api/accounting/organisation (ShortCode)
      s.xero.accountingApi.getOrganisations(s.tenantId),
    ),
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
  const answer = await gateway.call('reading the organisation', (s) =>
    // https://developer.xero.com/documentation/api/accounting/organisation
    s.xero.accountingApi.getOrganisations(s.tenantId),
  );
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
