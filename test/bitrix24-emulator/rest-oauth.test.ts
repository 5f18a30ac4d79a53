import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { AjaxError } from '@bitrix24/b24jssdk';
import { startWorld, sdkClient, rest, type World } from './helpers.js';
import { SMART_INVOICE, startBitrix24Emulator } from '../emulators/bitrix24/index.js';

describe('Bitrix24 emulator: REST core and OAuth through B24OAuth', () => {
  let w: World;
  before(async () => { w = await startWorld(); });
  after(async () => { await w.close(); });
  beforeEach(() => {
    w.emu.reset();
    const reg = w.emu.registerApp({ handlerUrl: `${w.handler.url}/b24/app`, installUrl: `${w.handler.url}/b24/install`, scopes: ['crm', 'placement', 'catalog', 'userfieldconfig'] });
    w.clientId = reg.clientId;
    w.clientSecret = reg.clientSecret;
    w.emu.installSilently();
  });

  test('when the SDK calls profile through /rest//profile, then it answers per token user with a time block', async () => {
    const admin = sdkClient(w, 1).b24;
    const user = sdkClient(w, 2).b24;
    const a = await admin.actions.v2.call.make({ method: 'profile', params: {} });
    const u = await user.actions.v2.call.make({ method: 'profile', params: {} });
    assert.equal((a.getData()!.result as { ADMIN: boolean }).ADMIN, true);
    assert.equal((u.getData()!.result as { ADMIN: boolean; ID: string }).ADMIN, false);
    assert.equal((u.getData()!.result as { ID: string }).ID, '2');
    assert.equal(typeof (a.getData() as unknown as { time: { operating: number } }).time.operating, 'number');
    const ua = await user.actions.v2.call.make({ method: 'user.admin', params: {} });
    assert.equal(ua.getData()!.result, false);
    assert.ok(w.emu.callLog.some((c) => c.method === 'profile' && c.userId === 2 && c.status === 200));
  });

  test('when 120 invoices exist, then pages carry next/total and the SDK keyset list (start=-1, >id) returns all of them', async () => {
    const actor = w.emu.actAs(1);
    for (let i = 0; i < 120; i++) actor.createSmartInvoice({ title: `Inv ${i}` });
    const token = w.emu.issueTokens(1).accessToken;
    const p1 = await rest(w.emu, 'crm.item.list', { entityTypeId: SMART_INVOICE, select: ['id'] }, token);
    assert.equal(p1.body.total, 120);
    assert.equal(p1.body.next, 50);
    assert.equal((p1.body.result as { items: unknown[] }).items.length, 50);
    const p3 = await rest(w.emu, 'crm.item.list', { entityTypeId: SMART_INVOICE, select: ['id'], start: 100 }, token);
    assert.equal(p3.body.next, undefined);
    assert.equal((p3.body.result as { items: unknown[] }).items.length, 20);
    const fast = await rest(w.emu, 'crm.item.list', { entityTypeId: SMART_INVOICE, start: -1, order: { id: 'ASC' }, filter: { '>id': 110 } }, token);
    assert.equal(fast.body.total, undefined);
    assert.deepEqual((fast.body.result as { items: Array<{ id: number }> }).items.map((x) => x.id), [111, 112, 113, 114, 115, 116, 117, 118, 119, 120]);

    const { b24 } = sdkClient(w, 1);
    const all = await b24.actions.v2.callList.make({ method: 'crm.item.list', params: { entityTypeId: SMART_INVOICE, select: ['id', 'title'] }, idKey: 'id', customKeyForResult: 'items' });
    assert.ok(all.isSuccess);
    assert.equal((all.getData() as unknown[]).length, 120);
  });

  test('when a batch references an earlier result and one command fails with halt=0, then the rest still run and the error is in result_error', async () => {
    const inv = w.emu.actAs(1).createSmartInvoice({ title: 'Referenced' });
    const { b24 } = sdkClient(w, 1);
    const res = await b24.actions.v2.batch.make({
      calls: {
        list: ['crm.item.list', { entityTypeId: SMART_INVOICE, select: ['id'] }],
        item: ['crm.item.get', { entityTypeId: SMART_INVOICE, id: '$result[list][items][0][id]' }],
        missing: ['crm.item.get', { entityTypeId: SMART_INVOICE, id: 99999 }],
        after: ['crm.item.fields', { entityTypeId: SMART_INVOICE }],
      },
      options: { isHaltOnError: false },
    });
    // The SDK's batch action keeps the successful results by key and turns result_error into error messages.
    const data = res.getData() as unknown as Record<string, unknown>;
    assert.equal((data.item as { item: { id: number } }).item.id, inv.id);
    assert.ok('after' in data);
    assert.equal('missing' in data, false);
    assert.deepEqual(res.getErrorMessages(), ['Element not found']);

    const token = w.emu.issueTokens(1).accessToken;
    const halted = await rest(w.emu, 'batch', { halt: 1, cmd: { a: 'crm.item.get?entityTypeId=31&id=99999', b: 'profile' } }, token);
    assert.equal(halted.status, 200);
    const r = halted.body.result as Record<string, unknown>;
    assert.deepEqual(r.result, []);
    assert.deepEqual(Object.keys(r.result_error as object), ['a']);
    assert.deepEqual((r.result_error as Record<string, unknown>).a, { error: 'NOT_FOUND', error_description: 'Element not found' });
    const tooMany = await rest(w.emu, 'batch', { cmd: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`c${i}`, 'profile'])) }, token);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.error, 'ERROR_BATCH_LENGTH_EXCEEDED');
  });

  test('when the access token has expired, then the SDK gets 401 expired_token, refreshes at /oauth/token/ with rotation and retries', async () => {
    const { b24, rotations } = sdkClient(w, 1);
    const first = await b24.actions.v2.call.make({ method: 'app.info', params: {} });
    assert.ok(first.isSuccess);
    const oldRefresh = b24.auth.getAuthData() !== false ? (b24.auth.getAuthData() as { refresh_token: string }).refresh_token : '';
    w.emu.expireAccessTokens();
    const again = await b24.actions.v2.call.make({ method: 'app.info', params: {} });
    assert.ok(again.isSuccess);
    assert.equal(rotations.length, 1);
    assert.notEqual(rotations[0], oldRefresh);
    const statuses = w.emu.callLog.map((c) => `${c.method}:${c.status}${c.error ? ':' + c.error : ''}`);
    assert.deepEqual(statuses.slice(-3), ['app.info:401:expired_token', 'oauth/token:200', 'app.info:200']);
    // The used refresh token is single-use.
    const reuse = await fetch(`${w.emu.baseUrl}/oauth/token/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', client_id: w.clientId, client_secret: w.clientSecret, refresh_token: oldRefresh }) });
    assert.equal(reuse.status, 400);
    assert.equal(((await reuse.json()) as { error: string }).error, 'invalid_grant');
  });

  test('when the OAuth refresh succeeds, then it answers every field the SDK reads, with an absolute expires', async () => {
    const t = w.emu.issueTokens(1);
    const res = await fetch(`${w.emu.baseUrl}/oauth/token/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', client_id: w.clientId, client_secret: w.clientSecret, refresh_token: t.refreshToken }) });
    const body = (await res.json()) as Record<string, unknown>;
    for (const k of ['access_token', 'refresh_token', 'expires', 'expires_in', 'client_endpoint', 'server_endpoint', 'member_id', 'scope', 'status', 'domain', 'user_id']) assert.ok(k in body, k);
    assert.ok(Math.abs(Number(body.expires) - (Date.now() / 1000 + 3600)) < 5);
    assert.equal(body.client_endpoint, w.emu.clientEndpoint);
    const bad = await fetch(`${w.emu.baseUrl}/oauth/token/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', client_id: w.clientId, client_secret: 'wrong', refresh_token: t.refreshToken }) });
    assert.equal(bad.status, 401);
  });

  test('when a call lacks auth, names an unknown method or a scope the app lacks, then the documented errors come back', async () => {
    const noAuth = await fetch(`${w.emu.clientEndpoint}profile`, { method: 'POST' });
    assert.equal(noAuth.status, 401);
    assert.equal(((await noAuth.json()) as { error: string }).error, 'NO_AUTH_FOUND');
    const token = w.emu.issueTokens(1).accessToken;
    const bogus = await rest(w.emu, 'bogus', {}, 'nope');
    assert.equal(bogus.status, 401);
    assert.equal(bogus.body.error, 'invalid_token');
    const unknown = await rest(w.emu, 'crm.nothing.here', {}, token);
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' });
    const scope = await rest(w.emu, 'user.current', {}, token);
    assert.equal(scope.status, 401);
    assert.equal(scope.body.error, 'insufficient_scope');
    const form = await fetch(`${w.emu.clientEndpoint}/crm.item.get.json`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `auth=${token}&entityTypeId=31&id=1` });
    assert.equal(form.status, 400);
    assert.equal(((await form.json()) as { error: string }).error, 'NOT_FOUND');
  });

  test('when the SDK meets a missing item, then it throws AjaxError NOT_FOUND with status 400', async () => {
    const { b24 } = sdkClient(w, 1);
    await assert.rejects(b24.actions.v2.call.make({ method: 'crm.item.get', params: { entityTypeId: SMART_INVOICE, id: 424242 } }), (err: unknown) => {
      assert.ok(err instanceof AjaxError);
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(err.status, 400);
      return true;
    });
  });

  test('when a 503 burst is injected, then the SDK retries QUERY_LIMIT_EXCEEDED and succeeds, and the counters show every attempt', async () => {
    const { b24 } = sdkClient(w, 1, { maxRetries: 3 });
    w.emu.resetCounters();
    w.emu.setFaults({ burst503: 2 });
    const res = await b24.actions.v2.call.make({ method: 'scope', params: {} });
    assert.ok(res.isSuccess);
    assert.equal(w.emu.counters.scope, 3);
    assert.deepEqual(w.emu.callLog.map((c) => c.status), [503, 503, 200]);
  });

  test('when the leaky bucket is on and the burst is spent, then the next call answers 503 QUERY_LIMIT_EXCEEDED', async () => {
    const limited = await startWorld({ leakyBucket: { burst: 3, drainPerSecond: 0.001 } });
    try {
      const { accessToken } = limited.emu.installSilently();
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) codes.push((await rest(limited.emu, 'profile', {}, accessToken)).status);
      assert.deepEqual(codes, [200, 200, 200, 503]);
      assert.equal((await rest(limited.emu, 'profile', {}, accessToken)).body.error, 'QUERY_LIMIT_EXCEEDED');
    } finally {
      await limited.close();
    }
  });

  test('when a dropped connection is injected, then the client sees a network error and the call log records the drop', async () => {
    const token = w.emu.issueTokens(1).accessToken;
    w.emu.setFaults({ dropNext: 1 });
    await assert.rejects(rest(w.emu, 'profile', {}, token));
    assert.equal((await rest(w.emu, 'profile', {}, token)).status, 200);
    assert.ok(w.emu.callLog.some((c) => c.error === 'dropped'));
  });

  test('when an app frame on another origin preflights a REST call, then CORS allows it (B24Frame calls REST from the browser)', async () => {
    const pre = await fetch(`${w.emu.clientEndpoint}profile`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:1', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(String(pre.headers.get('access-control-allow-headers')), /content-type/i);
  });

  test('when a second portal shares the OAuth server, then its tokens are renewed there with its own member_id and client_endpoint, and the domain names the OAuth server', async () => {
    const second = await startBitrix24Emulator({ oauthServer: w.emu });
    try {
      second.registerApp({ handlerUrl: `${w.handler.url}/b24/app`, clientId: w.clientId, clientSecret: w.clientSecret });
      second.installSilently();
      const t = second.issueTokens(1);
      const refresh = (token: string, secret = w.clientSecret) => fetch(`${w.emu.baseUrl}/oauth/token/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', client_id: w.clientId, client_secret: secret, refresh_token: token }) });
      const res = await refresh(t.refreshToken);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, string>;
      assert.equal(body.member_id, second.memberId);
      assert.equal(body.client_endpoint, second.clientEndpoint);
      assert.equal(body.server_endpoint, `${w.emu.baseUrl}/rest/`);
      assert.equal(body.domain, new URL(w.emu.baseUrl).host);
      assert.notEqual(second.memberId, w.emu.memberId);
      // The second portal's own frame fields point the SDK at the shared server, and its tokens work only there.
      assert.equal(second.frameAuth(1).SERVER_ENDPOINT, `${w.emu.baseUrl}/rest/`);
      assert.equal((await rest(second, 'profile', {}, body.access_token)).status, 200);
      assert.equal((await rest(w.emu, 'profile', {}, body.access_token)).status, 401);
      assert.equal((await refresh(second.issueTokens(1).refreshToken, 'wrong')).status, 401);
    } finally {
      await second.close();
    }
  });
});
