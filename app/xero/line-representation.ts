/**
 * Per document, the Xero lines that reproduce the Bitrix24 amount to the cent, by construction.
 *
 * Bitrix24's amount is round2(Σ price × quantity) over its rows (price: the 2-dp unit price after discount with tax;
 * quantity: 4 dp), not a sum of rounded rows. Xero computes each line as round2(quantity × unit × (100 − rate)/100)
 * (or − DiscountAmount), tax per line rounded to 2 dp unless the line carries its own TaxAmount, and sums
 * (test/emulators/xero/README.md cites both). So:
 * 1. each row gets a target gross amount: its rounded row total, with the few cents the document's single rounding
 *    differs by handed out one cent at a time to the largest rows;
 * 2. the line amount type: NoTax without VAT, Inclusive when every taxed row includes it, else Exclusive;
 * 3. each line reaches its target: as entered (unit price and discount) when Xero's arithmetic lands on it, else
 *    with a unit amount (4 dp for invoices, 2 dp for quotes) that does, keeping the discount where possible; in an
 *    Exclusive document a taxed line's net is its gross ÷ (1 + rate) and its TaxAmount the rest, sent only when
 *    Xero's own rounding would differ;
 * 4. whatever no line can carry (a large quantity whose unit steps skip the cent, a quote's 2-dp unit amounts)
 *    goes on one rounding line to the organisation's rounding account.
 * A document whose amount was typed by hand (far from its rows) is sent as its rows; the after-push comparison
 * flags it.
 */
import { Decimal } from '../domain/money.js';
import type { DocumentLine } from '../domain/document.js';

export type AmountTypes = 'Exclusive' | 'Inclusive' | 'NoTax';

/** One Xero line: what to send and what Xero will compute for it. */
export interface LineSpec {
  /** Index of the Bitrix24 row, or null for the rounding line. */
  row: number | null;
  quantity: Decimal;
  unitAmount: Decimal;
  discountRate?: Decimal;
  discountAmount?: Decimal;
  /** Sent only when Xero's computed tax would differ from the one needed. */
  taxAmount?: Decimal;
  lineAmount: Decimal;
  tax: Decimal;
}

export interface Representation {
  amountTypes: AmountTypes;
  lines: LineSpec[];
  /** The rounding line's amount, when one is needed (it is also the last of `lines` when an account is known). */
  rounding: Decimal | null;
  /** What Xero's total will be. */
  total: Decimal;
}

export interface RepresentationOptions {
  /** Decimals Xero keeps on unit amounts: 4 with `unitdp=4` (invoices), 2 otherwise (quotes). */
  unitDp: 2 | 4;
  /** Account of the rounding line; without one, a needed rounding line is left out (the total then differs). */
  roundingAccount?: string | null;
}

const HUNDRED = Decimal.of(100);
const CENT = Decimal.of('0.01');
/** Farther than this from its rows, a document amount was typed by hand and is not forced onto the lines. */
const PLAUSIBLE_PER_ROW = Decimal.of('0.005');

/** Which line amount type a document needs. */
export function amountTypesOf(lines: DocumentLine[]): AmountTypes {
  const taxed = lines.filter((l) => l.taxRate !== null);
  if (taxed.length === 0) return 'NoTax';
  return taxed.every((l) => l.taxIncluded) ? 'Inclusive' : 'Exclusive';
}

/** The Xero lines for `rows` whose total is `amount` (the Bitrix24 document amount). */
export function chooseRepresentation(rows: DocumentLine[], amount: Decimal, opts: RepresentationOptions): Representation {
  const amountTypes = amountTypesOf(rows);
  const targets = grossTargets(rows, amount);
  const lines = rows.map((l, i) => lineFor(l, i, targets[i], amountTypes, opts.unitDp));
  let total = totalOf(lines, amountTypes);
  let rounding: Decimal | null = null;
  const wanted = Decimal.sum(targets);
  if (!total.eq(wanted)) {
    rounding = wanted.sub(total);
    // An Exclusive document can still carry it on a taxed line's tax, within a cent of Xero's own figure.
    const taxed = amountTypes === 'Exclusive' ? lines.find((s) => s.row !== null && rateOf(rows[s.row]).cmp(0) !== 0) : undefined;
    if (taxed && rounding.abs().cmp(CENT) <= 0) {
      const tax = taxed.tax.add(rounding);
      taxed.tax = tax;
      taxed.taxAmount = tax.eq(xeroTax(taxed.lineAmount, amountTypes, rateOf(rows[taxed.row!]))) ? undefined : tax;
      rounding = null;
    } else if (opts.roundingAccount) {
      lines.push({ row: null, quantity: Decimal.of(1), unitAmount: rounding, lineAmount: rounding, tax: Decimal.ZERO });
    }
    total = totalOf(lines, amountTypes);
  }
  return { amountTypes, lines, rounding, total };
}

