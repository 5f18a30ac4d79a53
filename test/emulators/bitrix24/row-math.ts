/**
 * How Bitrix24 turns product rows into stored unit prices and the document amount (pure, so the totals property test
 * uses the same arithmetic the emulator serves). Sources, all in the public Bitrix24 core code
 * (avshatalov48/bitrix24-core-corp):
 * - `modules/crm/classes/general/crm_sale_helper.php` (`CCrmSaleHelper::PrepareShoppingCartItems`): `PRICE` is the
 *   unit price after discount with tax; `PRICE_EXCLUSIVE` is given or `PRICE / (1 + TAX_RATE/100)`
 *   (`CCrmProductRow::CalculateExclusivePrice`); `DISCOUNT_TYPE_ID` 1 = monetary (`PRICE_NETTO = exclusive +
 *   DISCOUNT_SUM`), 2 = percentage (default; `DISCOUNT_SUM = Discount::calculateDiscountByDiscountPrice(exclusive,
 *   rate)`, i.e. exclusive × rate / (100 − rate)); `PRICE_NETTO` rounded to 2 dp; `PRICE_BRUTTO = round(netto × (1 +
 *   rate/100), 2)`, or `PRICE` when there is no discount; `TAX_RATE`, `DISCOUNT_RATE`, `DISCOUNT_SUM` rounded to 2 dp.
 * - the `b_crm_product_row` columns (as listed in `modules/biconnector/lib/integration/crm/leadproductrow.php`):
 *   `PRICE`, `PRICE_EXCLUSIVE`, `PRICE_NETTO`, `PRICE_BRUTTO`, `DISCOUNT_RATE`, `DISCOUNT_SUM`, `TAX_RATE`
 *   `DECIMAL(18,2)`, `QUANTITY DECIMAL(18,4)`: a unit price entered with 4 decimals is stored with 2.
 * - `modules/crm/classes/general/crm_product_row.php` (`CCrmProductRow::CalculateTotalInfo`): the document amount
 *   is `round(PRICE_SUM, 2)` over the rows (Σ PRICE × QUANTITY, not a sum of rounded row totals), whatever the
 *   currency (its DECIMALS only format the display), and `TAX_VALUE` likewise.
 * PHP computes in doubles and `round()` pre-rounds to 15 significant digits; `phpRound` does the same.
 */

export interface RowInput {
  /** Unit price after discount, with tax (`price`). */
  price?: number;
  /** Unit price after discount, without tax (`priceExclusive`), used when `price` is absent. */
  priceExclusive?: number;
  quantity: number;
  /** Percent, or null for a row without VAT. */
  taxRate: number | null;
  taxIncluded: boolean;
  /** 1 = monetary, 2 = percentage. (Default: 2) */
  discountTypeId?: number;
  discountRate?: number;
  /** Per unit, without tax (monetary discounts). */
  discountSum?: number;
}

export interface StoredRow {
  price: number;
  priceExclusive: number;
  priceNetto: number;
  priceBrutto: number;
  quantity: number;
  discountTypeId: number;
  discountRate: number;
  discountSum: number;
  taxRate: number | null;
  taxIncluded: 'Y' | 'N';
}

/** PHP's round(): half away from zero on the decimal the double stands for. */
export function phpRound(n: number, dp: number): number {
  const text = Math.abs(n).toPrecision(15);
  if (/e/i.test(text)) return Math.round(n * 10 ** dp) / 10 ** dp;
  const r = Number(`${Math.round(Number(`${text}e${dp}`))}e-${dp}`);
  return n < 0 ? -r : r;
}

/** A row as Bitrix24 stores it. */
export function storeRow(r: RowInput): StoredRow {
  const t = (r.taxRate ?? 0) / 100;
  const price = r.price !== undefined ? r.price : (r.priceExclusive ?? 0) * (1 + t);
  const exclusive = r.price === undefined && r.priceExclusive !== undefined ? r.priceExclusive : price / (1 + t);
  const discountTypeId = r.discountTypeId ?? 2;
  const rate = phpRound(r.discountRate ?? 0, 2);
  let discountSum: number;
  if (discountTypeId === 1) discountSum = phpRound(r.discountSum ?? 0, 2);
  else discountSum = rate < 100 ? (exclusive * rate) / (100 - rate) : phpRound(r.discountSum ?? 0, 2);
  const priceNetto = exclusive + discountSum;
  return {
    price: phpRound(price, 2),
    priceExclusive: phpRound(exclusive, 2),
    priceNetto: phpRound(priceNetto, 2),
    priceBrutto: phpRound(discountSum === 0 ? price : priceNetto * (1 + t), 2),
    quantity: phpRound(r.quantity, 4),
    discountTypeId,
    discountRate: discountTypeId === 1 ? (priceNetto ? phpRound((discountSum / priceNetto) * 100, 2) : 0) : rate,
    discountSum: phpRound(discountSum, 2),
    taxRate: r.taxRate === null ? null : phpRound(r.taxRate, 2),
    taxIncluded: r.taxIncluded ? 'Y' : 'N',
  };
}

/** The document amount (`opportunity`) and tax (`taxValue`) of stored rows. */
export function documentAmount(rows: Array<Pick<StoredRow, 'price' | 'priceExclusive' | 'quantity'>>): { opportunity: number; taxValue: number } {
  return {
    opportunity: phpRound(rows.reduce((s, r) => s + r.price * r.quantity, 0), 2),
    taxValue: phpRound(rows.reduce((s, r) => s + (r.price - r.priceExclusive) * r.quantity, 0), 2),
  };
}
