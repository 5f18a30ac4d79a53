/**
 * The mapping a push uses: the admin's settings with the automatic matches filled in. Tax rates come from
 * `tax-matching`; the default sales account is the admin's choice, or, until one is chosen, the organisation's sales
 * account when it can be told (its only revenue account, or its one revenue account named "Sales", as in Xero's
 * standard charts). Documents whose VAT rate needs a choice are held with the candidates named; VAT rates first seen
 * on a document are matched the same way and listed in the tax table.
 */
import type { Store } from '../../store/index.js';
import type { SalesDocument } from '../../domain/document.js';
import { REVENUE_ACCOUNT_TYPES, type OrgAccount } from '../../xero/organisation.js';
import { amountTypesOf } from '../../xero/invoice-mapper.js';
import { portalSettings } from '../settings.js';
import { taxRateKey, type PortalSettings } from '../../domain/settings.js';
import { matchTaxRate, salesTaxRates, taxTable, vatKeyOf, vatLabel, type TaxMatch, type VatKey } from './tax-matching.js';
import type { CachedOrgData, OrgDataCache } from './org-data.js';

export interface AccountMatch {
  state: 'automatic' | 'chosen' | 'needs_choice';
  code: string | null;
  /** Active revenue accounts (to choose from). */
  candidates: { code: string; name: string }[];
  reason: string | null;
}

export interface SalesMapping {
  /** The settings with the effective tax map and default sales account, for the mapper and the content hash. */
  settings: PortalSettings;
  taxes: TaxMatch[];
  account: AccountMatch;
  org: CachedOrgData;
  /** Why the document waits for a mapping (code and words), or null when it can go; notes its VAT rates as in use. */
  holdOf(doc: SalesDocument): Promise<{ code: string; message: string } | null>;
}

/** Active accounts a sale may be booked to. */
export function revenueAccounts(accounts: readonly OrgAccount[]): OrgAccount[] {
  return accounts.filter((a) => a.status === 'ACTIVE' && REVENUE_ACCOUNT_TYPES.has(a.type));
}

/** Why an account code cannot take sales, or null when it can. */
export function accountProblem(accounts: readonly OrgAccount[], code: string): string | null {
  const a = accounts.find((x) => x.code === code);
  if (!a) return `Xero has no account ${code}.`;
  if (a.status !== 'ACTIVE') return `The Xero account ${code} "${a.name}" is ${a.status.toLowerCase()} in Xero.`;
  if (!REVENUE_ACCOUNT_TYPES.has(a.type)) return `The Xero account ${code} "${a.name}" is not a revenue account (it is ${a.type}).`;
  return null;
}

export function matchSalesAccount(accounts: readonly OrgAccount[], chosen: string | null): AccountMatch {
  const revenue = revenueAccounts(accounts);
  const candidates = revenue.map((a) => ({ code: a.code, name: a.name }));
  if (chosen) {
    const problem = accountProblem(accounts, chosen);
    if (!problem) return { state: 'chosen', code: chosen, candidates, reason: null };
    return { state: 'needs_choice', code: null, candidates, reason: `${problem} Choose another default sales account.` };
  }
  const named = revenue.filter((a) => a.name.trim().toLowerCase() === 'sales');
  const pick = revenue.length === 1 ? revenue[0] : named.length === 1 ? named[0] : undefined;
  if (pick) return { state: 'automatic', code: pick.code, candidates, reason: null };
  return {
    state: 'needs_choice', code: null, candidates,
    reason: revenue.length ? `Choose the default sales account among ${revenue.length} revenue accounts.` : 'The Xero organisation has no active revenue account.',
  };
}

/** The VAT keys of a document's rows. */
export function vatKeysOf(doc: SalesDocument): VatKey[] {
  return [...new Set(doc.lines.map((l) => taxRateKey(l.taxRate)))];
}

/** The mapping for the documents about to be pushed (org data from the cache, read again when older than an hour). */
export async function salesMapping(store: Store, orgData: OrgDataCache, memberId: string, docs: readonly SalesDocument[] = []): Promise<SalesMapping> {
  let org: CachedOrgData;
  try {
    org = await orgData.current(memberId);
  } catch (err) {
    // Xero unreachable for the lists: an older copy still maps; without any, the push retries later.
    const stale = await orgData.cached(memberId);
    if (!stale) throw err;
    org = stale;
  }
  const settings = await portalSettings(store, memberId);
  await orgData.noteVatKeys(memberId, docs.flatMap(vatKeysOf));
  const taxes = taxTable(await orgData.vatKeysInUse(memberId), org.taxRates, settings.taxRateMap);
  const byKey = new Map(taxes.map((t) => [t.key, t]));
  const matchOf = (k: VatKey) => byKey.get(k) ?? matchTaxRate(k, org.taxRates, settings.taxRateMap[k]);
  const account = matchSalesAccount(org.accounts, settings.defaultSalesAccount);
  // The map the mapper reads covers every rate the organisation could match, so a VAT rate first met on a document
  // in this push is matched like the listed ones.
  const possible = [...salesTaxRates(org.taxRates).map((r) => vatKeyOf(r.effectiveRate)), 'none'];
  const taxRateMap = Object.fromEntries(
    [...taxes, ...possible.filter((k) => !byKey.has(k)).map(matchOf)].flatMap((t) => (t.taxType ? [[t.key, t.taxType]] : [])),
  );
  return {
    settings: { ...settings, taxRateMap, defaultSalesAccount: account.code },
    taxes, account, org,
    async holdOf(doc) {
      // A VAT rate first met on this document joins the tax table (and is matched like the others, below).
      await orgData.noteVatKeys(memberId, vatKeysOf(doc));
      if (doc.lines.length === 0 || amountTypesOf(doc.lines) === 'NoTax') return null;
      const waiting = vatKeysOf(doc).map(matchOf).filter((m) => !m.taxType);
      if (!waiting.length) return null;
      const what = `${doc.type === 'quote' ? 'Quote' : 'Invoice'} ${doc.number || doc.id}`;
      return {
        code: 'SYNC.UNKNOWN_TAX_RATE',
        message: `${what} uses the VAT rate ${waiting.map((m) => vatLabel(m.key)).join(', ')}, which needs a Xero tax rate: ${waiting.map((m) => m.reason).join(' ')} Choose it in the connector settings (Tax rates); the invoice then goes on its own.`,
      };
    },
  };
}
