// Random Bitrix24 documents for the totals property tests: rows entered the way a salesperson does in the product
// grid, stored and summed with the Bitrix24 emulator's own arithmetic, read with the connector's row reader.
import { Decimal } from '../../app/domain/money.js';
import { fromRow } from '../../app/bitrix/documents.js';
import type { SalesDocument } from '../../app/domain/document.js';
import { documentAmount, storeRow, type RowInput } from '../emulators/bitrix24/row-math.js';

export const CURRENCIES = ['NZD', 'AUD', 'USD', 'EUR', 'GBP', 'JPY'];

/** A number with up to `dp` decimals in [0, max). */
function decimalIn(rnd: () => number, max: number, dp: number): number {
  const places = Math.floor(rnd() * (dp + 1));
  return Number((rnd() * max).toFixed(places));
}

/** One row as typed: a unit price with 0–4 decimals before discount, tax included/excluded/none, a discount. */
export function randomRow(rnd: () => number, rates: number[]): RowInput {
  const mode = rnd();
  const taxRate = mode < 0.2 ? null : rates[Math.floor(rnd() * rates.length)];
  const taxIncluded = taxRate !== null && rnd() < 0.5;
  const t = (taxRate ?? 0) / 100;
  const big = rnd() < 0.1;
  const entered = decimalIn(rnd, big ? 50_000 : 500, 4) + 0.01;
  const quantity = rnd() < 0.3 ? Math.ceil(rnd() * 20) : decimalIn(rnd, rnd() < 0.1 ? 2000 : 30, 4) || 1;
  const d = rnd();
  let exclusive = taxIncluded ? entered / (1 + t) : entered;
  const row: RowInput = { quantity, taxRate, taxIncluded };
  if (d < 0.25) {
    row.discountTypeId = 2;
    row.discountRate = decimalIn(rnd, 50, 2);
    exclusive *= 1 - row.discountRate / 100;
  } else if (d < 0.4) {
    row.discountTypeId = 1;
    row.discountSum = Number((exclusive * rnd() * 0.5).toFixed(2));
    exclusive -= row.discountSum;
  } else {
    row.discountTypeId = 2;
    row.discountRate = 0;
  }
  // The grid sends the final unit price (after discount, with tax); Bitrix24 stores it with 2 dp.
  row.price = Number((exclusive * (1 + t)).toFixed(6));
  return row;
}

/** A document of 1–6 rows; `amount` is what Bitrix24 shows as the document's amount. */
export function randomDocument(rnd: () => number, n: number, type: SalesDocument['type'], rates: number[]): SalesDocument {
  const rows = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => storeRow(randomRow(rnd, rates)));
  const lines = rows.map((r, i) => fromRow({ ...r, productId: 0, productName: `Row ${i + 1}` }));
  return {
    type, id: String(n), number: `B24-${n}`, title: '', currency: CURRENCIES[Math.floor(rnd() * CURRENCIES.length)],
    issueDate: '2026-03-01', dueDate: '2026-03-31', customer: { kind: 'company', id: '12', name: 'Ridgeway University', email: null },
    stageId: null, categoryId: null, lines,
    total: Decimal.of(documentAmount(rows).opportunity),
  };
}
