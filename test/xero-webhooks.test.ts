import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startXeroEmulator, type XeroEmulator } from './emulators/xero/index.js';
import { startConnector, type TestConnector } from './helpers/connector.js';

describe('Xero webhooks endpoint', () => {
  let xero: XeroEmulator;
  let c: TestConnector;
  let tenant: string;

  before(async () => {
    xero = await startXeroEmulator({ webhookKey: 'webhook-key-for-tests-0123456789' });
    tenant = xero.addOrganisation({ name: 'Hooked Ltd' });
    c = await startConnector({ xero });
    await c.store.portals.upsert({
      memberId: 'm1', domain: 'd', clientEndpoint: 'https://d/rest/', serverEndpoint: 'https://o/rest/', accessToken: 'a',
      refreshToken: 'r', expiresAt: 0, applicationToken: 't', scope: null, installedBy: 1, state: 'installed',
    });
    await c.store.connections.upsert({
      memberId: 'm1', tenantId: tenant, tenantName: 'Hooked Ltd', tenantType: 'ORGANISATION', xeroConnectionId: null,
      grantType: 'authorization_code', accessToken: 'x', refreshToken: 'y', expiresAt: 0, scope: null,
    });
    xero.configureWebhook({ url: `${c.url}/xero/webhooks` });
  });
  after(async () => {
    await c.close();
    await xero.close();
  });

  it('when Xero runs its intent-to-receive check, then signed batches get 200 and wrongly signed ones 401', async () => {
    const result = await xero.intentToReceive();
    assert.equal(result.goodStatus, 200);
    assert.equal(result.badStatus, 401);
    assert.equal(result.passed, true);
  });

  it('when an event arrives with a bad signature, then 401 is answered and nothing is stored', async () => {
    const delivery = await xero.sendWebhookEvents([{ resourceId: '11111111-1111-1111-1111-111111111111', tenantId: tenant }], { signatureValid: false });
    assert.equal(delivery.status, 401);
    assert.equal((await c.store.jobs.list({ memberId: 'm1' })).length, 0);
  });

  it('when a signed invoice event arrives, then it is stored as a job before the empty 200 answer', async () => {
    const id = '22222222-2222-2222-2222-222222222222';
    const delivery = await xero.sendWebhookEvents([{ resourceId: id, tenantId: tenant }, { resourceId: id, tenantId: tenant }]);
    assert.equal(delivery.status, 200);
    const jobs = (await c.store.jobs.list({ memberId: 'm1' })).filter((j) => j.kind === 'xero-webhook');
    assert.equal(jobs.length, 1, 'two events for one invoice coalesce');
    assert.deepEqual((jobs[0].payload as { invoiceId: string }).invoiceId, id);
  });

  it('when a request has no signature at all, then it is refused without reading it', async () => {
    const res = await fetch(`${c.url}/xero/webhooks`, { method: 'POST', body: '{"events":[]}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('set-cookie'), null);
  });
});
