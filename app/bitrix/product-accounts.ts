/**
 * Catalog products with their "Xero sales account" (the product property the install creates, read and written as
 * `property{N}: {value, valueId}`; docs/reference/bitrix24.md#catalog): one page for a view, every product matching a
 * search 50 pages per batch, the property written 50 products per batch, and the catalog that holds the property.
 */
import { AppError } from '../errors.js';
import type { PortalClient } from './portal-client.js';

/** Rows per `catalog.product.list` page (fixed by Bitrix24). */
export const PRODUCT_PAGE_SIZE = 50;
/** Commands per Bitrix24 batch. */
const BATCH = 50;

/** Where the accounts are: the catalog (iblock) and its "Xero sales account" property. */
export interface AccountProperty {
  catalogId: number;
  propertyId: number;
}

export interface ProductAccount {
  id: number;
  name: string;
  /** The product's "Xero sales account", or null (also when it was not read). */
  accountCode: string | null;
}

/** Part of the product name (case-insensitive). */
export interface ProductSearch {
  search?: string;
}

function listParams(catalogId: number, search: ProductSearch, select: string[]): Record<string, unknown> {
  const f: Record<string, unknown> = { iblockId: catalogId };
  if (search.search?.trim()) f['%name'] = search.search.trim();
  return { filter: f, select: ['id', 'iblockId', ...select], order: { id: 'ASC' } };
}

const rowsOf = (result: unknown) => (result as { products?: Record<string, unknown>[] })?.products ?? [];

function accountOf(row: Record<string, unknown>, propertyId: number): ProductAccount {
  return { id: Number(row.id), name: String(row.name ?? ''), accountCode: propertyValue(row[`property${propertyId}`]) };
}

/** One page of products with their names and accounts (one call), and how many match in all. */
export async function productAccountPage(client: PortalClient, where: AccountProperty, search: ProductSearch, page: number): Promise<{ total: number; products: ProductAccount[] }> {
  // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-list.html
  const answer = await client.callRaw('catalog.product.list', {
    ...listParams(where.catalogId, search, ['name', `property${where.propertyId}`]), start: page * PRODUCT_PAGE_SIZE,
  }, { idempotent: true });
  const rows = rowsOf(answer.result);
  return { total: Number(answer.total ?? rows.length), products: rows.map((r) => accountOf(r, where.propertyId)) };
}

/**
 * Every product the search matches, up to `limit` (then one more, so the caller sees there were more): the first
 * page, then the other pages 50 per batch. With `accounts`, each with its account; otherwise ids only.
 */
export async function everyProductAccount(
  client: PortalClient, where: AccountProperty, search: ProductSearch, limit: number, read: 'ids' | 'accounts',
): Promise<ProductAccount[]> {
  const params = listParams(where.catalogId, search, read === 'accounts' ? [`property${where.propertyId}`] : []);
  // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-list.html
  const first = await client.callRaw('catalog.product.list', { ...params, start: 0 }, { idempotent: true });
  const rows = rowsOf(first.result);
  const total = Math.min(Number(first.total ?? rows.length), limit + 1);
  const starts: number[] = [];
  for (let s = PRODUCT_PAGE_SIZE; s < total; s += PRODUCT_PAGE_SIZE) starts.push(s);
  for (let i = 0; i < starts.length; i += BATCH) {
    const chunk = starts.slice(i, i + BATCH);
    const { results, errors } = await client.batch(Object.fromEntries(chunk.map((s) => [`p${s}`, ['catalog.product.list', { ...params, start: s }]])));
    for (const s of chunk) {
      if (errors[`p${s}`] !== undefined) throw new AppError('B24.LIST_FAILED', `The products could not be listed: ${errors[`p${s}`]}`, 502);
      rows.push(...rowsOf(results[`p${s}`]));
    }
  }
  return rows.map((r) => accountOf(r, where.propertyId));
}

/** Writes `accountCode` (null: none) into the property of each product, 50 per batch; Bitrix24's refusals by product id. */
export async function writeProductAccounts(client: PortalClient, propertyId: number, ids: number[], accountCode: string | null): Promise<Map<number, string>> {
  const refused = new Map<number, string>();
  for (let i = 0; i < ids.length; i += BATCH) {
    const chunk = ids.slice(i, i + BATCH);
    const { errors } = await client.batch(Object.fromEntries(chunk.map((id) => [
      `u${id}`,
      // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-update.html
      ['catalog.product.update', { id, fields: { [`property${propertyId}`]: { value: accountCode ?? '' } } }],
    ])));
    for (const id of chunk) if (errors[`u${id}`] !== undefined) refused.set(id, String(errors[`u${id}`]));
  }
  return refused;
}

/** The product catalog (iblock) that holds a product property, or null when Bitrix24 names none. */
export async function catalogOfProperty(client: PortalClient, propertyId: number): Promise<number | null> {
  // https://apidocs.bitrix24.com/api-reference/catalog/product-property/catalog-product-property-get.html
  const answer = await client.call<{ productProperty?: { iblockId?: number | string } }>('catalog.productProperty.get', { id: propertyId }, { idempotent: true });
  const id = Number(answer.productProperty?.iblockId);
  return Number.isInteger(id) && id > 0 ? id : null;
}

/** `{value, valueId}`, a list of them, or a bare value → the code, or null. */
function propertyValue(raw: unknown): string | null {
  const first = Array.isArray(raw) ? raw[0] : raw;
  const v = first && typeof first === 'object' && 'value' in first ? (first as { value: unknown }).value : first;
  const s = v === undefined || v === null ? '' : String(v).trim();
  return s || null;
}
