/**
 * CRM methods: crm.item.* (31, 7, 3, 4), product rows, statuses, categories, classic invoices, legacy quote /
 * company / contact methods, requisites, timeline comments, automation triggers.
 * Sources: docs/reference/bitrix24.md# from #crm-object-types to #customers-and-requisites (CRM items, classic
 * invoices, stages, product rows, user fields, requisites) and docs/reference/bitrix24.md#timeline-and-automation. Shapes checked against the fixtures named inline.
 */
import { RestError, keysetPage, page, matches, sortRows, splitFilterKey, toInt, isYes, isoDate } from './core.js';
import type { Registry, CallCtx, Params } from './registry.js';
import { SYSTEM_FIELDS, SMART_INVOICE, QUOTE, COMPANY, CONTACT, CLASSIC_INVOICE, OWNER_TYPE_TO_ENTITY, OWNER_TYPE, ufCamelName } from './model.js';
import type { CrmItem, Portal, ProductRow } from './portal.js';

function entityTypeOf(p: Params): number {
  const v = p.entityTypeId ?? p.ENTITY_TYPE_ID;
  if (v === undefined) throw new RestError('ERROR_ARGUMENT', 'Required parameter "entityTypeId" is missing', 400);
  return toInt(v, -1);
}

/** Resolves a camelCase (or UPPER) field name of an item to its value; `undefined` = unknown field. */
function itemGetter(portal: Portal, item: CrmItem): (field: string) => unknown {
  const defs = SYSTEM_FIELDS[item.entityTypeId]!;
  return (field) => {
    const def = defs.find((d) => d.key === field || d.upper === field);
    if (def) return item.data[def.key] ?? null;
    if (field === 'entityTypeId') return item.entityTypeId;
    const uf = portal.ufsFor(item.entityTypeId).find((u) => u.fieldName === field || ufCamelName(u.fieldName) === field);
    if (uf) return item.uf[uf.fieldName] ?? null;
    return undefined;
  };
}

function knownItemField(portal: Portal, entityTypeId: number, field: string): boolean {
  if (field === 'entityTypeId') return true;
  return SYSTEM_FIELDS[entityTypeId]!.some((d) => d.key === field || d.upper === field)
    || portal.ufsFor(entityTypeId).some((u) => u.fieldName === field || ufCamelName(u.fieldName) === field);
}

function selectFields(row: Record<string, unknown>, select: unknown): Record<string, unknown> {
  if (!Array.isArray(select) || select.length === 0 || select.includes('*')) {
    if (Array.isArray(select) && select.length && !select.some((s) => /^(uf\*|UF_\*)$/.test(String(s))) && select.includes('*')) {
      return Object.fromEntries(Object.entries(row).filter(([k]) => !/^(ufCrm|UF_CRM_)/.test(k)));
    }
    return row;
  }
  const wanted = new Set(select.map(String));
  const wantUf = wanted.has('uf*') || wanted.has('UF_*');
  return Object.fromEntries(Object.entries(row).filter(([k]) => k === 'id' || wanted.has(k) || (wantUf && /^(ufCrm|UF_CRM_)/.test(k))));
}

