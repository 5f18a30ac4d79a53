/**
 * Attacks on "Connect Xero": a consent finished in another browser, replayed links, a code without its PKCE
 * verifier, and forged confirmations. The connection is saved only after the browser that started confirms.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { XeroEmulator } from '../emulators/xero/index.js';
import type { TestConnector } from '../helpers/connector.js';
import { installedPortalPerTest } from '../helpers/portal.js';
import type { Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { confirmConsent, confirmationForm, followConsent } from '../helpers/xero-consent.js';

let MEMBER = '';

describe('Xero consent bound to its browser', () => {
  let xero: XeroEmulator;
  let b24: Bitrix24Emulator;
  let c: TestConnector;
  let session: (userId: number) => string;

  const bed = installedPortalPerTest('Victim Accounting Ltd');
  beforeEach(() => {
    ({ xero, b24, c, session } = bed);
    MEMBER = bed.memberId;
  });

  const startUrl = async (): Promise<string> => {
    const res = await fetch(`${c.url}/api/xero/connect`, { method: 'POST', headers: { 'X-Connector-Session': session(1) } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { startUrl: string }).startUrl;
  };

  it('when an admin hands the consent link to someone whose browser then finishes at Xero without the start cookie, then the callback is refused and no organisation is connected', async () => {
    // The admin's browser opened the start URL (and got the cookie); Xero's redirect lands in another browser.
    const start = await fetch(await startUrl(), { redirect: 'manual' });
    assert.equal(start.status, 302);
    const consent = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const callback = await fetch(consent.headers.get('location')!); // no cookie: another browser
    assert.equal(callback.status, 403);
    assert.match(await callback.text(), /started in another browser/);
    assert.equal((await c.store.connections.listForPortal(MEMBER)).length, 0);
  });

  it('when the start link is opened a second time, then it is refused (it is single-use) and sets no cookie', async () => {
    const url = await startUrl();
    assert.equal((await fetch(url, { redirect: 'manual' })).status, 302);
    const again = await fetch(url, { redirect: 'manual' });
    assert.equal(again.status, 400);
    assert.equal(again.headers.get('set-cookie'), null);
  });

  it('when the connector sends the browser to Xero, then the consent URL carries a PKCE S256 challenge, and the code alone (without the verifier) is refused by Xero', async () => {
    const start = await fetch(await startUrl(), { redirect: 'manual' });
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.match(authorize.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    const consent = await fetch(authorize, { redirect: 'manual' });
    const code = new URL(consent.headers.get('location')!).searchParams.get('code')!;
    // Someone who intercepted the code, with the client's credentials but not the verifier:
    const token = await fetch(`${xero.baseUrl}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${xero.clientId}:${xero.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${c.url}/xero/callback` }),
    });
    assert.equal(token.status, 400);
    assert.equal(((await token.json()) as { error: string }).error, 'invalid_grant');
  });

  it('when Xero redirects back to the browser that started, then the page names the organisation and the Bitrix24 portal and nothing is saved before the confirmation', async () => {
    const landing = await followConsent(await startUrl());
    assert.equal(landing.status, 200, landing.html);
    assert.match(landing.html, /Connect the Xero organisation <strong id="tenant-name">Victim Accounting Ltd<\/strong> to the Bitrix24 portal <strong id="portal-domain">127\.0\.0\.1:\d+<\/strong>\?/);
    assert.equal((await c.store.connections.listForPortal(MEMBER)).length, 0, 'nothing is connected before the confirmation');
    const done = await confirmConsent(c.url, landing);
    assert.equal(done.status, 200);
    assert.equal((await c.store.connections.listForPortal(MEMBER)).length, 1);
  });

  it('when a confirmation is forged (no cookie, a wrong CSRF token, or posted from another site), then it is refused with 403 and nothing is saved', async () => {
    const landing = await followConsent(await startUrl());
    const form = confirmationForm(landing.html);
    const post = (headers: Record<string, string>, fields: Record<string, string>) =>
      fetch(`${c.url}/xero/confirm`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields) });
    const fields = { choice: form.choice, csrf: form.csrf, tenantId: form.tenantIds[0]! };
    assert.equal((await post({}, fields)).status, 403, 'without the cookie');
    assert.equal((await post({ cookie: landing.cookie }, { ...fields, csrf: 'guessed' })).status, 403, 'with a wrong CSRF token');
    assert.equal((await post({ cookie: landing.cookie, origin: 'https://evil.example' }, fields)).status, 403, 'from another origin');
    assert.equal((await c.store.connections.listForPortal(MEMBER)).length, 0);
    assert.equal((await confirmConsent(c.url, landing)).status, 200, 'the real confirmation still works');
  });

  it('when the binding cookie is set, then it is HttpOnly, SameSite=Lax and path-wide, named __Host- (Secure) only on an https PUBLIC_URL', async () => {
    const start = await fetch(await startUrl(), { redirect: 'manual' });
    const cookie = start.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^xero-consent=[^;]+;/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.match(cookie, /Path=\//);
    const { consentCookieName } = await import('../../app/http/xero-routes.js');
    assert.equal(consentCookieName('https://connector.example.com'), '__Host-xero-consent');
  });
});
