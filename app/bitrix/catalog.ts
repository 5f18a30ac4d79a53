/**
 * Bitrix24 catalog products as the import needs them: the catalog's iblock and VAT rates, a compact directory of the
 * products (for matching by item code in `xmlId`, or by name), and the batch commands that create or update a product
 * with its base price and "Xero sales account" property.
 * https://apidocs.bitrix24.com/api-reference/catalog/product/index.html
 */
import { limitOf, type BatchCalls, type PortalClient } from './portal-client.js';

/** Price type of the base price (catalog.priceType.list: the base type has id 1). */
export const BASE_PRICE_TYPE = 1;

export interface B24Product {
  id: string;
  name: string;
  /** External code: the Xero item code for products imported or linked by code. */
  xmlId: string;
}

export interface CatalogInfo {
  iblockId: number;
  /** VAT rate in percent → Bitrix24 VAT id (`null` rate = "No VAT" is left out). */
  vatByRate: Map<number, number>;
}

/** The product catalog's iblock and VAT rates, in one batch. */
export async function catalogInfo(client: PortalClient): Promise<CatalogInfo | null> {
  // https://apidocs.bitrix24.com/api-reference/catalog/catalog/catalog-catalog-list.html
  // https://apidocs.bitrix24.com/api-reference/catalog/vat/catalog-vat-list.html
  const answer = await client.batch({ catalogs: ['catalog.catalog.list', {}], vats: ['catalog.vat.list', {}] });
  limitOf(answer);
  const { results } = answer;
  const catalogs = listOf<{ iblockId?: number | string; productIblockId?: number | string | null }>(results.catalogs, 'catalogs');
  const catalog = catalogs.find((c) => !c.productIblockId) ?? catalogs[0];
  if (!catalog?.iblockId) return null;
  const vatByRate = new Map<number, number>();
  for (const v of listOf<{ id: number | string; rate: number | string | null }>(results.vats, 'vats')) {
    if (v.rate !== null && v.rate !== undefined) vatByRate.set(Number(v.rate), Number(v.id));
  }
  return { iblockId: Number(catalog.iblockId), vatByRate };
}

/** Every product of the catalog in the directory's compact form, one page of 50 at a time (50 pages per call). */
export async function* productPages(client: PortalClient, iblockId: number): AsyncGenerator<B24Product[]> {
  // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-list.html
  const pages = client.pages<{ id: number | string; name?: string; xmlId?: string | null }>(
    'catalog.product.list',
    { filter: { iblockId }, select: ['id', 'iblockId', 'name', 'xmlId'] },
    { idKey: 'id', resultKey: 'products' },
  );
  for await (const rows of pages) yield rows.map((r) => ({ id: String(r.id), name: String(r.name ?? '').trim(), xmlId: String(r.xmlId ?? '').trim() }));
}

/** Products whose external code (`xmlId`) is one of `codes`: code → product id. */
export async function findByCodes(client: PortalClient, iblockId: number, codes: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < codes.length; i += 50) {
    // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-list.html (filter "@xmlId")
    const rows = await client.list<{ id: number | string; xmlId?: string }>(
      'catalog.product.list',
      { filter: { iblockId, '@xmlId': codes.slice(i, i + 50) }, select: ['id', 'iblockId', 'xmlId'] },
      { idKey: 'id', resultKey: 'products' },
    );
    for (const r of rows) if (r.xmlId) out.set(String(r.xmlId), String(r.id));
  }
  return out;
}

export interface ProductInput {
  fields: Record<string, unknown>;
  price: { amount: number; currency: string } | null;
}

/**
 * Batch commands that create what of one product Bitrix24 does not hold yet: the product (key `k`) and its base price
 * (`${k}_price`); a part already `written` is not sent again and its id stands for `$result[…]`.
 */
export function productCreateCommands(k: string, input: ProductInput, written: Record<string, string> = {}): BatchCalls {
  const out: BatchCalls = {};
  // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-add.html
  if (!written.main) out[k] = ['catalog.product.add', { fields: input.fields }];
  if (input.price && !written.price) {
    // https://apidocs.bitrix24.com/api-reference/catalog/price/catalog-price-add.html
    out[`${k}_price`] = ['catalog.price.add', { fields: {
      productId: written.main ?? `$result[${k}][element][id]`, catalogGroupId: BASE_PRICE_TYPE, price: input.price.amount, currency: input.price.currency,
    } }];
  }
  return out;
}

/** Which of these products hold a base price: product id → price id. */
export async function findBasePrices(client: PortalClient, productIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < productIds.length; i += 50) {
    // https://apidocs.bitrix24.com/api-reference/catalog/price/catalog-price-list.html ("@" = IN)
    const rows = await client.list<{ id: number | string; productId: number | string }>(
      'catalog.price.list', { filter: { '@productId': productIds.slice(i, i + 50), catalogGroupId: BASE_PRICE_TYPE }, select: ['id', 'productId'] },
      { idKey: 'id', resultKey: 'prices' },
    );
    for (const r of rows) out.set(String(r.productId), String(r.id));
  }
  return out;
}

/** Batch command that updates one product's fields. */
export function productUpdateCommand(id: string, fields: Record<string, unknown>): [string, Record<string, unknown>] {
  // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-update.html
  return ['catalog.product.update', { id, fields }];
}

function listOf<T>(value: unknown, key: string): T[] {
  if (Array.isArray(value)) return value as T[];
  const inner = (value as Record<string, unknown> | undefined)?.[key];
  return Array.isArray(inner) ? (inner as T[]) : [];
}