export function registerCrm(r: Registry): void {
  // region crm.item.* ////
  r.add('crm.item.fields', 'crm', (p, ctx) => {
    const et = entityTypeOf(p);
    ctx.portal.itemStore(et);
    const fields: Record<string, unknown> = {};
    for (const d of SYSTEM_FIELDS[et]!) {
      // Shape: fixture rest.crm.item.fields.response.json.
      fields[d.key] = { type: d.type, isRequired: !!d.required, isReadOnly: !!d.readOnly, isImmutable: false, isMultiple: !!d.multiple, isDynamic: false, title: d.title, upperName: d.upper };
    }
    for (const u of ctx.portal.ufsFor(et)) {
      fields[isYes(p.useOriginalUfNames) ? u.fieldName : ufCamelName(u.fieldName)] = {
        type: u.userTypeId, isRequired: u.mandatory === 'Y', isReadOnly: false, isImmutable: false, isMultiple: u.multiple === 'Y', isDynamic: true,
        title: u.editFormLabel?.en ?? u.fieldName, upperName: u.fieldName,
      };
    }
    return { result: { fields } };
  });
  r.add('crm.item.get', 'crm', (p, ctx) => {
    const item = ctx.portal.getItem(entityTypeOf(p), toInt(p.id, 0));
    // Source: docs/reference/bitrix24.md#errors (crm.item.get): 400 ACCESS_DENIED for a user without read permission.
    if (!ctx.portal.canRead(ctx.user.id, item.entityTypeId, toInt(p.id, 0))) {
      throw new RestError('ACCESS_DENIED', 'You do not have permission to view this item', 400);
    }
    return { result: { item: ctx.portal.renderItem(item, isYes(p.useOriginalUfNames)) } }; // fixture rest.crm.item.get.response.json
  });
  r.add('crm.item.list', 'crm', (p, ctx) => {
    const et = entityTypeOf(p);
    const store = ctx.portal.itemStore(et);
    const filter = (p.filter && typeof p.filter === 'object' ? p.filter : {}) as Record<string, unknown>;
    for (const key of Object.keys(filter)) {
      const { field } = splitFilterKey(key);
      // Fixture rest.crm.item.list.error.INVALID_ARG_VALUE.response.json.
      if (!/^\d+$/.test(key) && key !== 'logic' && !knownItemField(ctx.portal, et, field)) {
        throw new RestError('INVALID_ARG_VALUE', `Invalid filter: field '${field}' is not allowed in filter`, 400);
      }
    }
    if (p.order && typeof p.order === 'object') {
      for (const key of Object.keys(p.order as object)) {
        if (!knownItemField(ctx.portal, et, key)) throw new RestError('INVALID_ARG_VALUE', `Invalid order: field '${key}' is not allowed in order`, 400);
      }
    }
    // Lists show only what the user may read (docs/reference/bitrix24.md#lists-and-paging: "any user with read access permission").
    const rows = [...store.values()].filter((it) => ctx.portal.canRead(ctx.user.id, et, Number(it.data.id)) && matches(filter, itemGetter(ctx.portal, it)));
    const sorted = sortRows(rows, p.order, (it, f) => itemGetter(ctx.portal, it)(f), 'id');
    const originalUf = isYes(p.useOriginalUfNames);
    return page(sorted, p.start, (slice) => ({ items: slice.map((it) => selectFields(ctx.portal.renderItem(it, originalUf), p.select)) }));
  });
  r.add('crm.item.add', 'crm', (p, ctx) => {
    const item = ctx.portal.createItem(entityTypeOf(p), (p.fields ?? {}) as Record<string, unknown>, ctx.write);
    return { result: { item: ctx.portal.renderItem(item, isYes(p.useOriginalUfNames)) } }; // fixture rest.crm.item.add.response.json
  });
  r.add('crm.item.update', 'crm', (p, ctx) => {
    const item = ctx.portal.updateItem(entityTypeOf(p), toInt(p.id, 0), (p.fields ?? {}) as Record<string, unknown>, ctx.write);
    return { result: { item: ctx.portal.renderItem(item, isYes(p.useOriginalUfNames)) } };
  });
  r.add('crm.item.delete', 'crm', (p, ctx) => {
    ctx.portal.deleteItem(entityTypeOf(p), toInt(p.id, 0), ctx.write);
    return { result: [] }; // fixture rest.crm.item.delete.response.json
  });
  // endregion ////

  // region crm.item.productrow.* ////
  const ownerOf = (p: Params): { ownerType: string; ownerId: number; entityTypeId: number } => {
    const ownerType = String(p.ownerType ?? '');
    const entityTypeId = OWNER_TYPE_TO_ENTITY[ownerType];
    if (entityTypeId === undefined) throw new RestError('OWNER_NOT_FOUND', 'Owner was not found', 400);
    return { ownerType, ownerId: toInt(p.ownerId, 0), entityTypeId };
  };
  r.add('crm.item.productrow.list', 'crm', (p, ctx) => {
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const ownerType = filter['=ownerType'] ?? filter.ownerType;
    const ownerId = filter['=ownerId'] ?? filter.ownerId;
    // Both are required in the filter (docs/reference/bitrix24.md#product-rows); error code unverified.
    if (ownerType === undefined || ownerId === undefined) throw new RestError('INVALID_ARG_VALUE', 'Filter must contain ownerType and ownerId', 400);
    const ids = (Array.isArray(ownerId) ? ownerId : [ownerId]).map((x) => toInt(x));
    const others = Object.fromEntries(Object.entries(filter).filter(([k]) => !/^=?owner(Type|Id)$/.test(k)));
    // Other conditions (e.g. the SDK's keyset cursor `>id`) apply to the rows themselves.
    const rows: ProductRow[] = ids.flatMap((id) => ctx.portal.rowsOf(String(ownerType), id))
      .filter((row) => matches(others, (f) => (row as unknown as Record<string, unknown>)[f]));
    const sorted = sortRows(rows, p.order ?? { sort: 'ASC' }, (row, f) => (row as unknown as Record<string, unknown>)[f], 'id');
    return page(sorted, p.start, (productRows) => ({ productRows })); // fixture rest.crm.item.productrow.list.response.json
  });
  r.add('crm.item.productrow.set', 'crm', (p, ctx) => {
    const { ownerId, entityTypeId } = ownerOf(p);
    const rows = Array.isArray(p.productRows) ? (p.productRows as Array<Record<string, unknown>>) : [];
    return { result: { productRows: ctx.portal.setRows(entityTypeId, ownerId, rows, ctx.write) } }; // fixture ...productrow.set
  });
  r.add('crm.item.productrow.add', 'crm', (p, ctx) => {
    const fields = (p.fields ?? {}) as Record<string, unknown>;
    const { ownerType, ownerId, entityTypeId } = ownerOf(fields);
    const existing = ctx.portal.rowsOf(ownerType, ownerId).map((x) => ({ ...x }));
    const rows = ctx.portal.setRows(entityTypeId, ownerId, [...existing, fields], ctx.write);
    return { result: { productRow: rows[rows.length - 1] } };
  });
  r.add('crm.item.productrow.get', 'crm', (p, ctx) => {
    for (const rows of ctx.portal.productRows.values()) {
      const row = rows.find((x) => x.id === toInt(p.id));
      if (row) return { result: { productRow: row } };
    }
    throw new RestError('NOT_FOUND', 'Product row not found', 400);
  });
  r.add('crm.item.productrow.delete', 'crm', (p, ctx) => {
    for (const [key, rows] of ctx.portal.productRows) {
      const row = rows.find((x) => x.id === toInt(p.id));
      if (!row) continue;
      const [ownerType] = key.split(':');
      ctx.portal.setRows(OWNER_TYPE_TO_ENTITY[ownerType!]!, row.ownerId, rows.filter((x) => x !== row).map((x) => ({ ...x })), ctx.write);
      return { result: [] };
    }
    throw new RestError('NOT_FOUND', 'Product row not found', 400);
  });
  // endregion ////

  // region crm.status.*, crm.category.* ////
  r.add('crm.status.list', 'crm', (p, ctx) => {
    // `select` is ignored (docs/reference/bitrix24.md#stages); fixture rest.crm.status.list*.json.
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const rows = ctx.portal.statuses.filter((s) => matches(filter, (f) => (s as unknown as Record<string, unknown>)[f.toUpperCase()]));
    const sorted = sortRows(rows, p.order ?? { SORT: 'ASC' }, (s, f) => (s as unknown as Record<string, unknown>)[f.toUpperCase()], 'ID');
    return page(sorted.map((s) => ({ ...s })), p.start);
  });
  r.add('crm.status.entity.types', 'crm', (_p, ctx) => {
    // Fixture rest.crm.status.entity.types.response.json.
    const si = ctx.portal.categories.filter((c) => c.entityTypeId === SMART_INVOICE).map((c) => ({
      ID: `SMART_INVOICE_STAGE_${c.id}`, NAME: `Invoice stages (${c.name})`, SEMANTIC_INFO: [], PREFIX: `DT31_${c.id}`, FIELD_ATTRIBUTE_SCOPE: `category_${c.id}`, ENTITY_TYPE_ID: 31, IS_ENABLED: true, CATEGORY_ID: c.id,
    }));
    return { result: [
      { ID: 'QUOTE_STATUS', NAME: 'Estimate statuses', SEMANTIC_INFO: { START_FIELD: 'DRAFT', FINAL_SUCCESS_FIELD: 'APPROVED', FINAL_UNSUCCESS_FIELD: 'DECLAINED', FINAL_SORT: 0 }, ENTITY_TYPE_ID: 7 },
      { ID: 'INVOICE_STATUS', NAME: 'Invoice statuses', SEMANTIC_INFO: { START_FIELD: 'N', FINAL_SUCCESS_FIELD: 'P', FINAL_UNSUCCESS_FIELD: 'D', FINAL_SORT: 0 }, ENTITY_TYPE_ID: 5 },
      ...si,
    ] };
  });
  r.add('crm.category.list', 'crm', (p, ctx) => {
    const et = entityTypeOf(p);
    // Estimates have no pipelines (error code unverified).
    if (et === QUOTE) throw new RestError('NOT_SUPPORTED', 'Entity type does not support categories', 400);
    ctx.portal.itemStore(et);
    // Source: docs/reference/bitrix24.md#stages: "filtered by access permissions … a funnel the user may not read is not included".
    const cats = ctx.portal.categories.filter((c) => c.entityTypeId === et && ctx.portal.canReadCategory(ctx.user.id, et, c.id)).sort((a, b) => a.sort - b.sort);
    return page(cats.map((c) => ({ ...c, originId: '', originatorId: '' })), p.start, (categories) => ({ categories })); // fixture
  });
  r.add('crm.category.get', 'crm', (p, ctx) => {
    const c = ctx.portal.categories.find((x) => x.entityTypeId === entityTypeOf(p) && x.id === toInt(p.id, -1));
    if (!c) throw new RestError('NOT_FOUND', 'Category not found', 400);
    return { result: { category: { ...c } } };
  });
  // endregion ////

  // region classic invoices crm.invoice.* (deprecated, still present on self-hosted: docs/reference/bitrix24.md#classic-invoices) ////
  r.add('crm.invoice.fields', 'crm', (_p, ctx) => {
    const f = (type: string, title: string, extra: Record<string, unknown> = {}) => ({ type, isRequired: false, isReadOnly: false, isImmutable: false, isMultiple: false, isDynamic: false, title, ...extra });
    const fields: Record<string, unknown> = {
      ID: f('integer', 'ID', { isReadOnly: true }), ACCOUNT_NUMBER: f('string', 'Invoice #'), ORDER_TOPIC: f('string', 'Topic', { isRequired: true }),
      STATUS_ID: f('crm_status', 'Status', { statusType: 'INVOICE_STATUS' }), PAYED: f('char', 'Paid', { isReadOnly: true }), PRICE: f('double', 'Total', { isReadOnly: true }),
      CURRENCY: f('crm_currency', 'Currency'), TAX_VALUE: f('double', 'Tax', { isReadOnly: true }), DATE_BILL: f('date', 'Invoice date'),
      DATE_PAY_BEFORE: f('date', 'Pay before'), UF_COMPANY_ID: f('integer', 'Company'), UF_CONTACT_ID: f('integer', 'Contact'), UF_DEAL_ID: f('integer', 'Deal'),
      UF_QUOTE_ID: f('integer', 'Estimate'), XML_ID: f('string', 'External ID'), PERSON_TYPE_ID: f('integer', 'Payer type'), PAY_SYSTEM_ID: f('integer', 'Payment method'),
      RESPONSIBLE_ID: f('user', 'Responsible'), COMMENTS: f('string', 'Comment'), PRODUCT_ROWS: f('product_rows', 'Products', { isMultiple: true }),
    };
    for (const u of ctx.portal.userFields.filter((x) => x.entityId === 'CRM_INVOICE')) fields[u.fieldName] = f(u.userTypeId, u.editFormLabel?.en ?? u.fieldName, { isDynamic: true });
    return { result: fields };
  });
  r.add('crm.invoice.get', 'crm', (p, ctx) => {
    const id = toInt(p.id ?? p.ID, 0);
    const invoice = ctx.portal.renderClassicInvoice(id);
    // Legacy methods answer `"error": ""` (docs/reference/bitrix24.md#errors); the "Access denied." text is unverified.
    if (!ctx.portal.canRead(ctx.user.id, CLASSIC_INVOICE, id)) throw new RestError('', 'Access denied.', 400);
    return { result: invoice };
  });
  r.add('crm.invoice.list', 'crm', (p, ctx) => {
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const rows = [...ctx.portal.classicInvoices.keys()].map((id) => ctx.portal.renderClassicInvoice(id))
      .filter((inv) => matches(filter, (f) => inv[f.toUpperCase()]));
    const sorted = sortRows(rows, p.order, (inv, f) => inv[f.toUpperCase()], 'ID');
    return page(sorted.map((inv) => {
      // list does not carry PRODUCT_ROWS (only get does); select narrows the fields.
      const { PRODUCT_ROWS: _rows, ...rest } = inv;
      return legacySelect(rest, p.select);
    }), p.start);
  });
  r.add('crm.invoice.add', 'crm', (p, ctx) => ({ result: ctx.portal.saveClassicInvoice(null, (p.fields ?? {}) as Record<string, unknown>, ctx.write) }));
  r.add('crm.invoice.update', 'crm', (p, ctx) => {
    ctx.portal.saveClassicInvoice(toInt(p.id ?? p.ID, 0), (p.fields ?? {}) as Record<string, unknown>, ctx.write);
    return { result: true };
  });
  r.add('crm.invoice.delete', 'crm', (p, ctx) => {
    ctx.portal.deleteClassicInvoice(toInt(p.id ?? p.ID, 0), ctx.write);
    return { result: true };
  });
  // crm.invoice.userfield.add: FIELD_NAME ≤ 20 chars incl. the UF_CRM_ prefix (docs/reference/bitrix24.md#classic-invoices).
  r.add('crm.invoice.userfield.add', 'crm', (p, ctx) => legacyUfAdd(ctx, p, 'CRM_INVOICE', 20));
  r.add('crm.invoice.userfield.list', 'crm', (p, ctx) => legacyUfList(ctx, p, 'CRM_INVOICE'));
  r.add('crm.quote.userfield.add', 'crm', (p, ctx) => legacyUfAdd(ctx, p, 'CRM_QUOTE', 50));
  r.add('crm.quote.userfield.list', 'crm', (p, ctx) => legacyUfList(ctx, p, 'CRM_QUOTE'));
  // Source: docs/reference/bitrix24.md#user-fields (crm.contact.userfield.add, crm.company.userfield.add).
  r.add('crm.contact.userfield.add', 'crm', (p, ctx) => legacyUfAdd(ctx, p, 'CRM_CONTACT', 50));
  r.add('crm.contact.userfield.list', 'crm', (p, ctx) => legacyUfList(ctx, p, 'CRM_CONTACT'));
  r.add('crm.company.userfield.add', 'crm', (p, ctx) => legacyUfAdd(ctx, p, 'CRM_COMPANY', 50));
  r.add('crm.company.userfield.list', 'crm', (p, ctx) => legacyUfList(ctx, p, 'CRM_COMPANY'));
  // endregion ////

  // region legacy crm.quote.*, crm.company.*, crm.contact.* over the same items ////
  for (const [prefix, et] of [['crm.quote', QUOTE], ['crm.company', COMPANY], ['crm.contact', CONTACT]] as const) {
    r.add(`${prefix}.fields`, 'crm', (_p, ctx) => {
      const fields: Record<string, unknown> = {};
      for (const d of legacyDefs(et)) fields[d.upper] = { type: d.type, isRequired: !!d.required, isReadOnly: !!d.readOnly, isImmutable: false, isMultiple: !!d.multiple, isDynamic: false, title: d.title };
      for (const u of ctx.portal.ufsFor(et)) fields[u.fieldName] = { type: u.userTypeId, isRequired: false, isReadOnly: false, isImmutable: false, isMultiple: u.multiple === 'Y', isDynamic: true, title: u.fieldName };
      return { result: fields };
    });
    r.add(`${prefix}.get`, 'crm', (p, ctx) => {
      const item = ctx.portal.items.get(et)!.get(toInt(p.id ?? p.ID, 0));
      // Legacy methods send an empty error code (fixture rest.crm.quote.get.error.not-found.response.json).
      if (!item) throw new RestError('', 'Not found', 400);
      // CCrm…RestProxy::innerGet refuses a user without read permission with "Access denied." (restservice.php), the
      // legacy empty code; wording as for classic invoices (unverified).
      if (!ctx.portal.canRead(ctx.user.id, et, Number(item.data.id))) throw new RestError('', 'Access denied.', 400);
      return { result: legacyRender(ctx.portal, item) };
    });
    r.add(`${prefix}.list`, 'crm', (p, ctx) => {
      const filter = (p.filter ?? {}) as Record<string, unknown>;
      // ID conditions are checked before rendering (same result; keeps keyset paging over large lists quick).
      const idFilter = Object.fromEntries(Object.entries(filter).filter(([k]) => splitFilterKey(k).field.toUpperCase() === 'ID'));
      // Lists show only what the user may read (as crm.item.list, docs/reference/bitrix24.md#lists-and-paging).
      const readable = (it: { data: Record<string, unknown> }) => ctx.portal.canRead(ctx.user.id, et, Number(it.data.id));
      const keyset = keysetPage(ctx.portal.items.get(et)!.values(), (it) => Number(it.data.id), p, 'ID', (it) => {
        if (!matches(idFilter, () => String(it.data.id)) || !readable(it)) return null;
        const row = legacyRender(ctx.portal, it);
        return matches(filter, (f) => row[f.toUpperCase()]) ? row : null;
      });
      if (keyset) return { result: keyset.map((row) => legacySelect(row, p.select)) };
      const rows = [...ctx.portal.items.get(et)!.values()]
        .filter((it) => matches(idFilter, () => String(it.data.id)) && readable(it))
        .map((it) => legacyRender(ctx.portal, it)).filter((row) => matches(filter, (f) => row[f.toUpperCase()]));
      const sorted = sortRows(rows, p.order, (row, f) => row[f.toUpperCase()], 'ID');
      return page(sorted, p.start, (slice) => slice.map((row) => legacySelect(row, p.select)));
    });
    r.add(`${prefix}.add`, 'crm', (p, ctx) => {
      // CCrmCompanyRestProxy::innerAdd / CCrmContactRestProxy::innerAdd: no create permission → "Access denied.",
      // thrown by CCrmRestProxyBase::add as RestException with an empty code (restservice.php, README).
      if (!ctx.portal.canCreate(ctx.user.id, et)) throw new RestError('', 'Access denied.', 400);
      const input = legacyInput(et, (p.fields ?? {}) as Record<string, unknown>);
      requireMandatory(ctx.portal, et, input, null);
      return { result: ctx.portal.createItem(et, input, ctx.write).data.id };
    });
    r.add(`${prefix}.update`, 'crm', (p, ctx) => {
      const id = toInt(p.id ?? p.ID, 0);
      const item = ctx.portal.items.get(et)!.get(id);
      if (!item) throw new RestError('', 'Not found', 400);
      const input = legacyInput(et, (p.fields ?? {}) as Record<string, unknown>);
      if (input.fm) input.fm = mergeMultifields(item.data.fm as Fm | undefined, input.fm as Fm);
      requireMandatory(ctx.portal, et, input, item);
      ctx.portal.updateItem(et, id, input, ctx.write);
      return { result: true };
    });
    r.add(`${prefix}.delete`, 'crm', (p, ctx) => {
      const id = toInt(p.id ?? p.ID, 0);
      if (!ctx.portal.items.get(et)!.has(id)) throw new RestError('', 'Not found', 400);
      ctx.portal.deleteItem(et, id, ctx.write);
      return { result: true };
    });
  }
  r.add('crm.quote.productrows.get', 'crm', (p, ctx) => {
    const id = toInt(p.id ?? p.ID, 0);
    if (!ctx.portal.items.get(QUOTE)!.has(id)) throw new RestError('', 'Not found', 400);
    return { result: ctx.portal.rowsOf('Q', id).map(legacyRow) }; // fixture rest.crm.quote.productrows.get.response.json
  });
  r.add('crm.quote.productrows.set', 'crm', (p, ctx) => {
    const id = toInt(p.id ?? p.ID, 0);
    if (!ctx.portal.items.get(QUOTE)!.has(id)) throw new RestError('', 'Not found', 400);
    ctx.portal.setRows(QUOTE, id, Array.isArray(p.rows) ? (p.rows as Array<Record<string, unknown>>) : [], ctx.write);
    return { result: true };
  });
  r.add('crm.quote.contact.items.get', 'crm', (p, ctx) => {
    const item = ctx.portal.items.get(QUOTE)!.get(toInt(p.id ?? p.ID, 0));
    if (!item) throw new RestError('', 'Not found', 400);
    const ids = (item.data.contactIds as number[] | undefined) ?? [];
    return { result: ids.map((cid, i) => ({ CONTACT_ID: cid, SORT: (i + 1) * 10, ROLE_ID: 0, IS_PRIMARY: i === 0 ? 'Y' : 'N' })) };
  });
  // endregion ////

  // region requisites ////
  r.add('crm.requisite.list', 'crm', (p, ctx) => {
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const rows = ctx.portal.requisites.filter((q) => matches(filter, (f) => q[f.toUpperCase()]));
    return page(sortRows(rows, p.order, (q, f) => q[f.toUpperCase()], 'ID').map((q) => legacySelect({ ...q, ADDRESSES: undefined }, p.select)), p.start);
  });
  r.add('crm.requisite.get', 'crm', (p, ctx) => {
    const q = ctx.portal.requisites.find((x) => x.ID === String(p.id));
    if (!q) throw new RestError('', 'Not found', 400);
    const { ADDRESSES: _a, ...rest } = q;
    return { result: rest };
  });
  // crm.requisite.add {fields: {ENTITY_TYPE_ID, ENTITY_ID, PRESET_ID, NAME, RQ_*}} → new ID. Required: ENTITY_TYPE_ID (3 or 4),
  // ENTITY_ID of an existing company/contact, PRESET_ID, NAME. Source: docs/reference/bitrix24.md#customers-and-requisites.
  r.add('crm.requisite.add', 'crm', (p, ctx) => {
    const f = upperKeys((p.fields ?? {}) as Record<string, unknown>);
    const owner = toInt(f.ENTITY_TYPE_ID, 0);
    if (owner !== COMPANY && owner !== CONTACT) throw new RestError('', 'ENTITY_TYPE_ID is not defined or invalid.', 400);
    if (!ctx.portal.items.get(owner)!.has(toInt(f.ENTITY_ID, 0))) throw new RestError('', 'ENTITY_ID is not defined or invalid.', 400);
    if (!toInt(f.PRESET_ID, 0)) throw new RestError('', 'PRESET_ID is not defined or invalid.', 400);
    if (!f.NAME) throw new RestError('', 'The "Name" field is required.', 400);
    const id = String(ctx.portal.nextId('requisite', 1000));
    ctx.portal.requisites.push({ ...stringValues(f), ID: id, ACTIVE: f.ACTIVE ?? 'Y', ADDRESSES: [] });
    return { result: Number(id) };
  });
  // crm.requisite.update {id, fields}: only the given fields change. Source: docs/reference/bitrix24.md#customers-and-requisites.
  r.add('crm.requisite.update', 'crm', (p, ctx) => {
    const q = ctx.portal.requisites.find((x) => x.ID === String(p.id ?? p.ID));
    if (!q) throw new RestError('', 'Not found', 400);
    const { ID: _id, ENTITY_TYPE_ID: _t, ENTITY_ID: _e, ...rest } = stringValues(upperKeys((p.fields ?? {}) as Record<string, unknown>));
    Object.assign(q, rest);
    return { result: true };
  });
  // crm.address.add {fields: {TYPE_ID, ENTITY_TYPE_ID, ENTITY_ID, ADDRESS_1, …}} → true; the key is (TYPE_ID, ENTITY_TYPE_ID,
  // ENTITY_ID), here with ENTITY_TYPE_ID 8 (requisite). An existing key is refused. Source: docs/reference/bitrix24.md#customers-and-requisites.
  const addressOf = (f: Record<string, unknown>, ctx: CallCtx) => {
    if (toInt(f.ENTITY_TYPE_ID, 0) !== 8) throw new RestError('', 'ENTITY_TYPE_ID is not defined or invalid.', 400); // only requisite addresses (unverified wording)
    if (!toInt(f.TYPE_ID, 0)) throw new RestError('', 'TYPE_ID is not defined or invalid.', 400);
    const q = ctx.portal.requisites.find((x) => x.ID === String(toInt(f.ENTITY_ID, 0)));
    if (!q) throw new RestError('', 'ENTITY_ID is not defined or invalid.', 400);
    const list = (q.ADDRESSES as Array<Record<string, unknown>>) ?? (q.ADDRESSES = []);
    return { list, existing: list.find((a) => String(a.TYPE_ID) === String(toInt(f.TYPE_ID, 0))) };
  };
  r.add('crm.address.add', 'crm', (p, ctx) => {
    const f = upperKeys((p.fields ?? {}) as Record<string, unknown>);
    const { list, existing } = addressOf(f, ctx);
    if (existing) throw new RestError('', 'Address with such type already exists.', 400); // wording unverified
    list.push({ ADDRESS_1: null, ADDRESS_2: null, CITY: null, POSTAL_CODE: null, REGION: null, PROVINCE: null, COUNTRY: null, COUNTRY_CODE: null, ...stringValues(f) });
    return { result: true };
  });
  // crm.address.update: same key, the given fields change. Source: docs/reference/bitrix24.md#customers-and-requisites.
  r.add('crm.address.update', 'crm', (p, ctx) => {
    const f = upperKeys((p.fields ?? {}) as Record<string, unknown>);
    const { existing } = addressOf(f, ctx);
    if (!existing) throw new RestError('', 'Address not found.', 400); // wording unverified
    Object.assign(existing, stringValues(f));
    return { result: true };
  });
  r.add('crm.address.list', 'crm', (p, ctx) => {
    const filter = (p.filter ?? {}) as Record<string, unknown>;
    const rows = ctx.portal.requisites.flatMap((q) => (q.ADDRESSES as Array<Record<string, unknown>> | undefined) ?? []).filter((a) => matches(filter, (f) => a[f.toUpperCase()]));
    return page(rows, p.start);
  });
  // endregion ////

  // region timeline and automation ////
  r.add('crm.timeline.comment.add', 'crm', (p, ctx) => {
    const fields = (p.fields ?? {}) as Record<string, unknown>;
    const type = String(fields.ENTITY_TYPE ?? '').toLowerCase();
    const id = toInt(fields.ENTITY_ID, 0);
    const exists: Record<string, () => boolean> = {
      quote: () => ctx.portal.items.get(QUOTE)!.has(id), company: () => ctx.portal.items.get(COMPANY)!.has(id), contact: () => ctx.portal.items.get(CONTACT)!.has(id),
      invoice: () => ctx.portal.classicInvoices.has(id), smart_invoice: () => ctx.portal.items.get(SMART_INVOICE)!.has(id), dynamic_31: () => ctx.portal.items.get(SMART_INVOICE)!.has(id),
    };
    if (!exists[type]) throw new RestError('ERROR_ARGUMENT', `Unknown ENTITY_TYPE ${type}`, 400);
    if (!exists[type]!()) throw new RestError('NOT_FOUND', 'Entity not found', 400);
    if (!fields.COMMENT) throw new RestError('ERROR_ARGUMENT', 'COMMENT is required', 400);
    const comment = { ID: ctx.portal.nextId('comment', 999), ENTITY_ID: id, ENTITY_TYPE: type, COMMENT: String(fields.COMMENT), AUTHOR_ID: toInt(fields.AUTHOR_ID, ctx.user.id), CREATED: isoDate(ctx.portal.now()) };
    ctx.portal.timelineComments.push(comment);
    return { result: comment.ID }; // fixture rest.crm.timeline.comment.add.response.json
  });
  r.add('crm.automation.trigger.add', 'crm', (p, ctx) => {
    if (!ctx.user.admin) throw new RestError('ACCESS_DENIED', 'Access denied!', 403);
    const code = String(p.CODE ?? '');
    if (!/^[a-z0-9._-]+$/i.test(code) || !p.NAME) throw new RestError('ERROR_ARGUMENT', 'CODE and NAME are required', 400);
    if (ctx.portal.triggers.some((t) => t.CODE === code)) throw new RestError('ERROR_ARGUMENT', `Trigger ${code} already exists`, 400);
    ctx.portal.triggers.push({ CODE: code, NAME: String(p.NAME) });
    return { result: true };
  });
  r.add('crm.automation.trigger.list', 'crm', (_p, ctx) => ({ result: ctx.portal.triggers.map((t) => ({ ...t })) }));
  r.add('crm.automation.trigger.delete', 'crm', (p, ctx) => {
    const before = ctx.portal.triggers.length;
    ctx.portal.triggers = ctx.portal.triggers.filter((t) => t.CODE !== String(p.CODE));
    if (before === ctx.portal.triggers.length) throw new RestError('ERROR_NOT_FOUND', 'Trigger not found', 400);
    return { result: true };
  });
  r.add('crm.automation.trigger.execute', 'crm', (p, ctx) => {
    const code = String(p.CODE ?? '');
    if (!ctx.portal.triggers.some((t) => t.CODE === code)) throw new RestError('ERROR_NOT_FOUND', 'Trigger not found', 400);
    const ownerTypeId = toInt(p.OWNER_TYPE_ID, 0);
    const ownerId = toInt(p.OWNER_ID, 0);
    const store = ctx.portal.items.get(ownerTypeId);
    if (!store || !store.has(ownerId)) throw new RestError('NOT_FOUND', 'Owner not found', 400);
    ctx.portal.triggerExecutions.push({ CODE: code, OWNER_TYPE_ID: ownerTypeId, OWNER_ID: ownerId, at: isoDate(ctx.portal.now()), userId: ctx.user.id });
    return { result: true };
  });
  // endregion ////
}

