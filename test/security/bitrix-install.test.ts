/**
 * Attacks on the install and update paths (issue 10, items 1, 3 and 4): nothing a request says about the portal is
 * believed; identity comes from the OAuth server's answer to a refresh made with the client secret.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { startBitrix24Emulator, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import type { TestConnector } from '../helpers/connector.js';
import { connectorFor, nowTs, postForm, registerOn, startTrap } from './bitrix-helpers.js';

describe('attacks on installing and updating the app', () => {
  let a: Bitrix24Emulator;
  let b: Bitrix24Emulator;
  let xero: XeroEmulator;
  let c: TestConnector & { clientId: string; clientSecret: string };

  before(async () => {
    a = await startBitrix24Emulator();
    b = await startBitrix24Emulator({ oauthServer: a });
    xero = await startXeroEmulator();
  });
  after(async () => {
    await b.close();
    await a.close();
    await xero.close();
  });
  beforeEach(() => {
    a.reset();
    b.reset();
  });
  afterEach(async () => c?.close());

  it("when a non-admin's token signs ONAPPUPDATE, then the stored application token and tokens stay", async () => {
    c = await connectorFor(a, xero);
    await a.install({ userId: 1 });
    a.finishInstall();
    const before = (await c.store.portals.get(a.memberId))!;
    const mary = a.frameAuth(2); // what every user's browser holds: her tokens and the application token
    const res = await postForm(`${c.url}/events`, {
      event: 'ONAPPUPDATE', ts: nowTs(), 'data[VERSION]': '2', 'data[PREVIOUS_VERSION]': '1',
      'auth[member_id]': a.memberId, 'auth[application_token]': 'chosen-by-mary',
      'auth[access_token]': mary.AUTH_ID!, 'auth[refresh_token]': mary.REFRESH_ID!, 'auth[expires_in]': '3600',
    });
    assert.equal(res.status, 403, await res.text());
    const after = (await c.store.portals.get(a.memberId))!;
    assert.equal(after.applicationToken, before.applicationToken);
    assert.equal(after.accessToken, before.accessToken);
    assert.equal(after.refreshToken, before.refreshToken);
  });

  it('when an API-only ONAPPINSTALL names a data: endpoint and a new member_id, then it is refused and nothing is stored', async () => {
    c = await connectorFor(a, xero);
    const endpoint = `data:application/json,${encodeURIComponent(JSON.stringify({ result: { ID: '1', ADMIN: true, NAME: 'Anyone' } }))}#`;
    const res = await postForm(`${c.url}/install`, {
      event: 'ONAPPINSTALL', ts: nowTs(),
      'auth[access_token]': 'made-up', 'auth[refresh_token]': 'made-up', 'auth[expires_in]': '3600',
      'auth[domain]': 'evil.example', 'auth[client_endpoint]': endpoint, 'auth[member_id]': 'attacker-portal',
      'auth[application_token]': 'attacker-app-token',
    });
    assert.equal(res.status, 401, await res.text());
    assert.deepEqual(await c.store.portals.list(), []);
  });

  it('when an installer POST names another host in DOMAIN, then the connector never calls that host and installs the real portal', async () => {
    c = await connectorFor(a, xero);
    const trap = await startTrap();
    try {
      a.installSilently(); // the admin added the app; its installer POST is rewritten to name the trap
      const auth = a.frameAuth(1);
      const res = await postForm(`${c.url}/install?DOMAIN=${trap.host}&PROTOCOL=0`, { ...auth, DOMAIN: trap.host, SERVER_ENDPOINT: `http://${trap.host}/rest/` });
      assert.equal(res.status, 200, await res.text());
      assert.deepEqual(trap.hits, []);
      assert.equal((await c.store.portals.get(a.memberId))!.clientEndpoint, a.clientEndpoint);
    } finally {
      await trap.close();
    }
  });

  it("when an installer POST names this portal's member_id but carries another portal's admin tokens, then it is refused and nothing is stored", async () => {
    c = await connectorFor(a, xero);
    registerOn(b, c);
    b.installSilently();
    const fromB = b.frameAuth(1);
    const res = await postForm(`${c.url}/install?DOMAIN=${b.domain}&PROTOCOL=0`, { ...fromB, member_id: a.memberId });
    assert.equal(res.status, 401, await res.text());
    assert.deepEqual(await c.store.portals.list(), []);
  });

  it('when B24_PORTAL_URL pins the portal, then an admin of a second portal cannot install it and nothing is stored', async () => {
    c = await connectorFor(a, xero, { B24_PORTAL_URL: a.baseUrl });
    registerOn(b, c);
    const res = await b.install({ userId: 1 });
    assert.equal(res.status, 403, res.body);
    assert.deepEqual(await c.store.portals.list(), []);
    assert.equal((await a.install({ userId: 1 })).status, 200);
    assert.equal((await c.store.portals.get(a.memberId))!.state, 'installed');
  });

  it('when an uninstalled member_id is installed again at another endpoint, then it is refused until an operator allows it', async () => {
    c = await connectorFor(a, xero);
    await a.install({ userId: 1 });
    a.finishInstall();
    await a.uninstall();
    assert.equal((await c.store.portals.get(a.memberId))!.state, 'uninstalled');
    // The same member_id, answered by the OAuth server with another endpoint.
    const moved = await startBitrix24Emulator({ oauthServer: a, memberId: a.memberId });
    try {
      registerOn(moved, c);
      const refused = await moved.install({ userId: 1 });
      assert.equal(refused.status, 409, refused.body);
      assert.equal((await c.store.portals.get(a.memberId))!.clientEndpoint, a.clientEndpoint);
      assert.equal(await c.store.portals.allowRelocation(a.memberId), true);
      const allowed = await moved.install({ userId: 1 });
      assert.equal(allowed.status, 200, allowed.body);
      assert.equal((await c.store.portals.get(a.memberId))!.clientEndpoint, moved.clientEndpoint);
    } finally {
      await moved.close();
    }
  });

  it('when a second verified portal installs in custom-connection mode, then the Xero organisation stays connected to the first portal only', async () => {
    const tenant = xero.addOrganisation({ name: 'Operator Org Ltd' });
    xero.enableCustomConnection(tenant);
    c = await connectorFor(a, xero, { XERO_GRANT_TYPE: 'client_credentials' });
    registerOn(b, c);
    assert.equal((await a.install({ userId: 1 })).status, 200);
    assert.equal((await c.store.connections.listForPortal(a.memberId))[0]?.state, 'active');
    assert.equal((await b.install({ userId: 1 })).status, 200);
    assert.deepEqual(await c.store.connections.listForPortal(b.memberId), []);
    assert.ok((await c.store.activity.list({ memberId: b.memberId })).some((x) => x.kind === 'xero.custom_connection_taken'));
    await c.services.installPortal.connectCustomWhereMissing();
    assert.deepEqual(await c.store.connections.listForPortal(b.memberId), []);
  });
});
