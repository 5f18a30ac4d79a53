import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startWorld, sdkClient, rest, fixture, keyPaths, type World } from './helpers.js';
import { SMART_INVOICE, QUOTE } from '../emulators/bitrix24/index.js';

describe('Bitrix24 emulator: installation and events', () => {
  let w: World;
  let token: string;
  before(async () => { w = await startWorld(); });
  after(async () => { await w.close(); });
  beforeEach(async () => {
    w.emu.reset();
    w.handler.received.length = 0;
    const reg = w.emu.registerApp({ handlerUrl: `${w.handler.url}/b24/app`, installUrl: `${w.handler.url}/b24/install` });
    w.clientId = reg.clientId;
    w.clientSecret = reg.clientSecret;
  });

  const bind = async (event: string, extra: Record<string, unknown> = {}, userToken = token) =>
    rest(w.emu, 'event.bind', { event, handler: `${w.handler.url}/b24/events`, ...extra }, userToken);

  async function installWithUi(): Promise<Record<string, unknown>> {
    const answer = await w.emu.install({ userId: 1 });
    assert.equal(answer.status, 200);
    const post = w.handler.received.at(-1)!;
    token = String(post.body.AUTH_ID);
    return { ...post.query, ...post.body };
  }

  test('when the app is installed with UI, then the installer gets the Bitrix24 POST (query DOMAIN/PROTOCOL/LANG/APP_SID, form tokens) and INSTALLED waits for installFinish', async () => {
    const post = await installWithUi();
    const sample = fixture('app-page.post.json');
    for (const key of Object.keys(sample)) assert.ok(key in post, `installer POST lacks ${key}`);
    const received = w.handler.received.at(-1)!;
    assert.match(received.contentType, /application\/x-www-form-urlencoded/);
    assert.deepEqual(Object.keys(received.query).sort(), ['APP_SID', 'DOMAIN', 'LANG', 'PROTOCOL']);
    assert.equal(`${post.PROTOCOL === '1' ? 'https' : 'http'}://${String(post.DOMAIN)}/rest/`, w.emu.clientEndpoint);
    assert.equal(post.DOMAIN, w.emu.domain);
    assert.equal(post.PROTOCOL, '0');
    assert.equal(post.PLACEMENT, 'DEFAULT');
    assert.equal(post.status, 'L');
    assert.equal(post.member_id, w.emu.memberId);
    assert.equal(((await rest(w.emu, 'app.info', {}, token)).body.result as { INSTALLED: boolean }).INSTALLED, false);
    w.emu.finishInstall();
    assert.equal(((await rest(w.emu, 'app.info', {}, token)).body.result as { INSTALLED: boolean }).INSTALLED, true);
    assert.throws(() => w.emu.finishInstall());
  });

  test('when an API-only app is added, then ONAPPINSTALL with tokens is POSTed to the installation path, shaped like the docs sample', async () => {
    const answer = await w.emu.installApiOnly();
    assert.equal(answer.status, 200);
    const got = w.handler.received.at(-1)!;
    assert.equal(got.path, '/b24/install');
    assert.deepEqual(keyPaths(got.body), keyPaths(fixture('event.ONAPPINSTALL.json')));
    assert.equal((got.body.auth as Record<string, string>).application_token, w.emu.app()!.applicationToken);
    assert.equal(w.emu.app()!.installed, true);
  });

  test('when a user edits a smart invoice, then the bound handler gets a form POST like the ONCRMDYNAMICITEMUPDATE sample with ENTITY_TYPE_ID 31', async () => {
    await installWithUi();
    assert.equal((await bind('ONCRMDYNAMICITEMUPDATE')).body.result, true);
    w.emu.finishInstall();
    const inv = w.emu.actAs(1).createSmartInvoice({ title: 'Edited by a user' });
    w.emu.actAs(2).updateItem(SMART_INVOICE, inv.id as number, { title: 'Edited again' });
    await w.emu.flushEvents();
    const events = w.handler.received.filter((r) => r.path === '/b24/events');
    assert.equal(events.length, 1);
    const ev = events[0]!;
    assert.match(ev.contentType, /^application\/x-www-form-urlencoded/);
    assert.ok(ev.raw.includes('data%5BFIELDS%5D%5BID%5D='), 'keys are bracketed and percent-encoded on the wire');
    assert.deepEqual(keyPaths(ev.body), keyPaths(fixture('event.ONCRMDYNAMICITEMUPDATE.json')));
    assert.equal(ev.body.event, 'ONCRMDYNAMICITEMUPDATE');
    assert.deepEqual((ev.body.data as Record<string, unknown>).FIELDS, { ID: String(inv.id), ENTITY_TYPE_ID: '31' });
    const auth = ev.body.auth as Record<string, string>;
    assert.equal(auth.application_token, w.emu.app()!.applicationToken);
    assert.equal(auth.member_id, w.emu.memberId);
    assert.equal(auth.client_endpoint, w.emu.clientEndpoint);
    assert.equal(ev.body.event_handler_id, String(w.emu.bindings()[0]!.id));
    // The token in the event belongs to the user who made the change (auth_type 0).
    const profile = await rest(w.emu, 'profile', {}, auth.access_token!);
    assert.equal((profile.body.result as { ID: string }).ID, '2');
  });

  test('when the connector writes through REST, then its own change comes back as an echo event', async () => {
    await installWithUi();
    await bind('ONCRMDYNAMICITEMUPDATE');
    await bind('ONCRMQUOTEUPDATE');
    w.emu.finishInstall();
    const inv = w.emu.actAs(1).createSmartInvoice({});
    const quote = w.emu.actAs(1).createQuote({});
    const { b24 } = sdkClient(w, 1);
    await b24.actions.v2.call.make({ method: 'crm.item.update', params: { entityTypeId: SMART_INVOICE, id: inv.id, fields: { comments: 'from the connector' } } });
    await b24.actions.v2.call.make({ method: 'crm.item.update', params: { entityTypeId: QUOTE, id: quote.id, fields: { comments: 'from the connector' } } });
    await w.emu.flushEvents();
    const got = w.handler.received.filter((r) => r.path === '/b24/events').map((r) => `${String(r.body.event)}:${JSON.stringify((r.body.data as Record<string, unknown>).FIELDS)}`);
    assert.deepEqual(got.sort(), [`ONCRMDYNAMICITEMUPDATE:{"ID":"${inv.id}","ENTITY_TYPE_ID":"31"}`, `ONCRMQUOTEUPDATE:{"ID":"${quote.id}"}`]);
  });

  test('when events fire before installFinish, then nothing is delivered and the drop is logged', async () => {
    await installWithUi();
    await bind('ONCRMDYNAMICITEMADD');
    w.emu.actAs(1).createSmartInvoice({});
    await w.emu.flushEvents();
    assert.equal(w.handler.received.filter((r) => r.path === '/b24/events').length, 0);
    assert.equal(w.emu.deliveryLog.at(-1)!.dropped, 'app-not-installed');
  });

  test('when the handler is unreachable or fails, then the event is lost: logged once and never retried', async () => {
    await installWithUi();
    await bind('ONCRMDYNAMICITEMADD');
    assert.equal((await rest(w.emu, 'event.bind', { event: 'ONCRMDYNAMICITEMADD', handler: `${w.handler.url}/b24/fail` }, token)).body.result, true);
    w.emu.finishInstall();
    w.emu.setEventDelivery(false);
    w.emu.actAs(1).createSmartInvoice({});
    w.emu.setEventDelivery(true);
    w.emu.actAs(1).createSmartInvoice({});
    await w.emu.flushEvents();
    const log = w.emu.deliveryLog.map((d) => `${d.handler.replace(w.handler.url, '')}:${d.dropped ?? d.status}`);
    assert.deepEqual(log, ['/b24/events:delivery-disabled', '/b24/fail:delivery-disabled', '/b24/events:200', '/b24/fail:500']);
    assert.equal(w.handler.received.filter((r) => r.path === '/b24/fail').length, 1);
  });

  test('when binding twice, an unknown event, a foreign handler host or offline as a non-admin, then event.bind refuses', async () => {
    await installWithUi();
    await bind('ONCRMDYNAMICITEMADD');
    const dup = await bind('ONCRMDYNAMICITEMADD');
    assert.equal(dup.status, 400);
    assert.equal(dup.body.error, 'ERROR_HANDLER_ALREADY_EXIST');
    assert.deepEqual((await bind('ONNOSUCHEVENT')).body, fixture('rest.event.bind.error.response.json'));
    const foreign = await rest(w.emu, 'event.bind', { event: 'ONCRMQUOTEADD', handler: 'http://elsewhere.example/h' }, token);
    assert.equal(foreign.status, 400);
    const userToken = w.emu.issueTokens(2).accessToken;
    assert.equal((await rest(w.emu, 'event.bind', { event: 'ONCRMQUOTEADD', event_type: 'offline' }, userToken)).status, 403);
    assert.equal((await bind('ONCRMQUOTEADD', {}, userToken)).body.result, true);
    assert.equal(w.emu.bindings().find((b) => b.event === 'ONCRMQUOTEADD')!.authType, 2);
    const got = await rest(w.emu, 'event.get', {}, token);
    assert.deepEqual((got.body.result as Array<Record<string, unknown>>).map((b) => [b.event, b.auth_type, b.offline]), [['ONCRMDYNAMICITEMADD', '0', 0], ['ONCRMQUOTEADD', '2', 0]]);
    assert.deepEqual((await rest(w.emu, 'event.unbind', { event: 'ONCRMQUOTEADD', handler: `${w.handler.url}/b24/events` }, token)).body.result, { count: 1 });
  });

  test('when an object changes many times, then the offline queue holds one record; clear=0 reserves under a process_id; error releases; clear deletes', async () => {
    await installWithUi();
    assert.equal((await rest(w.emu, 'event.bind', { event: 'ONCRMDYNAMICITEMUPDATE', event_type: 'offline' }, token)).body.result, true);
    w.emu.finishInstall();
    const a = w.emu.actAs(2).createSmartInvoice({});
    const b = w.emu.actAs(2).createSmartInvoice({});
    for (let i = 0; i < 5; i++) w.emu.actAs(2).updateItem(SMART_INVOICE, a.id as number, { comments: `edit ${i}` });
    w.emu.actAs(2).updateItem(SMART_INVOICE, b.id as number, { comments: 'once' });
    assert.equal(w.emu.offlineQueue().length, 2);

    const reserved = await rest(w.emu, 'event.offline.get', { clear: 0, limit: 1 }, token);
    const r1 = reserved.body.result as { process_id: string; events: Array<Record<string, unknown>> };
    assert.ok(r1.process_id);
    assert.deepEqual(Object.keys(r1.events[0]!), ['ID', 'TIMESTAMP_X', 'EVENT_NAME', 'EVENT_DATA', 'EVENT_ADDITIONAL', 'MESSAGE_ID']);
    assert.deepEqual(r1.events[0]!.EVENT_DATA, { FIELDS: { ID: String(a.id), ENTITY_TYPE_ID: '31' } });
    // A parallel consumer gets the other record, not the reserved one.
    const other = (await rest(w.emu, 'event.offline.get', { clear: 0 }, token)).body.result as { process_id: string; events: Array<Record<string, unknown>> };
    assert.deepEqual(other.events.map((e) => (e.EVENT_DATA as { FIELDS: { ID: string } }).FIELDS.ID), [String(b.id)]);
    // A change after the reservation gets a record of its own.
    w.emu.actAs(2).updateItem(SMART_INVOICE, a.id as number, { comments: 'after reservation' });
    assert.equal(w.emu.offlineQueue().length, 3);

    assert.equal((await rest(w.emu, 'event.offline.error', { process_id: other.process_id, message_id: [other.events[0]!.MESSAGE_ID] }, token)).body.result, true);
    const listed = (await rest(w.emu, 'event.offline.list', {}, token)).body.result as Array<Record<string, unknown>>;
    assert.deepEqual(listed.map((x) => [x.PROCESS_ID === '' ? 'free' : 'reserved', x.ERROR]), [['free', '0'], ['free', '1'], ['reserved', '0']]);
    assert.equal((await rest(w.emu, 'event.offline.clear', { process_id: r1.process_id }, token)).body.result, true);
    const rest1 = (await rest(w.emu, 'event.offline.get', {}, token)).body.result as { process_id: null; events: unknown[] };
    assert.equal(rest1.process_id, null);
    assert.equal(rest1.events.length, 1, 'default get returns the non-error record and deletes it');
    assert.equal(w.emu.offlineQueue().length, 1, 'only the record flagged as error is left');
    const denied = await rest(w.emu, 'event.offline.get', {}, w.emu.issueTokens(2).accessToken);
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body, fixture('rest.event.offline.get.error.ACCESS_DENIED.response.json'));
  });

  test('when writes carry the auth_connector of the offline binding, then they stay out of that queue (online echoes still fire)', async () => {
    await installWithUi();
    await rest(w.emu, 'event.bind', { event: 'ONCRMDYNAMICITEMUPDATE', event_type: 'offline', auth_connector: 'xero-sync' }, token);
    await bind('ONCRMDYNAMICITEMUPDATE');
    w.emu.finishInstall();
    const inv = w.emu.actAs(1).createSmartInvoice({});
    await rest(w.emu, 'crm.item.update', { entityTypeId: SMART_INVOICE, id: inv.id, fields: { comments: 'sync' }, auth_connector: 'xero-sync' }, token);
    assert.equal(w.emu.offlineQueue().length, 0);
    w.emu.actAs(2).updateItem(SMART_INVOICE, inv.id as number, { comments: 'user' });
    const queued = (await rest(w.emu, 'event.offline.get', { auth_connector: 'xero-sync' }, token)).body.result as { events: Array<{ EVENT_DATA: { FIELDS: { ID: string } } }> };
    assert.deepEqual(queued.events.map((e) => e.EVENT_DATA.FIELDS.ID), [String(inv.id)]);
    assert.equal(((await rest(w.emu, 'event.offline.get', {}, token)).body.result as { events: unknown[] }).events.length, 0, 'the default queue is a different one');
    await w.emu.flushEvents();
    assert.equal(w.handler.received.filter((r) => r.path === '/b24/events').length, 2);
  });

  test('when the app is updated, then ONAPPUPDATE brings the new application token and all event bindings are gone', async () => {
    await installWithUi();
    await bind('ONAPPUPDATE');
    await bind('ONCRMDYNAMICITEMADD');
    w.emu.finishInstall();
    const before = w.emu.app()!.applicationToken;
    await w.emu.update();
    const ev = w.handler.received.filter((r) => r.body.event === 'ONAPPUPDATE');
    assert.equal(ev.length, 1);
    assert.deepEqual(keyPaths(ev[0]!.body), keyPaths({ ...fixture('event.ONAPPUPDATE.json'), event_handler_id: '1' }));
    assert.notEqual((ev[0]!.body.auth as Record<string, string>).application_token, before);
    assert.equal((ev[0]!.body.auth as Record<string, string>).application_token, w.emu.app()!.applicationToken);
    assert.deepEqual(w.emu.bindings(), []);
  });

  test('when the app is uninstalled, then ONAPPUNINSTALL without tokens is sent, bindings and placements are removed and tokens stop working', async () => {
    await installWithUi();
    await bind('ONAPPUNINSTALL');
    await rest(w.emu, 'placement.bind', { PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', HANDLER: `${w.handler.url}/b24/tab`, TITLE: 'Xero' }, token);
    w.emu.finishInstall();
    const appToken = w.emu.app()!.applicationToken;
    await w.emu.uninstall({ clean: true });
    const ev = w.handler.received.find((r) => r.body.event === 'ONAPPUNINSTALL')!;
    assert.deepEqual(keyPaths(ev.body), keyPaths({ ...fixture('event.ONAPPUNINSTALL.json'), event_handler_id: '1' }));
    assert.equal((ev.body.data as Record<string, string>).CLEAN, '1');
    assert.equal((ev.body.auth as Record<string, string>).application_token, appToken);
    assert.deepEqual(w.emu.bindings(), []);
    assert.deepEqual(w.emu.placements(), []);
    assert.equal((await rest(w.emu, 'profile', {}, token)).status, 401);
  });

  test('when an automation (no user) changes an item, then the event carries no tokens, only the portal and application token', async () => {
    await installWithUi();
    await bind('ONCRMDYNAMICITEMADD');
    w.emu.finishInstall();
    w.emu.actAs(null).createSmartInvoice({});
    await w.emu.flushEvents();
    const auth = w.handler.received.find((r) => r.path === '/b24/events')!.body.auth as Record<string, string>;
    assert.deepEqual(Object.keys(auth).sort(), ['application_token', 'client_endpoint', 'domain', 'member_id', 'server_endpoint']);
  });
});
