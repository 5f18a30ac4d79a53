/**
 * Catalog methods (scope `catalog`).
 * Sources: docs/reference/bitrix24.md#catalog (catalog.product.*, catalog.productProperty.*, catalog.vat.list,
 * catalog.catalog.list, catalog.price.*); fixtures rest.catalog.*.json. Catalog errors use numeric codes
 * (fixture rest.catalog.product.get.error.response.json); the specific numbers below are unverified.
 */
import { RestError, keysetPage, page, matches, sortRows, toInt } from './core.js';
import type { CallCtx, Registry } from './registry.js';
import { CATALOG_IBLOCK_ID, type ProductProperty } from './portal.js';

export function registerCatalog(r: Registry): void {
  r.add('catalog.catalog.list', 'catalog', (p) => page([
    { id: CATALOG_IBLOCK_ID, iblockId: CATALOG_IBLOCK_ID, iblockTypeId: 'CRM_PRODUCT_CATALOG', lid: 's1', name: 'CRM product catalog', productIblockId: null, skuPropertyId: null, subscription: 'N', vatId: 1, yandexExport: 'N' },
  ], p.start, (catalogs) => ({ catalogs })));
  r.add('catalog.vat.list', 'catalog', (p) => page([
    { id: 1, name: 'No VAT', rate: null, active: 'Y', sort: 100 },
    { id: 2, name: 'VAT 0%', rate: 0, active: 'Y', sort: 200 },
    { id: 3, name: 'VAT 10%', rate: 10, active: 'Y', sort: 300 },
    { id: 4, name: 'VAT 20%', rate: 20, active: 'Y', sort: 400 },
  ], p.start, (vats) => ({ vats })));

  // Source: docs/reference/bitrix24.md#catalog (catalog.product.list / .get, "Possible error codes"): 400 200040300010 "Access Denied", "No permission to
  // view the product catalog". Admins always may.
  const requireCatalog = (ctx: CallCtx) => {
    if (!ctx.portal.canReadCatalog(ctx.user.id)) throw new RestError(200040300010, 'Access Denied', 400);
  };
  r.add('catalog.product.get', 'catalog', (p, ctx) => {
    requireCatalog(ctx);
    const prod = ctx.portal.products.get(toInt(p.id, 0));
    if (!prod) throw new RestError(200040300010, 'Access Denied', 400); // docs' only sample error (unverified for "missing")
    return { result: { product: ctx.portal.renderProduct(prod) } }; // fixture rest.catalog.product.get.response.json
  });
  r.add('catalog.product.list', 'catalog', (p, ctx) => {
    requireCatalog(ctx);
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const select = Array.isArray(p.select) ? p.select.map(String) : [];
    // `iblockId` is required in filter and select (docs/reference/bitrix24.md#catalog).
    if (filter.iblockId === undefined || !select.includes('iblockId') || !select.includes('id')) {
      throw new RestError(200040300030, 'Required fields: filter[iblockId], select[id], select[iblockId]', 400);
    }
    const valueOf = (x: Record<string, unknown>, f: string) => { const v = x[f]; return v && typeof v === 'object' && 'value' in (v as object) ? (v as { value: unknown }).value : v; };
    const pick = (x: Record<string, unknown>) => Object.fromEntries(Object.entries(x).filter(([k]) => select.includes('*') || select.includes(k)));
    const keyset = keysetPage(ctx.portal.products.entries(), ([id]) => id, p, 'id', ([, x]) => {
      const row = ctx.portal.renderProduct(x);
      return matches(filter, (f) => valueOf(row, f)) ? row : null;
    });
    if (keyset) return { result: { products: keyset.map(pick) } };
    const rows = [...ctx.portal.products.values()].map((x) => ctx.portal.renderProduct(x)).filter((x) => matches(filter, (f) => valueOf(x, f)));
    const sorted = sortRows(rows, p.order, (x, f) => x[f], 'id');
    return page(sorted.map(pick), p.start, (products) => ({ products }));
  });
  r.add('catalog.product.add', 'catalog', (p, ctx) => ({
    result: { element: ctx.portal.renderProduct(ctx.portal.saveProduct(null, (p.fields ?? {}) as Record<string, unknown>, ctx.write)) }, // fixture ...product.add
  }));
  r.add('catalog.product.update', 'catalog', (p, ctx) => ({
    result: { element: ctx.portal.renderProduct(ctx.portal.saveProduct(toInt(p.id, 0), (p.fields ?? {}) as Record<string, unknown>, ctx.write)) },
  }));
  r.add('catalog.product.delete', 'catalog', (p, ctx) => {
    const id = toInt(p.id, 0);
    const prod = ctx.portal.products.get(id);
    if (!prod) throw new RestError(200040300010, 'Access Denied', 400);
    ctx.portal.products.delete(id);
    ctx.portal.raise('CATALOG.PRODUCT.ON.DELETE', { ID: id, TYPE: prod.fields.type }, ctx.write);
    return { result: true };
  });

  // Prices: catalog.price.add {fields: {productId, catalogGroupId, price, currency}} → {price}; one price per product and
  // price type (catalogGroupId 1 = the base price). Source: docs/reference/bitrix24.md#catalog (catalog.price.add, .list).
  r.add('catalog.price.add', 'catalog', (p, ctx) => {
    const f = (p.fields ?? {}) as Record<string, unknown>;
    const productId = toInt(f.productId, 0);
    if (!ctx.portal.products.has(productId)) throw new RestError(200040300020, `Product ${productId} is not found`, 400); // wording unverified
    const group = toInt(f.catalogGroupId, 0);
    if (!group || f.price === undefined || !f.currency) throw new RestError(200040300020, 'Required fields: productId, catalogGroupId, price, currency', 400);
    if (ctx.portal.prices.some((x) => x.productId === productId && x.catalogGroupId === group)) throw new RestError(200040300020, 'Price of this type already exists for the product', 400);
    const price = { id: ctx.portal.nextId('price', 1), productId, catalogGroupId: group, price: Number(f.price), currency: String(f.currency) };
    ctx.portal.prices.push(price);
    return { result: { price: { ...price } } };
  });
  r.add('catalog.price.list', 'catalog', (p, ctx) => {
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const rows = ctx.portal.prices.filter((x) => matches(filter, (f) => (x as Record<string, unknown>)[f])).map((x) => ({ ...x }));
    return page(rows, p.start, (prices) => ({ prices }));
  });
  r.add('catalog.price.update', 'catalog', (p, ctx) => {
    const price = ctx.portal.prices.find((x) => x.id === toInt(p.id, 0));
    if (!price) throw new RestError(200040300010, 'Access Denied', 400);
    const f = (p.fields ?? {}) as Record<string, unknown>;
    if (f.price !== undefined) price.price = Number(f.price);
    if (f.currency) price.currency = String(f.currency);
    return { result: { price: { ...price } } };
  });

  const renderProp = (x: ProductProperty) => ({
    active: x.active, code: x.code, colCount: 30, defaultValue: null, fileType: null, filtrable: 'N', hint: null, iblockId: x.iblockId, id: x.id,
    isRequired: x.isRequired, linkIblockId: null, listType: 'L', multiple: x.multiple, multipleCnt: null, name: x.name, propertyType: x.propertyType,
    rowCount: 1, searchable: 'N', sort: x.sort, timestampX: new Date().toISOString(), userType: null, userTypeSettings: null, withDescription: null, xmlId: x.xmlId,
  });
  r.add('catalog.productProperty.add', 'catalog', (p, ctx) => {
    if (!ctx.user.admin) throw new RestError(200040300010, 'Access Denied', 400);
    const f = (p.fields ?? {}) as Record<string, unknown>;
    if (toInt(f.iblockId, 0) !== CATALOG_IBLOCK_ID) throw new RestError(200040300030, 'Required field "iblockId" is missing or invalid', 400);
    if (!f.name) throw new RestError(200040300030, 'Required field "name" is missing', 400);
    const type = String(f.propertyType ?? 'S');
    if (!['S', 'N', 'L', 'F', 'E', 'G'].includes(type)) throw new RestError(200040300030, `Invalid propertyType ${type}`, 400);
    const prop: ProductProperty = {
      id: ctx.portal.nextId('prop', 258), iblockId: CATALOG_IBLOCK_ID, name: String(f.name), code: (f.code as string) ?? null, propertyType: type,
      multiple: f.multiple === 'Y' ? 'Y' : 'N', sort: toInt(f.sort, 500), active: f.active === 'N' ? 'N' : 'Y', xmlId: (f.xmlId as string) ?? null, isRequired: f.isRequired === 'Y' ? 'Y' : 'N',
    };
    ctx.portal.productProperties.push(prop);
    return { result: { productProperty: renderProp(prop) } }; // fixture rest.catalog.productProperty.add.response.json
  });
  r.add('catalog.productProperty.get', 'catalog', (p, ctx) => {
    const prop = ctx.portal.productProperties.find((x) => x.id === toInt(p.id, 0));
    if (!prop) throw new RestError(200040300010, 'Access Denied', 400);
    return { result: { productProperty: renderProp(prop) } };
  });
  r.add('catalog.productProperty.list', 'catalog', (p, ctx) => {
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const select = Array.isArray(p.select) ? p.select.map(String) : null;
    const rows = ctx.portal.productProperties.map(renderProp).filter((x) => matches(filter, (f) => (x as Record<string, unknown>)[f]));
    const sorted = sortRows(rows, p.order, (x, f) => (x as Record<string, unknown>)[f], 'id');
    // fixture rest.catalog.productProperty.list.response.json: {productProperties: [...]}, next, total
    return page(sorted.map((x) => (select ? Object.fromEntries(Object.entries(x).filter(([k]) => select.includes(k))) : x)), p.start, (productProperties) => ({ productProperties }));
  });
}