// region legacy helpers ////

/** Fields the legacy methods print; quotes use STATUS_ID for the stage and omit CONTACT_IDS (docs/reference/bitrix24.md#crm-object-types). */
function legacyDefs(et: number) {
  const hidden = new Set(['previousStageId', 'stageSemanticId', 'movedBy', 'movedTime', 'fm', ...(et === QUOTE ? ['contactIds'] : [])]);
  return SYSTEM_FIELDS[et]!.filter((d) => !hidden.has(d.key)).map((d) => (et === QUOTE && d.key === 'stageId' ? { ...d, upper: 'STATUS_ID' } : d));
}

function str(v: unknown, type: string): unknown {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => String(x));
  if (type === 'double') return Number(v).toFixed(2);
  return typeof v === 'number' ? String(v) : v;
}

function legacyRender(portal: Portal, item: CrmItem): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const d of legacyDefs(item.entityTypeId)) out[d.upper] = str(item.data[d.key], d.type);
  if (item.entityTypeId === COMPANY || item.entityTypeId === CONTACT) {
    // PHONE/EMAIL multifields (fixture rest.crm.contact.get.response.json).
    const fm = (item.data.fm as Array<{ id: number; valueType: string; value: string; typeId: string }> | undefined) ?? [];
    for (const type of ['PHONE', 'EMAIL', 'WEB', 'IM']) {
      const list = fm.filter((x) => x.typeId === type).map((x) => ({ ID: String(x.id), VALUE_TYPE: x.valueType, VALUE: x.value, TYPE_ID: x.typeId }));
      if (list.length) out[type] = list;
    }
    // Legacy names of the created/modified times (fixture rest.crm.company.get.response.json: DATE_CREATE, DATE_MODIFY).
    out.DATE_CREATE = item.data.createdTime;
    out.DATE_MODIFY = item.data.updatedTime;
    out.HAS_PHONE = fm.some((x) => x.typeId === 'PHONE') ? 'Y' : 'N';
    out.HAS_EMAIL = fm.some((x) => x.typeId === 'EMAIL') ? 'Y' : 'N';
  }
  for (const u of portal.ufsFor(item.entityTypeId)) out[u.fieldName] = item.uf[u.fieldName] ?? (u.multiple === 'Y' ? [] : '');
  return out;
}

