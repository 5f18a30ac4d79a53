/**
 * Exact decimal arithmetic for money (never binary floats): a value is a BigInt of units at a fixed
 * internal scale of 10 decimal places. Rounding is half away from zero, the way Xero rounds line tax and
 * totals (docs/reference/xero.md#rounding: "tax is computed per line, rounded to 2 dp, then summed").
 */
const SCALE = 10;
const FACTOR = 10n ** BigInt(SCALE);

export class Decimal {
  private constructor(private readonly units: bigint) {}

  static readonly ZERO = new Decimal(0n);

  /** Parses "12.5", "-0.015", 12.5, "1e-3"; throws on anything that is not a finite number. */
  static of(value: string | number | bigint | Decimal | null | undefined): Decimal {
    if (value instanceof Decimal) return value;
    if (value === null || value === undefined || value === '') return Decimal.ZERO;
    if (typeof value === 'bigint') return new Decimal(value * FACTOR);
    const text = typeof value === 'number' ? numberToPlain(value) : String(value).trim().replace(',', '.');
    const m = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text);
    if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new RangeError(`"${String(value)}" is not a number`);
    const [, sign, int, frac = ''] = m;
    const digits = (frac + '0'.repeat(SCALE + 1)).slice(0, SCALE + 1);
    let units = BigInt(int || '0') * FACTOR + BigInt(digits.slice(0, SCALE));
    if (Number(digits[SCALE]) >= 5) units += 1n; // beyond internal precision: half away from zero
    return new Decimal(sign === '-' ? -units : units);
  }

  add(o: Decimal | string | number): Decimal {
    return new Decimal(this.units + Decimal.of(o).units);
  }

  sub(o: Decimal | string | number): Decimal {
    return new Decimal(this.units - Decimal.of(o).units);
  }

  mul(o: Decimal | string | number): Decimal {
    return new Decimal(divRound(this.units * Decimal.of(o).units, FACTOR));
  }

  /** Division rounded at the internal scale. */
  div(o: Decimal | string | number): Decimal {
    const d = Decimal.of(o).units;
    if (d === 0n) throw new RangeError('division by zero');
    return new Decimal(divRound(this.units * FACTOR, d));
  }

  /** Rounded to `dp` decimal places, half away from zero. */
  round(dp: number): Decimal {
    const f = 10n ** BigInt(SCALE - dp);
    return new Decimal(divRound(this.units, f) * f);
  }

  neg(): Decimal {
    return new Decimal(-this.units);
  }

  abs(): Decimal {
    return this.units < 0n ? this.neg() : this;
  }

  cmp(o: Decimal | string | number): -1 | 0 | 1 {
    const b = Decimal.of(o).units;
    return this.units < b ? -1 : this.units > b ? 1 : 0;
  }

  eq(o: Decimal | string | number): boolean {
    return this.cmp(o) === 0;
  }

  isZero(): boolean {
    return this.units === 0n;
  }

  isNegative(): boolean {
    return this.units < 0n;
  }

  /** Fixed-point text with exactly `dp` decimals (rounded). */
  toFixed(dp: number): string {
    const r = this.round(dp).units;
    const neg = r < 0n;
    const abs = neg ? -r : r;
    const int = abs / FACTOR;
    const frac = (abs % FACTOR).toString().padStart(SCALE, '0').slice(0, dp);
    return `${neg ? '-' : ''}${int}${dp > 0 ? `.${frac}` : ''}`;
  }

  /** Shortest text without trailing zeros. */
  toString(): string {
    return this.toFixed(SCALE).replace(/\.?0+$/, '') || '0';
  }

  /**
   * A JS number for an SDK field, after rounding to `dp`: a short decimal string converts to the
   * nearest double, which prints back as the same decimal.
   */
  toNumber(dp: number): number {
    return Number(this.toFixed(dp));
  }

  static sum(values: Iterable<Decimal>): Decimal {
    let total = Decimal.ZERO;
    for (const v of values) total = total.add(v);
    return total;
  }
}

/** Integer division rounded half away from zero. */
function divRound(n: bigint, d: bigint): bigint {
  const neg = n < 0n !== d < 0n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  let q = an / ad;
  if ((an % ad) * 2n >= ad) q += 1n;
  return neg ? -q : q;
}

function numberToPlain(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`${n} is not a finite number`);
  const s = String(n);
  if (!/e/i.test(s)) return s;
  return n.toFixed(SCALE + 1);
}
