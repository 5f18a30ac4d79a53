// The "Bitrix24 is the master for contact details" setting: saved by an admin through the settings API (a non-admin's
// save is refused server-side), and it stops Xero's changes to linked contacts from overwriting Bitrix24.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { portalSettings } from '../../app/sync/settings.js';
import { statusBed, type StatusBed } from '../statuses/bed.js';
import { importAll, seedXeroContacts } from './bed.js';

const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });

/** The page session the app page hands that user's scripts (confirmed with the portal). */
async function sessionOf(bed: StatusBed, userId: number): Promise<string> {
  const html = await (await fetch(`${bed.c.url}/app`, form(bed.b24.frameAuth(userId)))).text();
  return /data-session="([^"]+)"/.exec(html)![1]!;
}

const save = (bed: StatusBed, session: string, body: unknown) =>
  fetch(`${bed.c.url}/api/settings`, { method: 'PUT', headers: { 'content-type': 'application/json', 'X-Connector-Session': session }, body: JSON.stringify(body) });

const phonesOf = (bed: StatusBed, companyId: unknown) =>
  (bed.b24.items(4).find((c) => c.id === companyId)!.fm as { typeId: string; value: string }[]).filter((f) => f.typeId === 'PHONE').map((f) => f.value);

async function importedCompany(bed: StatusBed) {
  bed.xero.configureWebhook({ url: `${bed.c.url}/xero/webhooks` });
  seedXeroContacts(bed, 2, 0);
  await importAll(bed, { what: ['companies'] });
  await bed.xero.flushWebhooks();
  await bed.c.services.outbox.drain();
  const company = bed.b24.items(4).find((c) => c.title === 'Org 00000 Ltd')!;
  return { company, link: (await bed.c.store.links.find(bed.memberId, 'company', String(company.id)))! };
}

describe('Bitrix24 as the master for contact details', () => {
  it('when an admin turns the setting on, then a phone changed in Xero on a linked company does not overwrite Bitrix24, Xero gets the Bitrix24 phone back once, and a later Bitrix24 change still reaches Xero', async () => {
    const bed = await statusBed();
    const { company, link } = await importedCompany(bed);
    const before = phonesOf(bed, company.id);
    const saved = await save(bed, await sessionOf(bed, 1), { bitrixMasterForContacts: true });
    assert.equal(saved.status, 200, await saved.clone().text());
    assert.equal(((await saved.json()) as { settings: { bitrixMasterForContacts: boolean } }).settings.bitrixMasterForContacts, true);
    bed.xero.resetCounters();

    bed.xero.updateContact(bed.tenantId, link.xeroId, { Phones: [{ PhoneType: 'DEFAULT', PhoneNumber: '777 0000', PhoneAreaCode: '4', PhoneCountryCode: '64' }] });
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    assert.deepEqual(phonesOf(bed, company.id), before, 'Bitrix24 keeps its phone');
    assert.equal(bed.b24.callLog.filter((c) => /^crm\.(company|contact)\.update$/.test(c.method)).length, 0, 'no Bitrix24 write');
    assert.equal(bed.xero.callCount('POST /Contacts'), 1, 'Xero set back once');
    const xeroPhone = () => (bed.xero.contacts(bed.tenantId).find((c) => String(c.ContactID).toLowerCase() === link.xeroId)!.Phones as { PhoneType: string; PhoneNumber: string }[]).find((p) => p.PhoneType === 'DEFAULT')!.PhoneNumber;
    assert.equal(xeroPhone(), before[0]);
    assert.match((await bed.c.store.activity.list({ memberId: bed.memberId, limit: 5 })).map((a) => a.message).join(' '), /set back to the Bitrix24 values/);
    // The webhook of that write and the poll find nothing more to do: no echo either way.
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    assert.equal((await bed.c.services.syncContacts.pollConnection(bed.connectionId)).updated, 0, 'the poll writes nothing either');
    assert.equal(bed.xero.callCount('POST /Contacts'), 1, 'no second Xero write');

    bed.b24.actAs(1).updateItem(4, Number(company.id), { title: 'Org Zero Master Ltd' });
    await bed.b24.flushEvents();
    await bed.c.services.outbox.drain();
    assert.equal(bed.xero.contacts(bed.tenantId).find((c) => String(c.ContactID).toLowerCase() === link.xeroId)!.Name, 'Org Zero Master Ltd');
  });

  it('when the setting is off (the default), then the same Xero phone change reaches Bitrix24', async () => {
    const bed = await statusBed();
    const { company, link } = await importedCompany(bed);
    assert.equal((await portalSettings(bed.c.store, bed.memberId)).bitrixMasterForContacts, false);
    bed.xero.updateContact(bed.tenantId, link.xeroId, { Phones: [{ PhoneType: 'DEFAULT', PhoneNumber: '777 0000', PhoneAreaCode: '4', PhoneCountryCode: '64' }] });
    await bed.xero.flushWebhooks();
    await bed.c.services.outbox.drain();
    assert.deepEqual(phonesOf(bed, company.id), ['+64 4 777 0000']);
  });

  it('when a user who is not a portal admin saves the setting through the API, then it is refused with 403 and stays off', async () => {
    const bed = await statusBed();
    assert.equal(bed.b24.portal.user(2).admin, false);
    const refused = await save(bed, await sessionOf(bed, 2), { bitrixMasterForContacts: true });
    assert.equal(refused.status, 403);
    assert.equal((await portalSettings(bed.c.store, bed.memberId)).bitrixMasterForContacts, false);
  });

  it('when the setting is saved with a value that is not true or false, then it is refused naming the field', async () => {
    const bed = await statusBed();
    const refused = await save(bed, await sessionOf(bed, 1), { bitrixMasterForContacts: 'yes' });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /bitrixMasterForContacts/);
    assert.equal((await portalSettings(bed.c.store, bed.memberId)).bitrixMasterForContacts, false);
  });
});
