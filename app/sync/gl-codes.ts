/**
 * GL codes chosen, never typed: the catalog's products with their Xero sales account (the product property
 * "Xero sales account"), one Bitrix24 page per view however large the catalog, and one account assigned to the
 * selected or the filtered products in bulk — their ids read 50 pages per batch, the property written 50 products
 * per batch, so 2,000 products take 40 writes plus a few reads. A product linked to a Xero item shows the item's sales
 * account, which Xero applies when the item code is sent.
 */
import { AppError } from '../errors.js';
import type { PortalClient } from '../bitrix/portal-client.js';
import type { Store } from '../store/index.js';
import type { CachedOrgData } from './org-data.js';
import { accountProblem } from './mapping.js';
import { noCatalogAccess, readsCatalog } from '../bitrix/document-access.js';

/** Rows per Bitrix24 list page (fixed by Bitrix24). */
export const B24_PAGE = 50;
/** Commands per Bitrix24 batch. */
const BATCH = 50;
/** Products one bulk change may touch. */
export const BULK_LIMIT = 20_000;

export interface ProductRow {
  id: number;
  name: string;
  /** The product's "Xero sales account", or null. */
  accountCode: string | null;
  accountName: string | null;
  /** The Xero item the product is linked to, with its sales account. */
  xeroItem: { code: string; salesAccountCode: string | null } | null;
}

export interface ProductPage {
  total: number;
  page: number;
  pageSize: number;
  products: ProductRow[];
}

export interface ProductFilter {
  /** Part of the product name (case-insensitive). */
  search?: string;
}

export function propertyIdOf(store: Store, memberId: string): number {
  const id = store.settings.get<number>(memberId, 'b24.accountCodePropertyId');
  if (!id) throw new AppError('SETUP.NO_ACCOUNT_PROPERTY', 'The product property "Xero sales account" is missing. Open the app once as a portal administrator to finish the installation.', 409);
  return id;
}

function listParams(catalogId: number, filter: ProductFilter, select: string[]): Record<string, unknown> {
  const f: Record<string, unknown> = { iblockId: catalogId };
  if (filter.search?.trim()) f['%name'] = filter.search.trim();
  return { filter: f, select: ['id', 'iblockId', ...select], order: { id: 'ASC' } };
}

/**
 * One page of the GL-code table (one Bitrix24 call), for a `viewer` whom Bitrix24 lets view the catalog (asked with
 * the viewer's own token first; 403 otherwise).
 */
export async function productPage(
  client: PortalClient, store: Store, memberId: string, org: CachedOrgData | undefined, filter: ProductFilter, page: number,
  viewer?: { clientEndpoint: string; authId: string },
): Promise<ProductPage> {
  const propertyId = propertyIdOf(store, memberId);
  const catalogId = await catalogIdOf(client, store, memberId, propertyId);
  if (viewer && !(await readsCatalog(viewer.clientEndpoint, viewer.authId, catalogId))) throw noCatalogAccess();
  // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-list.html
  const answer = await client.callRaw('catalog.product.list', { ...listParams(catalogId, filter, ['name', `property${propertyId}`]), start: page * B24_PAGE }, { idempotent: true });
  const rows = ((answer.result as { products?: Record<string, unknown>[] })?.products ?? []);
  const items = new Map((org?.items ?? []).map((i) => [i.id, i]));
  const accounts = new Map((org?.accounts ?? []).map((a) => [a.code, a.name]));
  return {
    total: Number(answer.total ?? rows.length),
    page,
    pageSize: B24_PAGE,
    products: rows.map((r) => {
      const id = Number(r.id);
      const code = propertyValue(r[`property${propertyId}`]);
      const link = store.links.find(memberId, 'product', String(id));
      const item = link ? items.get(link.xeroId.toLowerCase()) : undefined;
      return {
        id, name: String(r.name ?? ''), accountCode: code, accountName: code ? accounts.get(code) ?? null : null,
        xeroItem: item ? { code: item.code, salesAccountCode: item.salesAccountCode } : null,
      };
    }),
  };
}

export interface BulkOutcome {
  updated: number;
  failed: { id: number; message: string }[];
}

/**
 * Writes `accountCode` into the "Xero sales account" of the given products, or of every product matching `filter`.
 * The code is checked against the organisation's accounts first.
 */