function legacyInput(et: number, fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fm: Array<Record<string, unknown>> = [];
  for (const [k, v] of Object.entries(fields)) {
    if (['PHONE', 'EMAIL', 'WEB', 'IM'].includes(k) && Array.isArray(v)) {
      for (const x of v as Array<Record<string, unknown>>) fm.push({ typeId: k, valueType: x.VALUE_TYPE ?? 'WORK', value: x.VALUE, ...(x.ID !== undefined ? { ID: x.ID } : {}) });
      continue;
    }
    if (et === QUOTE && k === 'STATUS_ID') { out.stageId = v; continue; }
    out[k] = v;
  }
  if (fm.length) out.fm = fm;
  return out;
}

type Fm = Array<{ id?: number; ID?: unknown; typeId: string; valueType: string; value: unknown }>;

/**
 * Legacy update of PHONE/EMAIL/WEB/IM: a value with an ID changes that value (an empty VALUE deletes it), one without
 * an ID is added, the others stay. Source: docs/reference/bitrix24.md#customers-and-requisites (multifields).
 */
function mergeMultifields(current: Fm | undefined, given: Fm): Fm {
  const out = (current ?? []).map((x) => ({ ...x }));
  for (const g of given) {
    const id = toInt(g.ID ?? g.id, 0);
    const at = id ? out.findIndex((x) => x.id === id) : -1;
    if (at >= 0) {
      if (g.value === '' || g.value === null || g.value === undefined) out.splice(at, 1);
      else out[at] = { ...out[at]!, value: g.value, valueType: g.valueType ?? out[at]!.valueType };
    } else if (g.value !== '' && g.value !== null && g.value !== undefined) out.push({ typeId: g.typeId, valueType: g.valueType, value: g.value });
  }
  return out;
}

