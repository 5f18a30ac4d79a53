/**
 * Requests that would make the connector call Bitrix24's OAuth server with its client secret (issue 21, item 7): what
 * can be checked without that call is checked first, and the rest is bounded per address and per member_id.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OAUTH_PER_ADDRESS, OAUTH_PER_MEMBER } from '../../app/http/oauth-throttle.js';
import { connectorFor, emulatorBed, nowTs, postForm } from './bitrix-helpers.js';

describe("requests that spend the connector's client secret", () => {
  const bed = emulatorBed();

  /** Refresh requests the OAuth server got since the last reset. */
  const oauthCalls = () => bed.b24.callLog.filter((x) => x.method === 'oauth/token').length;

  async function installed(env: Record<string, string> = {}): Promise<void> {
    bed.c = await connectorFor(bed.b24, bed.xero, env);
    assert.equal((await bed.b24.install({ userId: 1 })).status, 200);
    bed.b24.finishInstall();
    bed.b24.resetCounters();
  }

  const update = (fields: Record<string, string>) =>
    postForm(`${bed.c.url}/events`, {
      event: 'ONAPPUPDATE', ts: nowTs(), 'data[VERSION]': '2', 'data[PREVIOUS_VERSION]': '1',
      'auth[member_id]': bed.b24.memberId, 'auth[access_token]': 'made-up', 'auth[expires_in]': '3600', ...fields,
    });

  it('when ONAPPUPDATE is signed with the stored application token and carries made-up tokens, then it only rebinds: no OAuth call and the stored tokens stay', async () => {
    await installed();
    const before = (await bed.c.store.portals.get(bed.b24.memberId))!;
    const res = await update({ 'auth[application_token]': before.applicationToken!, 'auth[refresh_token]': 'made-up-refresh' });
    assert.equal(res.status, 200, await res.text());
    assert.equal(oauthCalls(), 0);
    const after = (await bed.c.store.portals.get(bed.b24.memberId))!;
    assert.equal(after.refreshToken, before.refreshToken);
    assert.equal(after.applicationToken, before.applicationToken);
    assert.ok(await bed.c.store.jobs.findLive(`portal-setup:${bed.b24.memberId}`), 'the rebind is queued');
  });

  it('when ONAPPUPDATE names another client endpoint than the portal on record, then it is refused without an OAuth call', async () => {
    await installed();
    const res = await update({ 'auth[application_token]': 'new-token', 'auth[refresh_token]': 'made-up', 'auth[client_endpoint]': 'https://evil.example/rest/' });
    assert.equal(res.status, 401);
    assert.equal(oauthCalls(), 0);
  });

  it('when ONAPPUPDATEs with new application tokens keep coming for one portal, then the OAuth server is asked at most the per-portal bound and the rest is answered 429', async () => {
    await installed();
    const statuses: number[] = [];
    for (let i = 0; i < OAUTH_PER_MEMBER + 5; i++) {
      statuses.push((await update({ 'auth[application_token]': `new-${i}`, 'auth[refresh_token]': `made-up-${i}` })).status);
    }
    // The install itself was one OAuth-spending request of this member_id.
    assert.equal(oauthCalls(), OAUTH_PER_MEMBER - 1);
    assert.deepEqual(statuses.slice(OAUTH_PER_MEMBER - 1), Array(6).fill(429));
    assert.equal((await bed.c.store.portals.get(bed.b24.memberId))!.state, 'installed');
  });

  it('when B24_PORTAL_URL is set and an installer POST names another DOMAIN, then it is refused before any OAuth call', async () => {
    bed.c = await connectorFor(bed.b24, bed.xero, { B24_PORTAL_URL: bed.b24.baseUrl });
    bed.b24.resetCounters();
    const res = await postForm(`${bed.c.url}/install?DOMAIN=crm.other.example&PROTOCOL=1`, { AUTH_ID: 'made-up', REFRESH_ID: 'made-up', APPLICATION_TOKEN: 'made-up', member_id: 'a'.repeat(32) });
    assert.equal(res.status, 403, await res.text());
    assert.equal(oauthCalls(), 0);
    const api = await postForm(`${bed.c.url}/install`, { event: 'ONAPPINSTALL', 'auth[refresh_token]': 'made-up', 'auth[member_id]': 'b'.repeat(32), 'auth[application_token]': 'made-up', 'auth[client_endpoint]': 'https://crm.other.example/rest/' });
    assert.equal(api.status, 403, await api.text());
    assert.equal(oauthCalls(), 0);
    // The pinned portal's own install still goes through.
    assert.equal((await bed.b24.install({ userId: 1 })).status, 200);
  });

  it('when an installer POST has a malformed member_id or token, then it is refused before any OAuth call', async () => {
    bed.c = await connectorFor(bed.b24, bed.xero);
    bed.b24.resetCounters();
    for (const form of [
      { AUTH_ID: 'x', REFRESH_ID: 'made-up', APPLICATION_TOKEN: 'x', member_id: 'm'.repeat(500) },
      { AUTH_ID: 'x', REFRESH_ID: 'made up with spaces', APPLICATION_TOKEN: 'x', member_id: 'a'.repeat(32) },
      { AUTH_ID: 'x', REFRESH_ID: 'r'.repeat(5000), APPLICATION_TOKEN: 'x', member_id: 'a'.repeat(32) },
    ]) {
      const res = await postForm(`${bed.c.url}/install`, form);
      assert.equal(res.status, 400, await res.text());
    }
    assert.equal(oauthCalls(), 0);
  });

  const madeUpInstall = (memberId: string) => postForm(`${bed.c.url}/install`, { AUTH_ID: 'made-up', REFRESH_ID: 'made-up', APPLICATION_TOKEN: 'made-up', member_id: memberId });

  it('when installer POSTs with made-up tokens keep coming for one member_id, then the OAuth server is asked at most the per-portal bound', async () => {
    bed.c = await connectorFor(bed.b24, bed.xero);
    bed.b24.resetCounters();
    const statuses: number[] = [];
    for (let i = 0; i < OAUTH_PER_MEMBER + 3; i++) statuses.push((await madeUpInstall('c'.repeat(32))).status);
    assert.equal(oauthCalls(), OAUTH_PER_MEMBER);
    assert.deepEqual(statuses.slice(OAUTH_PER_MEMBER), [429, 429, 429]);
    assert.deepEqual(await bed.c.store.portals.list(), []);
  });

  it('when installer POSTs with made-up tokens come from one address, each naming another member_id, then the OAuth server is asked at most the per-address bound', async () => {
    bed.c = await connectorFor(bed.b24, bed.xero);
    bed.b24.resetCounters();
    const statuses: number[] = [];
    for (let i = 0; i < OAUTH_PER_ADDRESS + 3; i++) statuses.push((await madeUpInstall(`member${i}`)).status);
    assert.equal(oauthCalls(), OAUTH_PER_ADDRESS);
    assert.deepEqual(statuses.slice(OAUTH_PER_ADDRESS), [429, 429, 429]);
    assert.deepEqual(await bed.c.store.portals.list(), []);
  });
});
