import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { startXeroEmulator, type XeroEmulator } from './emulators/xero/index.js';
import { startConnector, type TestConnector } from './helpers/connector.js';
import { installedPortalPerTest } from './helpers/portal.js';
import type { Bitrix24Emulator } from './emulators/bitrix24/index.js';
import { confirmConsent, confirmationForm, followConsent, type ConsentLanding } from './helpers/xero-consent.js';

let b24: Bitrix24Emulator;
let MEMBER = '';
let session: (userId: number) => string;

function adminSession(_c: TestConnector, isAdmin = true): string {
  return session(isAdmin ? 1 : 2);
}

/** Clicks "Connect Xero" as the admin and follows Xero's redirect back to the connector's confirmation page. */
async function landOnConfirmation(c: TestConnector): Promise<ConsentLanding> {
  const res = await fetch(`${c.url}/api/xero/connect`, { method: 'POST', headers: { 'X-Connector-Session': adminSession(c) } });
  assert.equal(res.status, 200, await res.clone().text());
  const { startUrl } = (await res.json()) as { startUrl: string };
  const landing = await followConsent(startUrl);
  assert.ok(landing.callbackUrl.startsWith(`${c.url}/xero/callback?`), landing.callbackUrl);
  return landing;
}

/** The whole flow, confirmed: the result page. */
async function connectViaBrowserFlow(c: TestConnector): Promise<{ status: number; html: string; landing: ConsentLanding }> {
  const landing = await landOnConfirmation(c);
  assert.equal(landing.status, 200, landing.html);
  const done = await confirmConsent(c.url, landing);
  return { ...done, landing };
}

describe('connecting Xero (authorization code)', () => {
  let xero: XeroEmulator;
  let c: TestConnector;
  let demoTenant: string;

  const bed = installedPortalPerTest('Demo Company (NZ)');
  beforeEach(() => {
    ({ xero, b24, c, session, tenantId: demoTenant } = bed);
    MEMBER = bed.memberId;
  });

  it('when the admin consents to one organisation, then the portal is connected to it with the granular scopes', async () => {
    const { status, html } = await connectViaBrowserFlow(c);
    assert.equal(status, 200);
    assert.match(html, /Connected to <strong>Demo Company \(NZ\)<\/strong> for the Bitrix24 portal <strong id="portal-domain">127\.0\.0\.1:\d+<\/strong>/);
    const [conn] = await c.store.connections.listForPortal(MEMBER);
    assert.equal(conn.tenantId, demoTenant);
    assert.equal(conn.state, 'active');
    assert.ok(conn.refreshToken, 'a refresh token is kept (offline_access)');
    assert.equal(conn.scope, 'offline_access accounting.invoices accounting.payments accounting.contacts accounting.settings');
  });

  it('when Xero redirects back twice with the same state, then the replay is refused and nothing changes', async () => {
    const { landing } = await connectViaBrowserFlow(c);
    const before = (await c.store.connections.listForPortal(MEMBER))[0];
    const replay = await fetch(landing.callbackUrl, { headers: { cookie: landing.cookie } });
    assert.equal(replay.status, 400);
    assert.match(await replay.text(), /already used or has expired/);
    assert.equal((await c.store.connections.listForPortal(MEMBER))[0].updatedAt, before.updatedAt);
  });

  it('when a callback carries a state the connector never issued, then it is refused', async () => {
    const res = await fetch(`${c.url}/xero/callback?code=abc&state=forged`);
    assert.equal(res.status, 400);
    assert.equal((await c.store.connections.listForPortal(MEMBER)).length, 0);
  });

  it('when several organisations are authorised, then the admin chooses one and only that one is connected', async () => {
    const second = xero.addOrganisation({ name: 'Second Ltd' });
    const landing = await landOnConfirmation(c);
    assert.match(landing.html, /authorised several organisations/);
    assert.match(landing.html, /Second Ltd/);
    assert.deepEqual(confirmationForm(landing.html).tenantIds.sort(), [demoTenant, second].sort());
    const chosen = await confirmConsent(c.url, landing, { tenantId: second });
    assert.match(chosen.html, /Connected to <strong>Second Ltd<\/strong>/);
    const conns = await c.store.connections.listForPortal(MEMBER);
    assert.deepEqual(conns.map((x) => [x.tenantId, x.state]), [[second, 'active']]);
    const again = await confirmConsent(c.url, landing, { tenantId: demoTenant });
    assert.equal(again.status, 400, 'a confirmation is single-use');
  });

  it('when the admin declines in Xero, then the callback explains it and nothing is stored', async () => {
    const res = await fetch(`${c.url}/xero/callback?error=access_denied&state=x`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /Access to Xero was not granted/);
  });

  it('when a non-admin asks to connect, then it is refused with 403', async () => {
    const res = await fetch(`${c.url}/api/xero/connect`, { method: 'POST', headers: { 'X-Connector-Session': adminSession(c, false) } });
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /administrator/);
  });

  it('when 20 calls run at once with an expired token, then exactly one refresh is made and all succeed', async () => {
    await connectViaBrowserFlow(c);
    const conn = (await c.store.connections.listForPortal(MEMBER))[0];
    await c.store.connections.saveTokens(conn.id, { accessToken: conn.accessToken!, refreshToken: conn.refreshToken, expiresAt: Math.floor(Date.now() / 1000) - 10 });
    xero.expireAccessTokens();
    const refreshesBefore = xero.tokenGrants.refresh_token;
    const gateway = c.services.gateways.for(conn.id);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => gateway.call('read the organisation', (s) => s.xero.accountingApi.getOrganisations(s.tenantId))),
    );
    assert.equal(results.length, 20);
    assert.ok(results.every((r) => r.organisations?.[0]?.name === 'Demo Company (NZ)'));
    assert.equal(xero.tokenGrants.refresh_token - refreshesBefore, 1);
    assert.equal(c.services.xero.renewals, 1);
    const rotated = (await c.store.connections.get(conn.id))!;
    assert.notEqual(rotated.refreshToken, conn.refreshToken, 'the rotated refresh token is saved');
  });

  it('when Xero revokes the refresh token, then the connection needs reconnecting, jobs pause, and reconnecting resumes them', async () => {
    await connectViaBrowserFlow(c);
    const conn = (await c.store.connections.listForPortal(MEMBER))[0];
    await c.store.jobs.enqueue({ memberId: MEMBER, kind: 'push-invoice', key: 'push:1', payload: {} });
    await c.store.connections.saveTokens(conn.id, { accessToken: conn.accessToken!, refreshToken: conn.refreshToken, expiresAt: 0 });
    xero.revokeRefreshTokens();
    await assert.rejects(c.services.gateways.for(conn.id).call('read', (s) => s.xero.accountingApi.getOrganisations(s.tenantId)), /needs reconnecting/);
    assert.equal((await c.store.connections.get(conn.id))!.state, 'needs_reconnect');
    assert.equal((await c.store.jobs.countByState(MEMBER)).paused, 1);
    const health = (await (await fetch(`${c.url}/health`)).json()) as { status: string; connections: { needs_reconnect: number } };
    assert.equal(health.status, 'degraded');
    assert.equal(health.connections.needs_reconnect, 1);

    await connectViaBrowserFlow(c);
    assert.equal((await c.store.connections.get(conn.id))!.state, 'active');
    assert.equal((await c.store.jobs.countByState(MEMBER)).paused, 0);
    const pending = await c.store.jobs.list({ memberId: MEMBER, states: ['pending'] });
    assert.deepEqual(pending.map((j) => j.kind).sort(), ['org-data', 'push-invoice'], 'the paused push resumes; the organisation\'s lists are read again');
  });

  it('when the admin disconnects, then the token is revoked at Xero and forgotten here', async () => {
    await connectViaBrowserFlow(c);
    const { refreshToken } = (await c.store.connections.listForPortal(MEMBER))[0];
    const res = await fetch(`${c.url}/api/xero/disconnect`, { method: 'POST', headers: { 'X-Connector-Session': adminSession(c) } });
    assert.equal(res.status, 200);
    const conn = (await c.store.connections.listForPortal(MEMBER))[0];
    assert.equal(conn.state, 'disconnected');
    assert.equal(conn.refreshToken, null);
    await assert.rejects(c.services.identity.refresh(refreshToken!), (err: { code?: string }) => err.code === 'XERO.INVALID_GRANT');
  });

  it('when the suite wrote logs, then no token appears in them', async () => {
    await connectViaBrowserFlow(c);
    const conn = (await c.store.connections.listForPortal(MEMBER))[0];
    const all = c.logLines.join('\n');
    for (const secret of [conn.accessToken!, conn.refreshToken!, xero.clientSecret]) assert.equal(all.includes(secret), false);
  });
});

