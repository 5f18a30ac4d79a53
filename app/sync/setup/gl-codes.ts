/**
 * GL codes chosen, never typed: the catalog's products with their Xero sales account (the product property
 * "Xero sales account"), one Bitrix24 page per view however large the catalog, and one account assigned to the
 * selected or the filtered products in bulk — their ids read 50 pages per batch, the property written 50 products
 * per batch, so 2,000 products take 40 writes plus a few reads. A product linked to a Xero item shows the item's sales
 * account, which Xero applies when the item code is sent. The products are read and written by
 * bitrix/product-accounts.ts.
 */
import { AppError } from '../../errors.js';
import type { PortalClient } from '../../bitrix/portal-client.js';
import {
  catalogOfProperty, everyProductAccount, PRODUCT_PAGE_SIZE, productAccountPage, writeProductAccounts, type AccountProperty, type ProductSearch,
} from '../../bitrix/product-accounts.js';
import type { Store } from '../../store/index.js';
import type { CachedOrgData } from './org-data.js';
import { accountProblem } from './mapping.js';
import { noCatalogAccess, readsCatalog } from '../../bitrix/document-access.js';

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

export async function propertyIdOf(store: Store, memberId: string): Promise<number> {
  const id = await store.settings.get<number>(memberId, 'b24.accountCodePropertyId');
  if (!id) throw new AppError('SETUP.NO_ACCOUNT_PROPERTY', 'The product property "Xero sales account" is missing. Open the app once as a portal administrator to finish the installation.', 409);
  return id;
}

/**
 * One page of the GL-code table (one Bitrix24 call), for a `viewer` whom Bitrix24 lets view the catalog (asked with
 * the viewer's own token first; 403 otherwise).
 */
export async function productPage(
  client: PortalClient, store: Store, memberId: string, org: CachedOrgData | undefined, filter: ProductSearch, page: number,
  viewer?: { clientEndpoint: string; authId: string },
): Promise<ProductPage> {
  const where = await accountProperty(client, store, memberId);
  if (viewer && !(await readsCatalog(viewer.clientEndpoint, viewer.authId, where.catalogId))) throw noCatalogAccess();
  const { total, products } = await productAccountPage(client, where, filter, page);
  const items = new Map((org?.items ?? []).map((i) => [i.id, i]));
  const accounts = new Map((org?.accounts ?? []).map((a) => [a.code, a.name]));
  const withItems: ProductPage['products'] = [];
  for (const p of products) {
    const link = await store.links.find(memberId, 'product', String(p.id));
    const item = link ? items.get(link.xeroId.toLowerCase()) : undefined;
    withItems.push({
      ...p, accountName: p.accountCode ? accounts.get(p.accountCode) ?? null : null,
      xeroItem: item ? { code: item.code, salesAccountCode: item.salesAccountCode } : null,
    });
  }
  return { total, page, pageSize: PRODUCT_PAGE_SIZE, products: withItems };
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
  target: { ids: number[] } | { filter: ProductSearch }, accountCode: string | null,
): Promise<BulkOutcome> {
  if (accountCode !== null) {
    const problem = accountProblem(org.accounts, accountCode);
    if (problem) throw new AppError('SETTINGS.INVALID', `The account was not assigned. ${problem}`, 400);
  }
  const propertyId = await propertyIdOf(store, memberId);
  const ids = 'ids' in target ? [...new Set(target.ids)] : await matchingIds(client, await accountProperty(client, store, memberId), target.filter);
  if (ids.length > BULK_LIMIT) throw new AppError('HTTP.BAD_REQUEST', `That is ${ids.length} products; assign at most ${BULK_LIMIT} at once (narrow the filter).`, 400);
  const refused = await writeProductAccounts(client, propertyId, ids, accountCode);
  return { updated: ids.length - refused.size, failed: [...refused].map(([id, message]) => ({ id, message })) };
}

/** The ids of every product matching the filter: the first page, then the other pages 50 per batch. */
async function matchingIds(client: PortalClient, where: AccountProperty, filter: ProductSearch): Promise<number[]> {
  const rows = await everyProductAccount(client, where, filter, BULK_LIMIT, 'ids');
  return [...new Set(rows.map((r) => r.id).filter((n) => Number.isInteger(n) && n > 0))];
}

/**
 * How many of the catalog's products have no sales account: neither the "Xero sales account" property nor a linked
 * Xero item with a sales account (for the setup checklist; one call per 50 products, batched).
 */
export async function accountCoverage(client: PortalClient, store: Store, memberId: string, org: CachedOrgData | undefined): Promise<{ products: number; withoutAccount: number }> {
  const rows = await everyProductAccount(client, await accountProperty(client, store, memberId), {}, BULK_LIMIT, 'accounts');
  const items = new Map((org?.items ?? []).map((i) => [i.id, i]));
  let withoutAccount = 0;
  for (const r of rows) {
    if (r.accountCode) continue;
    const link = await store.links.find(memberId, 'product', String(r.id));
    if (!(link && items.get(link.xeroId.toLowerCase())?.salesAccountCode)) withoutAccount += 1;
  }
  return { products: rows.length, withoutAccount };
}

/** The property and the product catalog (iblock) holding it: the catalog read once from the property, then remembered. */
async function accountProperty(client: PortalClient, store: Store, memberId: string): Promise<AccountProperty> {
  const propertyId = await propertyIdOf(store, memberId);
  const known = await store.settings.get<number>(memberId, 'b24.catalogId');
  if (known) return { catalogId: known, propertyId };
  const id = await catalogOfProperty(client, propertyId);
  if (id === null) throw new AppError('SETUP.NO_CATALOG', 'The product catalog of the "Xero sales account" property could not be found in Bitrix24.', 409);
  await store.settings.set(memberId, 'b24.catalogId', id);
  return { catalogId: id, propertyId };
}