/** Mandatory user fields (MANDATORY=Y) refuse an add or update without a value. Wording unverified; code empty like other legacy errors. */
function requireMandatory(portal: Portal, et: number, input: Record<string, unknown>, item: CrmItem | null): void {
  for (const u of portal.ufsFor(et).filter((x) => x.mandatory === 'Y')) {
    const v = u.fieldName in input ? input[u.fieldName] : item?.uf[u.fieldName];
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) {
      throw new RestError('', `The "${u.editFormLabel?.en ?? u.fieldName}" field is required.`, 400);
    }
  }
}

function upperKeys(f: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k.toUpperCase(), v]));
}

function stringValues(f: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v === null || v === undefined ? null : typeof v === 'object' ? v : String(v)]));
}

function legacySelect(row: Record<string, unknown>, select: unknown): Record<string, unknown> {
  const clean = Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined));
  if (!Array.isArray(select) || select.length === 0 || select.includes('*')) {
    if (Array.isArray(select) && select.includes('*') && !select.includes('UF_*')) return Object.fromEntries(Object.entries(clean).filter(([k]) => !k.startsWith('UF_CRM_')));
    return clean;
  }
  const wanted = new Set(select.map((s) => String(s).toUpperCase()));
  return Object.fromEntries(Object.entries(clean).filter(([k]) => k === 'ID' || wanted.has(k) || (wanted.has('UF_*') && k.startsWith('UF_CRM_'))));
}

