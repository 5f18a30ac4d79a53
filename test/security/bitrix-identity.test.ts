/** The pieces behind the Bitrix24 attack tests that need no portal: endpoint rules, pinning, the replay memory. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowedEndpoint, isPinnedPortal } from '../../app/bitrix/portal-identity.js';
import { ReplayGuard } from '../../app/bitrix/replay-guard.js';
import { parseEvent } from '../../app/bitrix/request-auth.js';

const bitrix = (portalUrl?: string) => ({ oauthUrl: 'https://oauth.bitrix.info', portalUrl, uninstallGraceDays: 7, allowInsecureLoopback: false });

describe('portal endpoints and replays', () => {
  it('when an endpoint is plain http on a public host, a data: or file: URL, or carries credentials, then it is refused; https and (in development) loopback http pass', () => {
    for (const bad of ['http://crm.example.com/rest/', 'data:application/json,{}#', 'file:///etc/passwd', 'https://user:pw@crm.example.com/rest/', 'http://10.0.0.5/rest/', 'http://127.0.0.1.evil.example/rest/', 'not a url']) {
      assert.equal(allowedEndpoint(bad, true), undefined, bad);
    }
    for (const good of ['https://crm.example.com/rest/', 'http://127.0.0.1:4000/rest/', 'http://localhost:4000/rest/', 'http://[::1]:4000/rest/']) {
      assert.ok(allowedEndpoint(good, true), good);
    }
  });

  it('when B24_PORTAL_URL is set, then only endpoints of its origin are the pinned portal', () => {
    assert.equal(isPinnedPortal(bitrix('https://crm.example.com'), 'https://crm.example.com/rest/'), true);
    assert.equal(isPinnedPortal(bitrix('https://crm.example.com'), 'https://crm.example.com.evil.example/rest/'), false);
    assert.equal(isPinnedPortal(bitrix('https://crm.example.com'), 'http://crm.example.com/rest/'), false);
    assert.equal(isPinnedPortal(bitrix(), 'https://anything.example/rest/'), true);
  });

  it('when many distinct events arrive, then the replay memory stays bounded and still recognises a recent repeat', () => {
    const guard = new ReplayGuard(3600, 1000);
    const ts = String(Math.floor(Date.now() / 1000));
    const event = (id: number) => parseEvent({ event: 'ONCRMDYNAMICITEMUPDATE', ts, data: { FIELDS: { ID: String(id) } }, auth: { member_id: 'm', application_token: 't' } });
    for (let i = 0; i < 5000; i++) {
      assert.equal(guard.check(event(i)), 'fresh');
      guard.remember(event(i));
    }
    assert.ok(guard.size <= 1000, String(guard.size));
    assert.equal(guard.check(event(4999)), 'repeat');
    const old = parseEvent({ event: 'ONCRMDYNAMICITEMUPDATE', ts: String(Number(ts) - 7200), auth: { member_id: 'm', application_token: 't' } });
    assert.equal(guard.check(old), 'stale');
    assert.equal(guard.check(parseEvent({ event: 'X', auth: { member_id: 'm', application_token: 't' } })), 'stale');
  });
});
