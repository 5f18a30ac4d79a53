import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { api, consent, rejection, xeroClientFor } from './helpers.js';

describe('Xero emulator: identity', () => {
  let emu: XeroEmulator;
  let orgA: string;
  let orgB: string;
  before(async () => {
    emu = await startXeroEmulator({ refreshGraceSeconds: 1800 });
    orgA = emu.addOrganisation({ name: 'Org A' });
    orgB = emu.addOrganisation({ name: 'Org B' });
  });
  after(async () => { emu.assertNoSpecViolations(); await emu.close(); });

  it('when a user consents through xero-node, then the code grant yields 30-minute tokens and /connections lists the chosen tenants', async () => {
    emu.setConsent({ tenantIds: [orgB] });
    const xero = await xeroClientFor(emu);
    const callback = await consent(xero);
    assert.match(callback, /state=st-123/);
    const ts = xero.readTokenSet();
    assert.equal(ts.expires_in, 1800);
    assert.ok(ts.refresh_token);
    const res = await fetch(`${emu.baseUrl}/connections`, { headers: { authorization: `Bearer ${ts.access_token}` } });
    const list = await res.json() as Array<Record<string, string>>;
    assert.deepEqual(list.map((c) => [c.tenantId, c.tenantName, c.tenantType]), [[orgB, 'Org B', 'ORGANISATION']]);
    assert.equal(emu.tokenGrants.authorization_code, 1);
    emu.setConsent({ tenantIds: undefined });
  });

  it('when the same authorization code is exchanged twice, then the second exchange is invalid_grant', async () => {
    const xero = await xeroClientFor(emu);
    const callback = await consent(xero);
    const again = await xeroClientFor(emu);
    const err = await rejection(again.apiCallback(callback));
    assert.equal(err.body.error, 'invalid_grant');
  });

  it('when a refresh token is used, then it rotates, the previous one works during the grace period, and revoked ones are invalid_grant', async () => {
    const xero = await xeroClientFor(emu);
    await consent(xero);
    const first = xero.readTokenSet();
    await xero.refreshToken();
    const second = xero.readTokenSet();
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.notEqual(second.access_token, first.access_token);
    // The response was "lost": the old refresh token may be retried within the grace period.
    const retry = await xeroClientFor(emu);
    retry.setTokenSet({ ...first });
    await retry.refreshToken();
    assert.ok(retry.readTokenSet().access_token);
    emu.revokeRefreshTokens();
    const err = await rejection(xero.refreshToken());
    assert.equal(err.body.error, 'invalid_grant');
  });

  it('when the grace period is over, then a used refresh token is invalid_grant', async () => {
    const strict = await startXeroEmulator({ refreshGraceSeconds: 0, specCheck: false });
    try {
      strict.addOrganisation({ name: 'Strict Org' });
      const xero = await xeroClientFor(strict);
      await consent(xero);
      const first = xero.readTokenSet();
      await xero.refreshToken();
      await new Promise((r) => setTimeout(r, 5));
      const stale = await xeroClientFor(strict);
      stale.setTokenSet({ ...first });
      assert.equal((await rejection(stale.refreshToken())).body.error, 'invalid_grant');
      assert.equal(strict.tokenGrants.refresh_token, 1);
    } finally { await strict.close(); }
  });

  it('when the client secret is wrong, then the token endpoint answers invalid_client', async () => {
    const res = await fetch(`${emu.baseUrl}/connect/token`, {
      method: 'POST', body: 'grant_type=client_credentials',
      headers: { authorization: `Basic ${Buffer.from(`${emu.clientId}:nope`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 401);
    assert.equal((await res.json() as { error: string }).error, 'invalid_client');
  });

  it('when a custom connection is enabled, then client_credentials gives a token without refresh token that works without xero-tenant-id', async () => {
    const xero = await xeroClientFor(emu);
    const before = await fetch(`${emu.baseUrl}/connect/token`, { method: 'POST', body: 'grant_type=client_credentials', headers: { authorization: `Basic ${Buffer.from(`${emu.clientId}:${emu.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(before.status, 400);
    emu.enableCustomConnection(orgA);
    const res = await fetch(`${emu.baseUrl}/connect/token`, { method: 'POST', body: 'grant_type=client_credentials&scope=accounting.transactions', headers: { authorization: `Basic ${Buffer.from(`${emu.clientId}:${emu.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' } });
    const tok = await res.json() as Record<string, unknown>;
    assert.equal(tok.refresh_token, undefined);
    xero.setTokenSet({ access_token: String(tok.access_token), expires_in: 1800 });
    const { body } = await xero.accountingApi.getOrganisations('');
    assert.equal(body.organisations?.[0].name, 'Org A');
    assert.equal(emu.tokenGrants.client_credentials, 1);
  });

  it('when access tokens expire or the tenant is not connected, then the API answers 401 TokenExpired and 403 AuthenticationUnsuccessful', async () => {
    emu.setConsent({ tenantIds: [orgA] });
    const xero = await xeroClientFor(emu);
    await consent(xero);
    emu.setConsent({ tenantIds: undefined });
    const token = xero.readTokenSet().access_token!;
    assert.equal((await api(emu, '/Organisation', { token, tenantId: orgA })).status, 200);
    const forbidden = await api(emu, '/Organisation', { token, tenantId: orgB });
    assert.equal(forbidden.status, 403);
    assert.equal((await forbidden.json() as { Detail: string }).Detail, 'AuthenticationUnsuccessful');
    emu.expireAccessTokens();
    const expired = await rejection(xero.accountingApi.getOrganisations(orgA));
    assert.equal(expired.status, 401);
    assert.equal(expired.body.Detail, 'TokenExpired');
  });

  it('when auto-approve is off, then authorize shows an approve page listing the organisations whose button redirects with code and state', async () => {
    emu.setConsent({ autoApprove: false });
    const page = await fetch(`${emu.baseUrl}/identity/connect/authorize?response_type=code&client_id=${emu.clientId}&redirect_uri=${encodeURIComponent('http://localhost:5000/cb')}&scope=offline_access&state=abc`);
    const html = await page.text();
    assert.match(html, /Org A/);
    assert.match(html, /Allow access/);
    const form = new URLSearchParams({ response_type: 'code', client_id: emu.clientId, redirect_uri: 'http://localhost:5000/cb', scope: 'offline_access', state: 'abc' });
    const res = await fetch(`${emu.baseUrl}/identity/connect/authorize`, { method: 'POST', body: form, redirect: 'manual' });
    assert.equal(res.status, 302);
    const loc = new URL(res.headers.get('location')!);
    assert.equal(loc.searchParams.get('state'), 'abc');
    assert.ok(loc.searchParams.get('code'));
    emu.setConsent({ autoApprove: true });
  });
});