export async function assignAccount(
  client: PortalClient, store: Store, memberId: string, org: CachedOrgData,
  target: { ids: number[] } | { filter: ProductFilter }, accountCode: string | null,
): Promise<BulkOutcome> {
  if (accountCode !== null) {
    const problem = accountProblem(org.accounts, accountCode);
    if (problem) throw new AppError('SETTINGS.INVALID', `The account was not assigned. ${problem}`, 400);
  }
  const propertyId = propertyIdOf(store, memberId);
  const ids = 'ids' in target ? [...new Set(target.ids)] : await matchingIds(client, await catalogIdOf(client, store, memberId, propertyId), target.filter);
  if (ids.length > BULK_LIMIT) throw new AppError('HTTP.BAD_REQUEST', `That is ${ids.length} products; assign at most ${BULK_LIMIT} at once (narrow the filter).`, 400);
  const outcome: BulkOutcome = { updated: 0, failed: [] };
  for (let i = 0; i < ids.length; i += BATCH) {
    const chunk = ids.slice(i, i + BATCH);
    const { errors } = await client.batch(Object.fromEntries(chunk.map((id) => [
      `u${id}`,
      // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-update.html
      ['catalog.product.update', { id, fields: { [`property${propertyId}`]: { value: accountCode ?? '' } } }],
    ])));
    for (const id of chunk) {
      const e = errors[`u${id}`];
      if (e === undefined) outcome.updated++;
      else outcome.failed.push({ id, message: String(e) });
    }
  }
  return outcome;
}

/** The ids of every product matching the filter: the first page, then the other pages 50 per batch. */
async function matchingIds(client: PortalClient, catalogId: number, filter: ProductFilter): Promise<number[]> {
  return [...new Set(idsOf({ products: await listAll(client, catalogId, filter, []) }))];
}

/**
 * How many of the catalog's products have no sales account: neither the "Xero sales account" property nor a linked
 * Xero item with a sales account (for the setup checklist; one call per 50 products, batched).
 */
export async function accountCoverage(client: PortalClient, store: Store, memberId: string, org: CachedOrgData | undefined): Promise<{ products: number; withoutAccount: number }> {
  const propertyId = propertyIdOf(store, memberId);
  const rows = await listAll(client, await catalogIdOf(client, store, memberId, propertyId), {}, [`property${propertyId}`]);
  const items = new Map((org?.items ?? []).map((i) => [i.id, i]));
  const without = rows.filter((r) => {
    if (propertyValue(r[`property${propertyId}`])) return false;
    const link = store.links.find(memberId, 'product', String(r.id));
    return !(link && items.get(link.xeroId.toLowerCase())?.salesAccountCode);
  });
  return { products: rows.length, withoutAccount: without.length };
}

/** Every product the filter matches, with the selected fields (≤ BULK_LIMIT + 1). */
async function listAll(client: PortalClient, catalogId: number, filter: ProductFilter, select: string[]): Promise<Record<string, unknown>[]> {
  const params = listParams(catalogId, filter, select);
  const rowsOf = (result: unknown) => (result as { products?: Record<string, unknown>[] })?.products ?? [];
  // https://apidocs.bitrix24.com/api-reference/catalog/product/catalog-product-list.html
  const first = await client.callRaw('catalog.product.list', { ...params, start: 0 }, { idempotent: true });
  const rows = rowsOf(first.result);
  const total = Math.min(Number(first.total ?? rows.length), BULK_LIMIT + 1);
  const starts: number[] = [];
  for (let s = B24_PAGE; s < total; s += B24_PAGE) starts.push(s);
  for (let i = 0; i < starts.length; i += BATCH) {
    const chunk = starts.slice(i, i + BATCH);
    const { results, errors } = await client.batch(Object.fromEntries(chunk.map((s) => [`p${s}`, ['catalog.product.list', { ...params, start: s }]])));
    for (const s of chunk) {
      if (errors[`p${s}`] !== undefined) throw new AppError('B24.LIST_FAILED', `The products could not be listed: ${errors[`p${s}`]}`, 502);
      rows.push(...rowsOf(results[`p${s}`]));
    }
  }
  return rows;
}

function idsOf(result: unknown): number[] {
  const rows = (result as { products?: { id: unknown }[] })?.products ?? [];
  return rows.map((r) => Number(r.id)).filter((n) => Number.isInteger(n) && n > 0);
}

/** The product catalog (iblock) holding the property: read once from the property, then remembered. */
async function catalogIdOf(client: PortalClient, store: Store, memberId: string, propertyId: number): Promise<number> {
  const known = store.settings.get<number>(memberId, 'b24.catalogId');
  if (known) return known;
  // https://apidocs.bitrix24.com/api-reference/catalog/product-property/catalog-product-property-get.html
  const answer = await client.call<{ productProperty?: { iblockId?: number | string } }>('catalog.productProperty.get', { id: propertyId }, { idempotent: true });
  const id = Number(answer.productProperty?.iblockId);
  if (!Number.isInteger(id) || id <= 0) throw new AppError('SETUP.NO_CATALOG', 'The product catalog of the "Xero sales account" property could not be found in Bitrix24.', 409);
  store.settings.set(memberId, 'b24.catalogId', id);
  return id;
}

/** `{value, valueId}`, a list of them, or a bare value → the code, or null. */
function propertyValue(raw: unknown): string | null {
  const first = Array.isArray(raw) ? raw[0] : raw;
  const v = first && typeof first === 'object' && 'value' in first ? (first as { value: unknown }).value : first;
  const s = v === undefined || v === null ? '' : String(v).trim();
  return s || null;
}
