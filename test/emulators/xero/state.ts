// In-memory state of the emulated Xero: organisations (tenants) and their records, stored in Xero's JSON shape.
import { newId, msDate, type XeroObject } from './xero-json.js';

export interface HistoryRecord { Changes: string; DateUTCString: string; DateUTC: string; User: string; Details: string }

export interface Tenant {
  tenantId: string;
  /** The organisation's clock, epoch ms (XeroEmulatorOptions.clock). */
  now: () => number;
  connectionCreatedMs: number;
  organisation: XeroObject;
  accounts: XeroObject[];
  taxRates: XeroObject[];
  brandingThemes: XeroObject[];
  trackingCategories: XeroObject[];
  currencies: string[];
  contacts: Map<string, XeroObject>;
  items: Map<string, XeroObject>;
  invoices: Map<string, XeroObject>;
  quotes: Map<string, XeroObject>;
  payments: Map<string, XeroObject>;
  creditNotes: Map<string, XeroObject>;
  history: Map<string, HistoryRecord[]>;
  seq: { invoice: number; quote: number; creditNote: number };
}

export interface OrganisationInput {
  name: string;
  /** ISO country; the emulator seeds the New Zealand chart of accounts and GST rates for every org. (Default: 'NZ') */
  countryCode?: string;
  /** (Default: 'NZD') */
  baseCurrency?: string;
  /** Extra currencies enabled for the org besides the base one. (Default: ['AUD', 'USD']) */
  currencies?: string[];
  /** Fixed tenant id, e.g. for reproducible demos. (Default: random UUID) */
  tenantId?: string;
  shortCode?: string;
}

// Source: xero_accounting.yaml, the example answer of GET /TaxRates (the NZ rates, copied flag by flag: INPUT2 not on
// revenue, OUTPUT2 not on expenses, GSTONIMPORTS only on liabilities, ZERORATED on revenue and liabilities, NONE on
// everything); Xero's tax-rates docs (https://developer.xero.com/documentation/api/accounting/taxrates) for the meaning
// of CanApplyToRevenue and Status. Shapes: components/schemas/TaxRate.
export function nzTaxRates(): XeroObject[] {
  const rate = (Name: string, TaxType: string, ReportTaxType: string, EffectiveRate: number, on: string) => ({
    Name, TaxType, ReportTaxType,
    CanApplyToAssets: on.includes('A'), CanApplyToEquity: on.includes('Q'), CanApplyToExpenses: on.includes('E'),
    CanApplyToLiabilities: on.includes('L'), CanApplyToRevenue: on.includes('R'),
    DisplayTaxRate: EffectiveRate, EffectiveRate, Status: 'ACTIVE',
    TaxComponents: [{ Name: 'GST', Rate: EffectiveRate, IsCompound: false, IsNonRecoverable: false }],
  });
  return [
    rate('15% GST on Expenses', 'INPUT2', 'INPUT', 15, 'AQEL'),
    rate('15% GST on Income', 'OUTPUT2', 'OUTPUT', 15, 'AQLR'),
    rate('GST on Imports', 'GSTONIMPORTS', 'GSTONIMPORTS', 0, 'L'),
    rate('No GST', 'NONE', 'NONE', 0, 'AQELR'),
    rate('Zero Rated', 'ZERORATED', 'OUTPUT', 0, 'LR'),
  ];
}

// Source: xero_accounting.yaml GET /BrandingThemes example ("Standard", SortOrder 0) and components/schemas/BrandingTheme
// (Type INVOICE); the NZ demo company also has "Special Projects" and "Very orange invoice!" (Xero demo company).
function demoBrandingThemes(now: number): XeroObject[] {
  return ['Standard', 'Special Projects', 'Very orange invoice!'].map((Name, SortOrder) => ({
    BrandingThemeID: newId(), Name, Type: 'INVOICE', SortOrder, CreatedDateUTC: msDate(now),
  }));
}

// Source: xero_accounting.yaml components/schemas/TrackingCategory and TrackingOption (Status ACTIVE|ARCHIVED|DELETED);
// https://developer.xero.com/documentation/api/accounting/trackingcategories (at most 2 active categories, archived
// ones only with includeArchived=true). The NZ demo company's category "Region" with its options.
function demoTrackingCategories(): XeroObject[] {
  return [{
    TrackingCategoryID: newId(), Name: 'Region', Status: 'ACTIVE',
    Options: ['Eastside', 'North', 'South', 'West Coast'].map((Name) => ({ TrackingOptionID: newId(), Name, Status: 'ACTIVE', HasValidationErrors: false, IsDeleted: false, IsArchived: false, IsActive: true })),
  }];
}

