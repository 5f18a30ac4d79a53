// In-memory state of the emulated Xero: organisations (tenants) and their records, stored in Xero's JSON shape.
import { newId, msDate, type XeroObject } from './xero-json.js';

export interface HistoryRecord { Changes: string; DateUTCString: string; DateUTC: string; User: string; Details: string }

export interface Tenant {
  tenantId: string;
  connectionCreatedMs: number;
  organisation: XeroObject;
  accounts: XeroObject[];
  taxRates: XeroObject[];
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

// Source: xero-api.md §6 (NZ/UK TaxType codes OUTPUT2/INPUT2, NONE, EXEMPTOUTPUT, ...); New Zealand GST is 15%
// (Xero NZ demo company tax rates: "15% GST on Income" OUTPUT2, "15% GST on Expenses" INPUT2, "Zero Rated" ZERORATED,
// "No GST" NONE, "GST on Imports" GSTONIMPORTS). Shapes: xero_accounting.yaml components/schemas/TaxRate.
function nzTaxRates(): XeroObject[] {
  const rate = (Name: string, TaxType: string, EffectiveRate: number, opts: { rev?: boolean; exp?: boolean }) => ({
    Name, TaxType, ReportTaxType: TaxType.startsWith('OUTPUT') ? 'OUTPUT' : TaxType.startsWith('INPUT') ? 'INPUT' : 'NONE',
    CanApplyToAssets: true, CanApplyToEquity: true, CanApplyToExpenses: opts.exp ?? true, CanApplyToLiabilities: true,
    CanApplyToRevenue: opts.rev ?? true, DisplayTaxRate: EffectiveRate, EffectiveRate, Status: 'ACTIVE',
    TaxComponents: [{ Name: 'GST', Rate: EffectiveRate, IsCompound: false, IsNonRecoverable: false }],
  });
  return [
    rate('15% GST on Expenses', 'INPUT2', 15, { rev: false }),
    rate('15% GST on Income', 'OUTPUT2', 15, { exp: false }),
    rate('GST on Imports', 'GSTONIMPORTS', 0, { rev: false }),
    rate('No GST', 'NONE', 0, {}),
    rate('Zero Rated', 'ZERORATED', 0, {}),
  ];
}

// Source: Xero demo company (NZ) default chart of accounts; shape xero_accounting.yaml components/schemas/Account.
function nzAccounts(): XeroObject[] {
  const acc = (Code: string, Name: string, Type: string, TaxType: string, extra: XeroObject = {}) => ({
    AccountID: newId(), Code, Name, Type, TaxType, Status: 'ACTIVE', Class: classOf(Type),
    EnablePaymentsToAccount: false, ShowInExpenseClaims: false, ReportingCode: '', HasAttachments: false,
    UpdatedDateUTC: msDate(Date.now()), AddToWatchlist: false, ...extra,
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

export function createTenant(input: OrganisationInput): Tenant {
  const tenantId = (input.tenantId ?? newId()).toLowerCase();
  const base = input.baseCurrency ?? 'NZD';
  const now = Date.now();
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
    tenantId, connectionCreatedMs: now, organisation, accounts: nzAccounts(), taxRates: nzTaxRates(),
    currencies: [base, ...(input.currencies ?? ['AUD', 'USD']).filter((c) => c !== base)],
    contacts: new Map(), items: new Map(), invoices: new Map(), quotes: new Map(), payments: new Map(),
    creditNotes: new Map(), history: new Map(), seq: { invoice: 0, quote: 0, creditNote: 0 },
  };
}

export function addHistory(t: Tenant, id: string, changes: string, details: string, user = 'System Generated'): void {
  const now = Date.now();
  const list = t.history.get(id) ?? [];
  list.push({ Changes: changes, DateUTCString: new Date(now).toISOString().slice(0, 19), DateUTC: msDate(now), User: user, Details: details });
  t.history.set(id, list);
}
