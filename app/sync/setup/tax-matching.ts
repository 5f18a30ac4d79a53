/**
 * Tax rates matched automatically: each Bitrix24 VAT rate in use → the Xero tax rate an invoice line takes.
 *
 * A rate such as 15 % is matched to the organisation's one active tax rate that can apply to revenue with the same
 * effective rate. Rows without VAT ("none") take the organisation's no-tax rate (TaxType NONE, or BASEXCLUDED in
 * Australia). A 0 % rate is matched among the 0 % rates other than the no-tax one (zero-rated supplies are not
 * "no tax"), and falls back to the no-tax rate only when there is no other. Several candidates, or none, need an
 * admin's choice, and the candidates are named. A choice (the admin's `taxRateMap`) wins over the automatic match,
 * and a choice Xero no longer knows (deleted, archived, not for sales) is reported and not used.
 *
 * Source for the fields: https://developer.xero.com/documentation/api/accounting/taxrates (Status, EffectiveRate,
 * CanApplyToRevenue, ReportTaxType).
 */
import type { OrgTaxRate } from '../../xero/organisation.js';

/** A Bitrix24 VAT rate as a key: "15", "7.5", "0", or "none" for rows without VAT. */
export type VatKey = string;

export interface TaxCandidate {
  taxType: string;
  name: string;
}

export interface TaxMatch {
  key: VatKey;
  /** "15 %", "no VAT". */
  label: string;
  /** automatic: matched by rate; chosen: the admin's choice; needs_choice: no usable rate yet. */
  state: 'automatic' | 'chosen' | 'needs_choice';
  /** The Xero TaxType invoices use for this rate, or null while it needs a choice. */
  taxType: string | null;
  /** The Xero tax rates that fit (to choose from, or to show why the choice is needed). */
  candidates: TaxCandidate[];
  /** Why it needs a choice, in words an admin acts on. */
  reason: string | null;
}

const NO_TAX_TYPES = new Set(['NONE', 'BASEXCLUDED']);

/** "15" → "15 %", "none" → "no VAT". */
export function vatLabel(key: VatKey): string {
  return key === 'none' ? 'no VAT' : `${key} %`;
}

/** Normalises a Bitrix24 rate (number, "15.00", 0.15 fractions are not used here) into its key. */
export function vatKeyOf(rate: number | string | null | undefined): VatKey {
  if (rate === null || rate === undefined || rate === '') return 'none';
  const n = Number(rate);
  return Number.isFinite(n) ? String(n) : 'none';
}

/** Tax rates an invoice line may carry: active and applicable to revenue. */
export function salesTaxRates(rates: readonly OrgTaxRate[]): OrgTaxRate[] {
  return rates.filter((r) => r.status === 'ACTIVE' && r.canApplyToRevenue);
}

/** Why a tax type cannot be used on a sales invoice, or null when it can. */
export function taxTypeProblem(rates: readonly OrgTaxRate[], taxType: string): string | null {
  const r = rates.find((x) => x.taxType === taxType);
  if (!r) return `Xero has no tax rate ${taxType}.`;
  if (r.status !== 'ACTIVE') return `The Xero tax rate "${r.name}" (${taxType}) is ${r.status.toLowerCase()} in Xero.`;
  if (!r.canApplyToRevenue) return `The Xero tax rate "${r.name}" (${taxType}) cannot be used on sales.`;
  return null;
}

/** The candidates for one Bitrix24 rate, before any choice. */
export function candidatesFor(key: VatKey, rates: readonly OrgTaxRate[]): OrgTaxRate[] {
  const usable = salesTaxRates(rates);
  const noTax = usable.filter((r) => NO_TAX_TYPES.has(r.taxType) || r.reportTaxType === 'NONE' || r.reportTaxType === 'BASEXCLUDED');
  if (key === 'none') return noTax.filter((r) => r.effectiveRate === 0);
  const rate = Number(key);
  const same = usable.filter((r) => Math.abs(r.effectiveRate - rate) < 0.00005);
  if (rate !== 0) return same;
  const zeroRated = same.filter((r) => !noTax.includes(r));
  return zeroRated.length ? zeroRated : same;
}

/** Matches one Bitrix24 VAT rate, taking the admin's choice into account. */
export function matchTaxRate(key: VatKey, rates: readonly OrgTaxRate[], chosen: string | undefined): TaxMatch {
  const candidates = candidatesFor(key, rates).map((r) => ({ taxType: r.taxType, name: r.name }));
  const label = vatLabel(key);
  if (chosen) {
    const problem = taxTypeProblem(rates, chosen);
    if (!problem) return { key, label, state: 'chosen', taxType: chosen, candidates, reason: null };
    return { key, label, state: 'needs_choice', taxType: null, candidates, reason: `${problem} Choose another Xero tax rate for ${label}.` };
  }
  if (candidates.length === 1) return { key, label, state: 'automatic', taxType: candidates[0].taxType, candidates, reason: null };
  const reason = candidates.length === 0
    ? `The Xero organisation has no active sales tax rate of ${key === 'none' ? '0 % for rows without VAT' : label}. Choose one, or add it in Xero (Settings → Tax rates) and refresh.`
    : `${candidates.length} Xero tax rates of ${key === 'none' ? '0 %' : label} fit: ${candidates.map((c) => `"${c.name}" (${c.taxType})`).join(' and ')}. Choose one.`;
  return { key, label, state: 'needs_choice', taxType: null, candidates, reason };
}

/** The tax table: every Bitrix24 rate in use, sorted (no VAT first, then by rate). */
export function taxTable(keys: Iterable<VatKey>, rates: readonly OrgTaxRate[], chosen: Record<string, string>): TaxMatch[] {
  const all = [...new Set([...keys, ...Object.keys(chosen)])];
  all.sort((a, b) => (a === 'none' ? -1 : b === 'none' ? 1 : Number(a) - Number(b)));
  return all.map((k) => matchTaxRate(k, rates, chosen[k]));
}
