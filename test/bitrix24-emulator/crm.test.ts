import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startWorld, sdkClient, rest, fixture, type World } from './helpers.js';
import { SMART_INVOICE, QUOTE, COMPANY, CONTACT } from '../emulators/bitrix24/index.js';
import { ufCamelName } from '../emulators/bitrix24/model.js';

type Obj = Record<string, unknown>;

describe('Bitrix24 emulator: CRM, catalog, user fields and placements', () => {
  let w: World;
  let admin: string;
  let user: string;
  before(async () => { w = await startWorld({ seedDemo: true }); });
  after(async () => { await w.close(); });
  beforeEach(() => {
    w.emu.reset();
    const reg = w.emu.registerApp({ handlerUrl: `${w.handler.url}/b24/app`, installUrl: `${w.handler.url}/b24/install` });
    w.clientId = reg.clientId;
    w.clientSecret = reg.clientSecret;
    admin = w.emu.installSilently({ userId: 1 }).accessToken;
    user = w.emu.issueTokens(2).accessToken;
  });
  const call = async (method: string, params: Obj, token = admin) => rest(w.emu, method, params, token);

  test('when crm.item.get reads an invoice, then the envelope and common keys match the docs sample and stageSemanticId is set', async () => {
    const inv = w.emu.items(SMART_INVOICE)[0]!;
    const got = await call('crm.item.get', { entityTypeId: SMART_INVOICE, id: inv.id });
    const sample = fixture('rest.crm.item.get.response.json') as { result: { item: Obj } };
    assert.deepEqual(Object.keys(got.body), Object.keys(sample));
    const item = (got.body.result as { item: Obj }).item;
    const common = Object.keys(sample.result.item).filter((k) => k in item);
    for (const k of ['id', 'createdTime', 'updatedTime', 'createdBy', 'stageId', 'stageSemanticId', 'opportunity', 'currencyId', 'companyId', 'contactIds', 'observers', 'entityTypeId', 'movedTime']) assert.ok(common.includes(k), k);
    assert.equal(item.entityTypeId, 31);
    assert.equal(item.stageSemanticId, 'P');
    assert.equal(typeof item.accountNumber, 'string');
  });

  test('when stages are listed per invoice pipeline, then each has SEMANTICS null/S/F with one success stage, and quotes/classic invoices have their own directories', async () => {
    const cats = ((await call('crm.category.list', { entityTypeId: SMART_INVOICE })).body.result as { categories: Obj[] }).categories;
    assert.deepEqual(cats.map((c) => [c.id, c.isDefault]), [[2, 'Y'], [5, 'N']]);
    for (const c of cats) {
      const stages = (await call('crm.status.list', { filter: { ENTITY_ID: `SMART_INVOICE_STAGE_${String(c.id)}` } })).body.result as Obj[];
      assert.ok(stages.length >= 3);
      assert.equal(stages.filter((s) => s.SEMANTICS === 'S').length, 1);
      assert.ok(stages.some((s) => s.SEMANTICS === 'F'));
      assert.ok(stages.every((s) => String(s.STATUS_ID).startsWith(`DT31_${String(c.id)}:`) && !('EXTRA' in s)));
    }
    const sample = fixture('rest.crm.status.list.stages-with-semantics.smart-process.response.json') as { result: Obj[] };
    const stage = ((await call('crm.status.list', { filter: { ENTITY_ID: 'SMART_INVOICE_STAGE_2' } })).body.result as Obj[])[0]!;
    assert.deepEqual(Object.keys(stage).sort(), Object.keys(sample.result[0]!).sort());
    const quotes = (await call('crm.status.list', { filter: { ENTITY_ID: 'QUOTE_STATUS' } })).body.result as Obj[];
    assert.deepEqual(quotes.map((s) => [s.STATUS_ID, s.SEMANTICS, (s.EXTRA as Obj).SEMANTICS]), [['DRAFT', null, 'process'], ['SENT', null, 'process'], ['APPROVED', 'S', 'success'], ['DECLAINED', 'F', 'failure']]);
    const classic = (await call('crm.status.list', { filter: { ENTITY_ID: 'INVOICE_STATUS' } })).body.result as Obj[];
    assert.deepEqual(classic.map((s) => [s.STATUS_ID, s.SEMANTICS]), [['N', null], ['S', null], ['P', 'S'], ['D', 'F']]);
  });

  test('when an invoice moves to the success stage, then stageSemanticId, previousStageId and movedBy follow; a stage of another pipeline is refused', async () => {
    const inv = w.emu.actAs(1).createSmartInvoice({ categoryId: 5 });
    assert.equal(inv.stageId, 'DT31_5:N');
    const { b24 } = sdkClient(w, 2);
    const moved = await b24.actions.v2.call.make({ method: 'crm.item.update', params: { entityTypeId: SMART_INVOICE, id: inv.id, fields: { stageId: 'DT31_5:UC_PAID01' } } });
    const item = (moved.getData()!.result as { item: Obj }).item;
    assert.deepEqual([item.stageId, item.stageSemanticId, item.previousStageId, item.movedBy], ['DT31_5:UC_PAID01', 'S', 'DT31_5:N', 2]);
    const wrong = await call('crm.item.update', { entityTypeId: SMART_INVOICE, id: inv.id, fields: { stageId: 'DT31_2:P' } });
    assert.equal(wrong.status, 400);
    const quote = w.emu.actAs(1).moveStage(QUOTE, w.emu.items(QUOTE)[0]!.id as number, 'DECLAINED');
    assert.equal(quote.stageSemanticId, 'F');
  });

  test('when a user field is created with userfieldconfig.add, then crm.item.fields maps it and items read and write it (camelCase and original names)', async () => {
    const denied = await call('userfieldconfig.add', { moduleId: 'crm', field: { entityId: 'CRM_SMART_INVOICE', fieldName: 'UF_CRM_SMART_INVOICE_XERO_ID', userTypeId: 'string' } }, user);
    assert.equal(denied.status, 403);
    const added = await call('userfieldconfig.add', { moduleId: 'crm', field: { entityId: 'CRM_SMART_INVOICE', fieldName: 'UF_CRM_SMART_INVOICE_XERO_ID', userTypeId: 'string', editFormLabel: { en: 'Xero invoice ID' } } });
    const field = (added.body.result as { field: Obj }).field;
    assert.deepEqual(Object.keys(field).sort(), Object.keys((fixture('rest.userfieldconfig.add.response.json') as { result: { field: Obj } }).result.field).filter((k) => k !== 'enum' && k !== 'languageId').sort());
    assert.equal((await call('userfieldconfig.add', { moduleId: 'crm', field: { entityId: 'CRM_SMART_INVOICE', fieldName: 'UF_CRM_SMART_INVOICE_XERO_ID', userTypeId: 'string' } })).status, 400);
    assert.equal((await call('userfieldconfig.add', { moduleId: 'crm', field: { entityId: 'CRM_SMART_INVOICE', fieldName: 'xero_id', userTypeId: 'string' } })).status, 400);
    const fields = ((await call('crm.item.fields', { entityTypeId: SMART_INVOICE })).body.result as { fields: Record<string, Obj> }).fields;
    const key = Object.keys(fields).find((k) => fields[k]!.upperName === 'UF_CRM_SMART_INVOICE_XERO_ID')!;
    assert.ok(key && key !== 'UF_CRM_SMART_INVOICE_XERO_ID');
    assert.equal(fields[key]!.isDynamic, true);
    const inv = w.emu.items(SMART_INVOICE)[0]!;
    await call('crm.item.update', { entityTypeId: SMART_INVOICE, id: inv.id, fields: { [key]: 'xero-uuid-1' } });
    const got = ((await call('crm.item.get', { entityTypeId: SMART_INVOICE, id: inv.id })).body.result as { item: Obj }).item;
    assert.equal(got[key], 'xero-uuid-1');
    const original = ((await call('crm.item.get', { entityTypeId: SMART_INVOICE, id: inv.id, useOriginalUfNames: 'Y' })).body.result as { item: Obj }).item;
    assert.equal(original.UF_CRM_SMART_INVOICE_XERO_ID, 'xero-uuid-1');
    const filtered = (await call('crm.item.list', { entityTypeId: SMART_INVOICE, filter: { [key]: 'xero-uuid-1' } })).body.result as { items: Obj[] };
    assert.deepEqual(filtered.items.map((i) => i.id), [inv.id]);
    const listed = ((await call('userfieldconfig.list', { moduleId: 'crm', filter: { entityId: 'CRM_SMART_INVOICE' } })).body.result as { fields: Obj[] }).fields;
    assert.deepEqual(listed.map((f) => f.fieldName), ['UF_CRM_SMART_INVOICE_XERO_ID']);
  });

  test('when UF names are converted to camelCase, then the documented examples hold', () => {
    assert.equal(ufCamelName('UF_CRM_10_DIGIT'), 'ufCrm10Digit');
    assert.equal(ufCamelName('UF_CRM_3_1747309727'), 'ufCrm3_1747309727');
    assert.equal(ufCamelName('UF_CRM_3_DIGIT10'), 'ufCrm_3_DIGIT10');
    assert.equal(ufCamelName('UF_CRM_1747309879'), 'ufCrm_1747309879');
    assert.equal(ufCamelName('UF_CRM_SMART_INVOICE_1735207439444'), 'ufCrm_SMART_INVOICE_1735207439444');
  });

  test('when a filter names an unknown field, then crm.item.list answers INVALID_ARG_VALUE like the docs sample', async () => {
    const bad = await call('crm.item.list', { entityTypeId: SMART_INVOICE, filter: { FIELD: 1 } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body, fixture('rest.crm.item.list.error.INVALID_ARG_VALUE.response.json'));
    const classic = await call('crm.item.list', { entityTypeId: 5 });
    assert.equal(classic.body.error, 'ENTITY_TYPE_NOT_SUPPORTED');
  });

  test('when product rows are set, then per-unit prices follow the docs arithmetic, the amount is recomputed and a missing owner is OWNER_NOT_FOUND', async () => {
    const inv = w.emu.actAs(1).createSmartInvoice({});
    const set = await call('crm.item.productrow.set', { ownerType: 'SI', ownerId: inv.id, productRows: [
      { productName: 'iphone 14', price: 90000, quantity: 3, discountTypeId: 2, discountRate: 10, taxRate: 10, taxIncluded: 'Y' },
      { productId: 0, productName: 'free text', price: 5550, quantity: 1, taxRate: null },
    ] });
    const rows = (set.body.result as { productRows: Obj[] }).productRows;
    const sample = (fixture('rest.crm.item.productrow.list.response.json') as { result: { productRows: Obj[] } }).result.productRows[0]!;
    assert.deepEqual(Object.keys(rows[0]!).sort(), Object.keys(sample).sort());
    for (const k of ['price', 'priceExclusive', 'priceNetto', 'priceBrutto', 'discountSum', 'taxRate']) assert.equal(rows[0]![k], sample[k], k);
    assert.equal(rows[0]!.ownerType, 'SI');
    const listed = (await call('crm.item.productrow.list', { filter: { '=ownerType': 'SI', '=ownerId': inv.id } })).body;
    assert.equal((listed.result as { productRows: Obj[] }).productRows.length, 2);
    const item = ((await call('crm.item.get', { entityTypeId: SMART_INVOICE, id: inv.id })).body.result as { item: Obj }).item;
    assert.equal(item.opportunity, 90000 * 3 + 5550);
    assert.equal(item.taxValue, Math.round((90000 - 81818.18) * 3 * 100) / 100);
    const missing = await call('crm.item.productrow.set', { ownerType: 'SI', ownerId: 99999, productRows: [] });
    assert.deepEqual(missing.body, fixture('rest.crm.item.productrow.add.error.OWNER_NOT_FOUND.response.json'));
    const quoteId = w.emu.items(QUOTE)[0]!.id;
    const legacy = (await call('crm.quote.productrows.get', { id: quoteId })).body.result as Obj[];
    assert.deepEqual(Object.keys(legacy[0]!).sort(), Object.keys((fixture('rest.crm.quote.productrows.get.response.json') as { result: Obj[] }).result[0]!).sort());
  });

  test('when a product gets a custom property value, then catalog.product.get shows propertyN {value, valueId} and an update keeps the valueId', async () => {
    const prop = ((await call('catalog.productProperty.add', { fields: { iblockId: 23, name: 'Xero account code', propertyType: 'S', code: 'XERO_ACCOUNT' } })).body.result as { productProperty: Obj }).productProperty;
    assert.deepEqual(Object.keys(prop).sort(), Object.keys((fixture('rest.catalog.productProperty.add.response.json') as { result: { productProperty: Obj } }).result.productProperty).sort());
    const productId = w.emu.products()[0]!.id as number;
    await call('catalog.product.update', { id: productId, fields: { [`property${String(prop.id)}`]: { value: '200' } } });
    const p1 = ((await call('catalog.product.get', { id: productId })).body.result as { product: Obj }).product;
    const v1 = p1[`property${String(prop.id)}`] as { value: string; valueId: string };
    assert.equal(v1.value, '200');
    await call('catalog.product.update', { id: productId, fields: { [`property${String(prop.id)}`]: { valueId: v1.valueId, value: '210' } } });
    const p2 = ((await call('catalog.product.get', { id: productId })).body.result as { product: Obj }).product;
    assert.deepEqual(p2[`property${String(prop.id)}`], { value: '210', valueId: v1.valueId });
    const props = ((await call('catalog.productProperty.list', { filter: { iblockId: 23 } })).body.result as { productProperties: Obj[] }).productProperties;
    assert.deepEqual(props.map((x) => x.code), ['XERO_ACCOUNT']);
    const noIblock = await call('catalog.product.list', { select: ['id', 'name'] });
    assert.equal(noIblock.status, 400);
    const list = ((await call('catalog.product.list', { select: ['id', 'iblockId', 'name', `property${String(prop.id)}`], filter: { iblockId: 23 } })).body.result as { products: Obj[] }).products;
    assert.equal(list.length, 4);
    assert.deepEqual(Object.keys(list[0]!).sort(), ['iblockId', 'id', 'name', `property${String(prop.id)}`].sort());
    assert.equal(((await call('catalog.catalog.list', {})).body.result as { catalogs: Obj[] }).catalogs[0]!.iblockId, 23);
  });

  test('when a classic invoice is created and paid, then crm.invoice.* show PRODUCT_ROWS, STATUS_ID, PAYED and ONCRMINVOICESETSTATUS fires', async () => {
    await call('event.bind', { event: 'ONCRMINVOICESETSTATUS', handler: `${w.handler.url}/b24/events` });
    w.handler.received.length = 0;
    const id = (await call('crm.invoice.add', { fields: { ORDER_TOPIC: 'Consulting', CURRENCY: 'EUR', PRODUCT_ROWS: [{ PRODUCT_ID: 0, PRODUCT_NAME: 'Hours', PRICE: 100, QUANTITY: 2, VAT_RATE: 0.2, VAT_INCLUDED: 'N' }] } })).body.result as number;
    const inv = (await call('crm.invoice.get', { id })).body.result as Obj;
    assert.deepEqual([inv.STATUS_ID, inv.PRICE, inv.TAX_VALUE, inv.PAYED], ['N', '240.00', '40.00', 'N']);
    assert.equal((inv.PRODUCT_ROWS as Obj[])[0]!.VAT_RATE, 0.2);
    assert.equal((await call('crm.invoice.update', { id, fields: { STATUS_ID: 'P' } })).body.result, true);
    assert.equal(((await call('crm.invoice.get', { id })).body.result as Obj).PAYED, 'Y');
    await w.emu.flushEvents();
    assert.deepEqual(w.handler.received.map((r) => [r.body.event, (r.body.data as { FIELDS: Obj }).FIELDS.ID]), [['ONCRMINVOICESETSTATUS', String(id)]]);
    const listed = (await call('crm.invoice.list', { filter: { STATUS_ID: 'P' }, select: ['ID', 'STATUS_ID'] })).body;
    assert.deepEqual(listed.result, [{ ID: String(id), STATUS_ID: 'P' }]);
    assert.equal((await call('crm.invoice.add', { fields: { CURRENCY: 'EUR' } })).body.error, '');
    assert.equal((await call('crm.invoice.userfield.add', { fields: { FIELD_NAME: 'XERO_INVOICE_ID', USER_TYPE_ID: 'string' } })).status, 400, 'longer than 20 characters with UF_CRM_');
    assert.equal(typeof (await call('crm.invoice.userfield.add', { fields: { FIELD_NAME: 'XERO_ID', USER_TYPE_ID: 'string' } })).body.result, 'number');
    await call('crm.invoice.update', { id, fields: { UF_CRM_XERO_ID: 'abc' } });
    assert.equal(((await call('crm.invoice.get', { id })).body.result as Obj).UF_CRM_XERO_ID, 'abc');
  });

  test('when legacy quote/company/contact methods read the same data, then fields are UPPER_CASE with STATUS_ID and multifields', async () => {
    const quoteId = w.emu.items(QUOTE)[1]!.id;
    const q = (await call('crm.quote.get', { id: quoteId })).body.result as Obj;
    assert.equal(q.STATUS_ID, 'SENT');
    assert.equal(q.ID, String(quoteId));
    assert.equal('CONTACT_IDS' in q, false);
    assert.deepEqual((await call('crm.quote.get', { id: 9999 })).body, fixture('rest.crm.quote.get.error.not-found.response.json'));
    const company = (await call('crm.company.get', { id: w.emu.items(COMPANY)[0]!.id })).body.result as Obj;
    assert.equal((company.EMAIL as Obj[])[0]!.VALUE, 'accounts@northwind.example');
    const contactId = (await call('crm.contact.add', { fields: { NAME: 'Dan', LAST_NAME: 'Brown', EMAIL: [{ VALUE: 'dan@example.com', VALUE_TYPE: 'WORK' }] } })).body.result as number;
    const viaItem = w.emu.items(CONTACT).find((c) => c.id === contactId)!;
    assert.equal(viaItem.emailWork, 'dan@example.com');
    const reqs = (await call('crm.requisite.list', { filter: { ENTITY_TYPE_ID: 4, ENTITY_ID: w.emu.items(COMPANY)[0]!.id } })).body.result as Obj[];
    assert.equal(reqs[0]!.RQ_VAT_ID, 'GB123456789');
  });

  test('when placements are bound, then placement.get lists them; non-admins and foreign hosts are refused', async () => {
    assert.ok(((await call('placement.list', {})).body.result as string[]).includes('CRM_SMART_INVOICE_DETAIL_TAB'));
    assert.equal((await call('placement.bind', { PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', HANDLER: `${w.handler.url}/b24/tab`, TITLE: 'Xero' }, user)).status, 403);
    assert.equal((await call('placement.bind', { PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', HANDLER: 'http://other.example/tab', TITLE: 'Xero' })).status, 400);
    assert.equal((await call('placement.bind', { PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', HANDLER: `${w.handler.url}/b24/tab`, TITLE: 'Xero' })).body.result, true);
    const got = (await call('placement.get', {})).body.result as Obj[];
    assert.deepEqual(Object.keys(got[0]!).sort(), Object.keys((fixture('rest.placement.get.response.json') as { result: Obj[] }).result[0]!).sort());
    assert.deepEqual((await call('placement.unbind', { PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', HANDLER: `${w.handler.url}/b24/tab` })).body.result, { count: 1 });
  });

  test('when the connector registers and fires an automation trigger and adds a timeline comment, then the portal records both', async () => {
    assert.equal((await call('crm.automation.trigger.add', { CODE: 'xero_paid', NAME: 'Paid in Xero' })).body.result, true);
    const inv = w.emu.items(SMART_INVOICE)[0]!;
    assert.equal((await call('crm.automation.trigger.execute', { CODE: 'xero_paid', OWNER_TYPE_ID: 31, OWNER_ID: inv.id })).body.result, true);
    assert.equal((await call('crm.automation.trigger.execute', { CODE: 'nope', OWNER_TYPE_ID: 31, OWNER_ID: inv.id })).status, 400);
    assert.deepEqual(w.emu.triggerExecutions().map((t) => [t.CODE, t.OWNER_TYPE_ID, t.OWNER_ID]), [['xero_paid', 31, inv.id]]);
    const cid = (await call('crm.timeline.comment.add', { fields: { ENTITY_ID: inv.id, ENTITY_TYPE: 'dynamic_31', COMMENT: 'Sent to Xero' } })).body.result;
    assert.equal(typeof cid, 'number');
    assert.equal(w.emu.timelineComments()[0]!.COMMENT, 'Sent to Xero');
  });

  test('when an invoice has 60 product rows, then the SDK keyset list over crm.item.productrow.list returns every row once', async () => {
    const inv = w.emu.actAs(1).createSmartInvoice({});
    w.emu.actAs(1).setProductRows(SMART_INVOICE, inv.id as number, Array.from({ length: 60 }, (_, i) => ({ productName: `Row ${i}`, price: 1, quantity: 1 })));
    const { b24 } = sdkClient(w, 1);
    const all = await b24.actions.v2.callList.make({ method: 'crm.item.productrow.list', params: { filter: { '=ownerType': 'SI', '=ownerId': inv.id } }, idKey: 'id', customKeyForResult: 'productRows' });
    const rows = all.getData() as Array<{ id: number }>;
    assert.equal(rows.length, 60);
    assert.equal(new Set(rows.map((r) => r.id)).size, 60);
  });

  test('when product rows arrive form-encoded with bracketed keys, then 25 rows stay a list of 25 rows', async () => {
    const inv = w.emu.actAs(1).createSmartInvoice({});
    const form = new URLSearchParams({ auth: admin, ownerType: 'SI', ownerId: String(inv.id) });
    for (let i = 0; i < 25; i++) { form.set(`productRows[${i}][productName]`, `Row ${i}`); form.set(`productRows[${i}][price]`, '2'); form.set(`productRows[${i}][quantity]`, '1'); }
    const res = await fetch(`${w.emu.clientEndpoint}crm.item.productrow.set`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    assert.equal(((await res.json()) as { result: { productRows: unknown[] } }).result.productRows.length, 25);
    assert.equal(w.emu.items(SMART_INVOICE).find((x) => x.id === inv.id)!.opportunity, 50);
  });
});