function legacyRow(row: ProductRow): Record<string, unknown> {
  return {
    ID: String(row.id), OWNER_ID: String(row.ownerId), OWNER_TYPE: row.ownerType, PRODUCT_ID: row.productId, PRODUCT_NAME: row.productName,
    ORIGINAL_PRODUCT_NAME: row.productName, PRODUCT_DESCRIPTION: '', PRICE: row.price, PRICE_EXCLUSIVE: row.priceExclusive, PRICE_NETTO: row.priceNetto,
    PRICE_BRUTTO: row.priceBrutto, PRICE_ACCOUNT: row.priceAccount.toFixed(8), QUANTITY: row.quantity, DISCOUNT_TYPE_ID: row.discountTypeId,
    DISCOUNT_RATE: row.discountRate, DISCOUNT_SUM: row.discountSum, TAX_RATE: row.taxRate, TAX_INCLUDED: row.taxIncluded, CUSTOMIZED: row.customized,
    MEASURE_CODE: row.measureCode, MEASURE_NAME: row.measureName, SORT: row.sort, XML_ID: row.xmlId, TYPE: row.type, STORE_ID: row.storeId,
    RESERVE_ID: null, DATE_RESERVE_END: null, RESERVE_QUANTITY: null,
  };
}

/** crm.{entity}.userfield.add {fields: {FIELD_NAME, USER_TYPE_ID, …}} → new id; FIELD_NAME gets the UF_CRM_ prefix. */
function legacyUfAdd(ctx: CallCtx, p: Params, entityId: string, maxLen: number) {
  if (!ctx.user.admin) throw new RestError('ACCESS_DENIED', 'Access denied!', 403);
  const fields = (p.fields ?? {}) as Record<string, unknown>;
  let name = String(fields.FIELD_NAME ?? '').toUpperCase();
  if (!name.startsWith('UF_CRM_')) name = `UF_CRM_${name}`;
  if (!/^UF_CRM_[A-Z0-9_]+$/.test(name) || name.length > maxLen) throw new RestError('', `Invalid field name ${name} (at most ${maxLen} characters incl. UF_CRM_)`, 400);
  if (ctx.portal.userFields.some((u) => u.entityId === entityId && u.fieldName === name)) throw new RestError('', `Field ${name} already exists`, 400);
  const id = String(ctx.portal.nextId('uf', 6953));
  ctx.portal.userFields.push({
    id, entityId, fieldName: name, userTypeId: String(fields.USER_TYPE_ID ?? 'string'), xmlId: (fields.XML_ID as string) ?? null, sort: String(fields.SORT ?? '100'),
    multiple: isYes(fields.MULTIPLE) ? 'Y' : 'N', mandatory: isYes(fields.MANDATORY) ? 'Y' : 'N', showFilter: 'N', showInList: 'Y', editInList: 'Y', isSearchable: 'N',
    settings: {}, editFormLabel: fields.EDIT_FORM_LABEL ? { en: String(fields.EDIT_FORM_LABEL) } : fields.LABEL ? { en: String(fields.LABEL) } : null,
    listColumnLabel: null, listFilterLabel: null, errorMessage: null, helpMessage: null,
  });
  return { result: Number(id) };
}

function legacyUfList(ctx: CallCtx, p: Params, entityId: string) {
  const filter = (p.filter ?? {}) as Record<string, unknown>;
  const rows = ctx.portal.userFields.filter((u) => u.entityId === entityId).map((u) => ({
    ID: u.id, ENTITY_ID: u.entityId, FIELD_NAME: u.fieldName, USER_TYPE_ID: u.userTypeId, XML_ID: u.xmlId, SORT: u.sort, MULTIPLE: u.multiple,
    MANDATORY: u.mandatory, SHOW_FILTER: u.showFilter, SHOW_IN_LIST: u.showInList, EDIT_IN_LIST: u.editInList, IS_SEARCHABLE: u.isSearchable, SETTINGS: u.settings,
  })).filter((u) => matches(filter, (f) => (u as Record<string, unknown>)[f.toUpperCase()]));
  return { result: rows };
}

export { OWNER_TYPE };
// endregion ////