describe('connecting Xero (custom connection)', () => {
  it('when the connector uses client credentials, then a portal is connected without any browser step', async () => {
    const xero = await startXeroEmulator();
    const tenant = xero.addOrganisation({ name: 'Custom Org Ltd' });
    xero.enableCustomConnection(tenant);
    const c = await startConnector({ xero, env: { XERO_GRANT_TYPE: 'client_credentials' } });
    try {
      await c.store.portals.upsert({
        memberId: 'portal-member-1', domain: 'crm.example.com', clientEndpoint: 'https://crm.example.com/rest/',
        serverEndpoint: 'https://oauth.bitrix.info/rest/', accessToken: 'b24-at', refreshToken: 'b24-rt',
        expiresAt: Math.floor(Date.now() / 1000) + 3600, applicationToken: 'app-token', scope: 'crm', installedBy: 1, state: 'installed',
      });
      await c.services.installPortal.connectCustomWhereMissing();
      const [conn] = await c.store.connections.listForPortal('portal-member-1');
      assert.equal(conn.grantType, 'client_credentials');
      assert.equal(conn.state, 'active');
      assert.equal(conn.refreshToken, null);
      const org = await c.services.gateways.for(conn.id).call('read', (s) => s.xero.accountingApi.getOrganisations(s.tenantId));
      assert.equal(org.organisations?.[0]?.name, 'Custom Org Ltd');
      assert.equal(xero.tokenGrants.client_credentials, 1);
      // An expired token is simply fetched again with the same grant.
      await c.store.connections.saveTokens(conn.id, { accessToken: conn.accessToken!, refreshToken: null, expiresAt: 0 });
      await c.services.gateways.for(conn.id).call('read', (s) => s.xero.accountingApi.getOrganisations(s.tenantId));
      assert.equal(xero.tokenGrants.client_credentials, 2);
    } finally {
      await c.close();
      await xero.close();
    }
  });
});
