import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startWorld, rest, reinstall, type World } from './helpers.js';

type Obj = Record<string, unknown>;

describe('Bitrix24 emulator: company and contact writes, requisites and addresses', () => {
  let w: World;
  let admin: string;
  before(async () => { w = await startWorld({ seedDemo: false }); });
  after(async () => { await w.close(); });
  beforeEach(() => { admin = reinstall(w); });
  const call = async (method: string, params: Obj) => rest(w.emu, method, params, admin);

  test('when companies are read by keyset pages (start -1, >ID), then the pages hold the same rows as the offset pages, and a filter still applies', async () => {
    for (let i = 0; i < 120; i++) w.emu.actAs(1).createCompany({ title: i % 3 ? `Keyset ${i}` : `Other ${i}` });
    const select = ['ID', 'TITLE'];
    const offset: Obj[] = [];
    for (let start = 0; ; start += 50) {
      const body = (await call('crm.company.list', { select, order: { ID: 'ASC' }, filter: { '%TITLE': 'Keyset' }, start })).body as { result: Obj[]; next?: number };
      offset.push(...body.result);
      if (body.next === undefined) break;
    }
    const keyset: Obj[] = [];
    for (let last = 0; ;) {
      const rows = (await call('crm.company.list', { select, order: { ID: 'ASC' }, filter: { '%TITLE': 'Keyset', '>ID': last }, start: -1 })).body.result as Obj[];
      keyset.push(...rows);
      if (rows.length < 50) break;
      last = Number(rows.at(-1)!.ID);
    }
    assert.equal(offset.length, 80);
    assert.deepEqual(keyset, offset);
  });

  test('when a company is added with ORIGIN_ID and phones, then list finds it by ORIGIN_ID and an update by phone ID changes only that phone', async () => {
    const add = await call('crm.company.add', { fields: { TITLE: 'Acme', ORIGINATOR_ID: 'xero', ORIGIN_ID: 'abc', PHONE: [{ VALUE: '111', VALUE_TYPE: 'WORK' }, { VALUE: '222', VALUE_TYPE: 'MOBILE' }] } });
    const id = add.body.result as number;
    const found = (await call('crm.company.list', { filter: { ORIGIN_ID: 'abc' }, select: ['ID', 'PHONE', 'ORIGIN_ID'] })).body.result as Obj[];
    assert.equal(found.length, 1);
    const phones = found[0]!.PHONE as Obj[];
    assert.deepEqual(phones.map((p) => p.VALUE), ['111', '222']);
    await call('crm.company.update', { id, fields: { PHONE: [{ ID: phones[0]!.ID, VALUE: '333' }, { VALUE: '444' }] } });
    const got = (await call('crm.company.get', { id })).body.result as Obj;
    assert.deepEqual((got.PHONE as Obj[]).map((p) => p.VALUE).sort(), ['222', '333', '444']);
    await call('crm.company.update', { id, fields: { PHONE: [{ ID: phones[1]!.ID, VALUE: '' }] } });
    assert.deepEqual((((await call('crm.company.get', { id })).body.result as Obj).PHONE as Obj[]).map((p) => p.VALUE).sort(), ['333', '444']);
  });

  test('when a requisite and its address are added, then list methods show them and a second address of the same type is refused', async () => {
    const company = (await call('crm.company.add', { fields: { TITLE: 'Acme' } })).body.result as number;
    const missing = await call('crm.requisite.add', { fields: { ENTITY_TYPE_ID: 4, ENTITY_ID: company, NAME: 'Acme' } });
    assert.equal(missing.status, 400);
    const rq = (await call('crm.requisite.add', { fields: { ENTITY_TYPE_ID: 4, ENTITY_ID: company, PRESET_ID: 1, NAME: 'Acme', RQ_VAT_ID: 'NZ-1' } })).body.result as number;
    assert.ok(rq > 0);
    await call('crm.requisite.update', { id: rq, fields: { RQ_VAT_ID: 'NZ-2' } });
    const list = (await call('crm.requisite.list', { filter: { ENTITY_TYPE_ID: 4, ENTITY_ID: company } })).body.result as Obj[];
    assert.equal(list[0]!.RQ_VAT_ID, 'NZ-2');
    const addr = await call('crm.address.add', { fields: { TYPE_ID: 1, ENTITY_TYPE_ID: 8, ENTITY_ID: rq, ADDRESS_1: '1 Queen St', CITY: 'Auckland' } });
    assert.equal(addr.body.result, true);
    assert.equal((await call('crm.address.add', { fields: { TYPE_ID: 1, ENTITY_TYPE_ID: 8, ENTITY_ID: rq, CITY: 'X' } })).status, 400);
    await call('crm.address.update', { fields: { TYPE_ID: 1, ENTITY_TYPE_ID: 8, ENTITY_ID: rq, CITY: 'Wellington' } });
    const addresses = (await call('crm.address.list', { filter: { ENTITY_ID: String(rq) } })).body.result as Obj[];
    assert.deepEqual(addresses.map((a) => [a.ADDRESS_1, a.CITY]), [['1 Queen St', 'Wellington']]);
  });

  test('when contacts have a mandatory user field, then an add without it is refused naming the field', async () => {
    await call('crm.contact.userfield.add', { fields: { FIELD_NAME: 'SOURCE', USER_TYPE_ID: 'string', MANDATORY: 'Y', EDIT_FORM_LABEL: 'Source' } });
    const refused = await call('crm.contact.add', { fields: { NAME: 'Jane' } });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.error_description), /Source/);
    const ok = await call('crm.contact.add', { fields: { NAME: 'Jane', UF_CRM_SOURCE: 'web' } });
    assert.ok(Number(ok.body.result) > 0);
  });
});
