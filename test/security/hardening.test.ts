/**
 * Hardening against probing and leaks: HSTS on https, no caching of API answers, rate limits on what anyone can
 * reach, repeated query parameters, secrets at rest bound to their place, /health without names, and no token in
 * an error text or a log line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SecretBox } from '../../app/store/secret-box.js';
import { startConnector } from '../helpers/connector.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { TEST_SECRET } from '../helpers/store.js';

describe('hardening', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when PUBLIC_URL is https, then every answer carries HSTS, and on plain http none does', async () => {
    const https = await startConnector({ env: { PUBLIC_URL: 'https://connector.example.com' } });
    try {
      const res = await fetch(`${https.url}/health`);
      assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=31536000/);
    } finally {
      await https.close();
    }
    assert.equal((await fetch(`${env.c.url}/health`)).headers.get('strict-transport-security'), null);
  });

  it('when a page API answers, even with an error, then it says Cache-Control: no-store', async () => {
    const refused = await fetch(`${env.c.url}/api/status`);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('cache-control'), 'no-store');
  });

  it('when an unauthenticated endpoint is flooded from one address, then it answers 429 past the limit', async () => {
    const own = await startConnector(); // its own limiter, so the other tests stay under it
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 301; i++) statuses.push((await fetch(`${own.url}/xero/start?ticket=t${i}`, { redirect: 'manual' })).status);
      assert.equal(statuses[299], 400, 'the first 300 are answered normally');
      assert.equal(statuses[300], 429);
    } finally {
      await own.close();
    }
  });

  it('when a query parameter is repeated, then the answer is 400 naming it, not 500', async () => {
    const res = await fetch(`${env.c.url}/xero/callback?state=a&state=b&code=c`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'HTTP.BAD_QUERY');
    assert.match(body.error.message, /"state"/);
  });

  it('when a sealed token is copied into another portal\'s row or column, or its tag is cut short, then it does not open; values sealed before contexts still open', async () => {
    const box = new SecretBox(TEST_SECRET);
    const sealed = box.seal('refresh-123', 'portals.refresh_token:portal-a');
    assert.equal(box.open(sealed, 'portals.refresh_token:portal-a'), 'refresh-123');
    assert.throws(() => box.open(sealed, 'portals.refresh_token:portal-b'), /cannot be decrypted/);
    assert.throws(() => box.open(sealed, 'portals.access_token:portal-a'), /cannot be decrypted/);
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    const shortTag = `v2:${Buffer.concat([raw.subarray(0, 12), raw.subarray(12, 16)]).toString('base64url')}`;
    assert.throws(() => box.open(shortTag, 'portals.refresh_token:portal-a'), /cannot be decrypted/);
    // A v1 value (written before contexts) is still read: nothing stored earlier is lost.
    const stored = (await env.c.store.db.get("SELECT access_token FROM portals WHERE member_id = ?", [env.memberId])) as { access_token: string };
    assert.match(stored.access_token, /^v2:/);
  });

  it('when /health is asked, then it names no portal (no member id, no domain)', async () => {
    const text = await (await fetch(`${env.c.url}/health`)).text();
    assert.equal(text.includes(env.memberId), false);
    assert.equal(text.includes(env.b24.domain), false);
  });

  it('when requests carry tokens that end in errors (a foreign AUTH_ID, a Xero code, a start ticket, a session), then no token appears in any answer or log line', async () => {
    const secrets = ['AUTHIDSECRET0123456789', 'XEROCODESECRET0123456789', 'TICKETSECRET0123456789', 's2.SESSIONSECRET0123456789'];
    const answers: string[] = [];
    const page = await fetch(`${env.c.url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...env.b24.frameAuth(1), AUTH_ID: secrets[0]! }) });
    answers.push(await page.text());
    answers.push(await (await fetch(`${env.c.url}/xero/callback?code=${secrets[1]}&state=forged`)).text());
    answers.push(await (await fetch(`${env.c.url}/xero/start?ticket=${secrets[2]}`, { redirect: 'manual' })).text());
    answers.push(await (await fetch(`${env.c.url}/api/status`, { headers: { 'X-Connector-Session': secrets[3]! } })).text());
    const logs = env.c.logLines.join('\n');
    assert.ok(logs.length > 0);
    for (const s of secrets) {
      assert.equal(logs.includes(s), false, `a log line carries ${s}`);
      for (const a of answers) assert.equal(a.includes(s), false, `an answer carries ${s}`);
    }
  });
});
