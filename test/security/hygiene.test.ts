/**
 * Hygiene (issue 21, item 9): no secret stays in the old format without associated data, plain-http portal endpoints
 * need an explicit development setting, and the Xero callback never shows the caller's words.
 */
import assert from 'node:assert/strict';
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../app/store/index.js';
import { allowedEndpoint } from '../../app/bitrix/portal-identity.js';
import { startConnector, type TestConnector } from '../helpers/connector.js';
import { TEST_SECRET } from '../helpers/store.js';
import { tempDir } from '../helpers/tmp.js';
import { connectorFor, emulatorBed } from './bitrix-helpers.js';

/**
 * A value as the first release sealed it: `v1:` + AES-256-GCM with the same key derivation, but no associated data
 * (so it opened in any column or row). Written here byte for byte, since the connector no longer writes it.
 */
function sealV1(appSecret: string, plaintext: string): string {
  const key = Buffer.from(hkdfSync('sha256', appSecret, 'bitrix24-xero-connector', 'secrets-at-rest/v1', 32));
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `v1:${Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url')}`;
}

describe('secrets at rest: the old format', () => {
  const portalRow = (memberId: string) => ({
    memberId, domain: 'crm.example.com', clientEndpoint: 'https://crm.example.com/rest/', serverEndpoint: 'https://oauth.bitrix.info/rest/',
    accessToken: 'access-new', refreshToken: 'refresh-new', expiresAt: 1, applicationToken: 'app-new', scope: null, installedBy: 1, state: 'installed' as const,
  });

  it('when the store holds values sealed in the old v1 format, then the start re-seals every one of them bound to its place and they read the same', async () => {
    const dir = tempDir();
    const first = await openStore(dir, TEST_SECRET);
    await first.portals.upsert(portalRow('m1'));
    await first.connections.upsert({ memberId: 'm1', tenantId: 't1', tenantName: 'Org', tenantType: 'ORGANISATION', xeroConnectionId: null, grantType: 'authorization_code', accessToken: 'x', refreshToken: 'y', expiresAt: 1, scope: null });
    const consentId = await first.consents.create({ memberId: 'm1', purpose: 'state', userId: 1, payload: { secret: 'z' }, ttlMs: 60_000 });
    // As an older release left them.
    const db = first.db;
    await db.run('UPDATE portals SET access_token = ?, refresh_token = ?, application_token = ? WHERE member_id = ?', [sealV1(TEST_SECRET, 'access-old'), sealV1(TEST_SECRET, 'refresh-old'), sealV1(TEST_SECRET, 'app-old'), 'm1']);
    await db.run('UPDATE connections SET access_token = ?, refresh_token = ?', [sealV1(TEST_SECRET, 'xa-old'), sealV1(TEST_SECRET, 'xr-old')]);
    await db.run('UPDATE xero_consents SET payload = ? WHERE id = ?', [sealV1(TEST_SECRET, JSON.stringify({ secret: 'z-old' })), consentId]);
    await db.run(`UPDATE meta SET value = ? WHERE key = 'secret-key-check'`, [sealV1(TEST_SECRET, 'bitrix24-xero-connector')]);
    await first.close();

    const store = await openStore(dir, TEST_SECRET);
    try {
      const sealed = [
        ...Object.values((await store.db.get<Record<string, string>>('SELECT access_token, refresh_token, application_token FROM portals'))!),
        ...Object.values((await store.db.get<Record<string, string>>('SELECT access_token, refresh_token FROM connections'))!),
        (await store.db.get<{ payload: string }>('SELECT payload FROM xero_consents'))!.payload,
        (await store.db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'secret-key-check'`))!.value,
      ];
      assert.equal(sealed.length, 7);
      for (const v of sealed) assert.match(v, /^v2:/);
      const p = (await store.portals.get('m1'))!;
      assert.deepEqual([p.accessToken, p.refreshToken, p.applicationToken], ['access-old', 'refresh-old', 'app-old']);
      const conn = (await store.connections.listForPortal('m1'))[0]!;
      assert.deepEqual([conn.accessToken, conn.refreshToken], ['xa-old', 'xr-old']);
      assert.deepEqual((await store.consents.peek(consentId, 'state'))?.payload, { secret: 'z-old' });
    } finally {
      await store.close();
    }
  });

  it('when a v1 value turns up after the start (copied in from elsewhere), then it is refused rather than read', async () => {
    const store = await openStore(tempDir(), TEST_SECRET);
    try {
      await store.portals.upsert(portalRow('m2'));
      // A v1 value opens in any row: copied into this one, it would be read as this portal's token.
      await store.db.run('UPDATE portals SET refresh_token = ? WHERE member_id = ?', [sealV1(TEST_SECRET, 'copied-from-another-portal'), 'm2']);
      await assert.rejects(() => store.portals.get('m2'), (err: Error & { code?: string }) => err.code === 'STORE.SECRET_FORMAT' && /old/.test(err.message));
    } finally {
      await store.close();
    }
  });
});

describe('plain-http portal endpoints', () => {
  const bed = emulatorBed();

  it('when ALLOW_INSECURE_LOOPBACK is not set, then a portal at a plain-http loopback endpoint is refused and nothing is stored', async () => {
    for (const ep of ['http://127.0.0.1:4000/rest/', 'http://localhost:4000/rest/', 'http://[::1]:4000/rest/']) {
      assert.equal(allowedEndpoint(ep, false), undefined, ep);
      assert.ok(allowedEndpoint(ep, true), ep);
    }
    assert.ok(allowedEndpoint('https://crm.example.com/rest/', false));
    bed.c = await connectorFor(bed.b24, bed.xero, { ALLOW_INSECURE_LOOPBACK: '0' });
    const res = await bed.b24.install({ userId: 1 });
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, /https:\/\//);
    assert.deepEqual(await bed.c.store.portals.list(), []);
  });

  it('when ALLOW_INSECURE_LOOPBACK=1 (the emulators, the demo, the tests), then the same install is accepted', async () => {
    bed.c = await connectorFor(bed.b24, bed.xero, { ALLOW_INSECURE_LOOPBACK: '1' });
    assert.equal((await bed.b24.install({ userId: 1 })).status, 200);
    assert.equal((await bed.c.store.portals.get(bed.b24.memberId))?.state, 'installed');
  });
});

describe("the Xero callback's error", () => {
  let c: TestConnector;
  before(async () => {
    c = await startConnector();
  });
  after(async () => c.close());

  it("when the callback carries an unknown error text, then the page shows a fixed message and never the caller's words", async () => {
    const words = 'Your Xero subscription lapsed; call +1 555 0100 to pay now';
    const res = await fetch(`${c.url}/xero/callback?error=${encodeURIComponent(words)}&error_description=${encodeURIComponent('Visit evil.example to reconnect')}&state=x`);
    assert.equal(res.status, 400);
    const html = await res.text();
    assert.doesNotMatch(html, /subscription|555|evil\.example/);
    assert.match(html, /Xero refused the connection/);
  });

  it("when the callback carries one of Xero's OAuth error codes, then the page shows that code's fixed message and the code, not error_description", async () => {
    const res = await fetch(`${c.url}/xero/callback?error=invalid_scope&error_description=${encodeURIComponent('Visit evil.example')}&state=x`);
    assert.equal(res.status, 400);
    const html = await res.text();
    assert.match(html, /invalid_scope/);
    assert.match(html, /permissions/);
    assert.doesNotMatch(html, /evil\.example/);
  });
});