/** Row targets summing to the document amount (when it is plausibly the rows' own sum). */
function grossTargets(rows: DocumentLine[], amount: Decimal): Decimal[] {
  const targets = rows.map((l) => l.total);
  let residual = amount.sub(Decimal.sum(targets));
  if (residual.isZero() || residual.abs().cmp(PLAUSIBLE_PER_ROW.mul(rows.length).add(CENT)) > 0) return targets;
  const step = residual.isNegative() ? CENT.neg() : CENT;
  const order = rows.map((_, i) => i).sort((a, b) => targets[b].abs().cmp(targets[a].abs()));
  for (let k = 0; !residual.isZero() && k < 10 * rows.length; k++) {
    const i = order[k % order.length];
    targets[i] = targets[i].add(step);
    residual = residual.sub(step);
  }
  return targets;
}

function rateOf(l: DocumentLine): Decimal {
  return l.taxRate ?? Decimal.ZERO;
}

/** Xero's tax for a line amount (docs/reference/xero.md#rounding). */
export function xeroTax(lineAmount: Decimal, amountTypes: AmountTypes, rate: Decimal): Decimal {
  if (amountTypes === 'NoTax' || rate.isZero()) return Decimal.ZERO;
  if (amountTypes === 'Inclusive') return lineAmount.mul(rate).div(HUNDRED.add(rate)).round(2);
  return lineAmount.mul(rate).div(HUNDRED).round(2);
}

/** Xero's line amount (developer.xero.com/documentation/api/accounting/invoices, LineItems). */
export function xeroLineAmount(quantity: Decimal, unit: Decimal, discountRate?: Decimal, discountAmount?: Decimal): Decimal {
  let amount = quantity.mul(unit);
  if (discountRate) amount = amount.mul(HUNDRED.sub(discountRate)).div(HUNDRED);
  if (discountAmount) amount = amount.sub(discountAmount);
  return amount.round(2);
}

function totalOf(lines: LineSpec[], amountTypes: AmountTypes): Decimal {
  const amounts = Decimal.sum(lines.map((l) => l.lineAmount));
  return amountTypes === 'Exclusive' ? amounts.add(Decimal.sum(lines.map((l) => l.tax))) : amounts;
}

function lineFor(l: DocumentLine, row: number, gross: Decimal, amountTypes: AmountTypes, unitDp: 2 | 4): LineSpec {
  const rate = rateOf(l);
  // The line amount Xero must show: the gross, or in an Exclusive document the net of a taxed row.
  const exclusiveTaxed = amountTypes === 'Exclusive' && !rate.isZero();
  const target = exclusiveTaxed ? gross.mul(HUNDRED).div(HUNDRED.add(rate)).round(2) : gross;
  // The unit price as entered is gross in Inclusive/NoTax documents; an Exclusive document needs the net one.
  const entered = exclusiveTaxed && l.taxIncluded ? l.unitPrice.mul(HUNDRED).div(HUNDRED.add(rate)) : l.unitPrice;
  const spec = reach(l, row, entered, target, unitDp);
  const needed = exclusiveTaxed ? gross.sub(spec.lineAmount) : xeroTax(spec.lineAmount, amountTypes, rate);
  const computed = xeroTax(spec.lineAmount, amountTypes, rate);
  return { ...spec, tax: needed, taxAmount: needed.eq(computed) ? undefined : needed };
}

/** A line whose Xero line amount is `target`, as close to the entered price and discount as Xero's arithmetic allows. */
function reach(l: DocumentLine, row: number, entered: Decimal, target: Decimal, unitDp: 2 | 4): Omit<LineSpec, 'tax'> {
  const quantity = l.quantity.isZero() ? Decimal.of(1) : l.quantity;
  const discountRate = l.discount?.kind === 'percent' && !l.discount.rate.isZero() ? l.discount.rate : undefined;
  const discountAmount = l.discount?.kind === 'amount' && !l.discount.perUnit.isZero() ? l.discount.perUnit.mul(quantity).round(2) : undefined;
  const attempts: Array<{ discountRate?: Decimal; discountAmount?: Decimal }> = [{ discountRate, discountAmount }];
  if (discountRate || discountAmount) attempts.push({});
  let best: Omit<LineSpec, 'tax'> | undefined;
  const step = Decimal.of(unitDp === 4 ? '0.0001' : '0.01');
  const half = Decimal.of('0.005');
  for (const d of attempts) {
    const factor = d.discountRate ? HUNDRED.sub(d.discountRate).div(HUNDRED) : Decimal.of(1);
    if (factor.isZero()) continue;
    // Xero's round2 lands on the target for line values in [target − 0.005, target + 0.005): the smallest unit amount
    // at Xero's precision inside that range, its neighbour, and the nearest one when the range holds none.
    const per = quantity.mul(factor);
    const offset = d.discountAmount ?? Decimal.ZERO;
    const low = target.add(offset).sub(half).div(per);
    const centre = target.add(offset).div(per).round(unitDp);
    let lowest = low.round(unitDp);
    if (lowest.cmp(low) < 0) lowest = lowest.add(step);
    const units = [lowest, lowest.add(step), lowest.sub(step), centre];
    if (d === attempts[0]) units.unshift(entered.round(unitDp));
    for (const unit of units) {
      const lineAmount = xeroLineAmount(quantity, unit, d.discountRate, d.discountAmount);
      const candidate = { row, quantity, unitAmount: unit, ...d, lineAmount };
      if (lineAmount.eq(target)) return candidate;
      if (!best || lineAmount.sub(target).abs().cmp(best.lineAmount.sub(target).abs()) < 0) best = candidate;
    }
  }
  return best!;
}