// Source: Xero demo company (NZ) default chart of accounts; shape xero_accounting.yaml components/schemas/Account.
function nzAccounts(now: number): XeroObject[] {
  const acc = (Code: string, Name: string, Type: string, TaxType: string, extra: XeroObject = {}) => ({
    AccountID: newId(), Code, Name, Type, TaxType, Status: 'ACTIVE', Class: classOf(Type),
    EnablePaymentsToAccount: false, ShowInExpenseClaims: false, ReportingCode: '', HasAttachments: false,
    UpdatedDateUTC: msDate(now), AddToWatchlist: false, ...extra,
  });
  return [
    acc('090', 'Business Bank Account', 'BANK', 'NONE', { BankAccountNumber: '0102030405060708', BankAccountType: 'BANK', CurrencyCode: 'NZD' }),
    acc('200', 'Sales', 'REVENUE', 'OUTPUT2'),
    acc('260', 'Other Revenue', 'REVENUE', 'OUTPUT2'),
    acc('270', 'Interest Income', 'REVENUE', 'NONE'),
    acc('310', 'Cost of Goods Sold', 'DIRECTCOSTS', 'INPUT2'),
    acc('400', 'Advertising', 'EXPENSE', 'INPUT2'),
    acc('429', 'General Expenses', 'EXPENSE', 'INPUT2'),
    acc('610', 'Accounts Receivable', 'CURRENT', 'NONE', { SystemAccount: 'DEBTORS' }),
    acc('620', 'Prepayments', 'CURRENT', 'NONE', { EnablePaymentsToAccount: true }),
    acc('800', 'Accounts Payable', 'CURRLIAB', 'NONE', { SystemAccount: 'CREDITORS' }),
    acc('820', 'GST', 'CURRLIAB', 'NONE', { SystemAccount: 'GST' }),
    acc('860', 'Rounding', 'CURRLIAB', 'NONE', { SystemAccount: 'ROUNDING' }),
    acc('970', 'Owner A Funds Introduced', 'EQUITY', 'NONE', { EnablePaymentsToAccount: true }),
  ];
}

function classOf(type: string): string {
  if (['BANK', 'CURRENT', 'FIXED', 'INVENTORY', 'NONCURRENT', 'PREPAYMENT'].includes(type)) return 'ASSET';
  if (['CURRLIAB', 'LIABILITY', 'TERMLIAB'].includes(type)) return 'LIABILITY';
  if (type === 'EQUITY') return 'EQUITY';
  if (['REVENUE', 'SALES', 'OTHERINCOME'].includes(type)) return 'REVENUE';
  return 'EXPENSE';
}

export function createTenant(input: OrganisationInput, clock: () => number = Date.now): Tenant {
  const tenantId = (input.tenantId ?? newId()).toLowerCase();
  const base = input.baseCurrency ?? 'NZD';
  const now = clock();
  // Source: xero_accounting.yaml components/schemas/Organisation.
  const organisation = {
    OrganisationID: tenantId, APIKey: '', Name: input.name, LegalName: input.name, PaysTax: true, Version: input.countryCode ?? 'NZ',
    OrganisationType: 'COMPANY', BaseCurrency: base, CountryCode: input.countryCode ?? 'NZ', IsDemoCompany: false,
    OrganisationStatus: 'ACTIVE', FinancialYearEndDay: 31, FinancialYearEndMonth: 3, SalesTaxBasis: 'PAYMENTS',
    SalesTaxPeriod: 'TWOMONTHS', DefaultSalesTax: 'Tax Exclusive', DefaultPurchasesTax: 'Tax Exclusive',
    CreatedDateUTC: msDate(now), OrganisationEntityType: 'COMPANY', Timezone: 'NEWZEALANDSTANDARDTIME',
    ShortCode: input.shortCode ?? `!${tenantId.slice(0, 5)}`, Edition: 'BUSINESS', Class: 'STANDARD',
    Addresses: [], Phones: [], ExternalLinks: [], PaymentTerms: {},
  };
  return {
    tenantId, now: clock, connectionCreatedMs: now, organisation, accounts: nzAccounts(now), taxRates: nzTaxRates(),
    brandingThemes: demoBrandingThemes(now), trackingCategories: demoTrackingCategories(),
    currencies: [base, ...(input.currencies ?? ['AUD', 'USD']).filter((c) => c !== base)],
    contacts: new Map(), items: new Map(), invoices: new Map(), quotes: new Map(), payments: new Map(),
    creditNotes: new Map(), history: new Map(), seq: { invoice: 0, quote: 0, creditNote: 0 },
  };
}

export function addHistory(t: Tenant, id: string, changes: string, details: string, user = 'System Generated'): void {
  const now = t.now();
  const list = t.history.get(id) ?? [];
  list.push({ Changes: changes, DateUTCString: new Date(now).toISOString().slice(0, 19), DateUTC: msDate(now), User: user, Details: details });
  t.history.set(id, list);
}
