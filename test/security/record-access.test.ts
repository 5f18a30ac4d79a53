/**
 * Read rights beyond documents (issue 21, item 5): what the dashboard says about companies and contacts, the log's
 * totals, the GL-code table's products and the settings slider's pipelines are shown only as far as Bitrix24 lets the
 * page's user read them, asked with the user's own token (never the connector's).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMPANY, SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { postForm } from './bitrix-helpers.js';

describe('read rights on companies, contacts, products and pipelines', () => {
  let env: Environment;
  let outsider = 0;
  let colleague = 0;
  let companyId = 0;
  const SECRET = 'Secret Holdings Ltd could not be updated in Xero';

  before(async () => {
    env = await startEnvironment();
    outsider = env.b24.addUser({ name: 'Olga', lastName: 'Outsider' });
    colleague = env.b24.addUser({ name: 'Carl', lastName: 'Colleague' });
    companyId = Number(env.b24.actAs(1).createCompany({ title: 'Secret Holdings Ltd' }).id);
    env.b24.actAs(1).createProduct({ name: 'Consulting hour', purchasingPrice: '120.00' });
    // What contact sync leaves about a company: a line in the log and a job that needs attention.
    const { store, memberId } = { store: env.c.store, memberId: env.memberId };
    await store.activity.record({ memberId, level: 'warn', kind: 'contact.refused', subject: `company:${companyId}`, message: `${SECRET} (the log).` });
    const job = await store.jobs.enqueue({ memberId, kind: 'push-contact', key: `push-contact:${memberId}:company:${companyId}`, payload: { type: 'company', id: String(companyId) } });
    await store.jobs.needsAttention(job.id, { code: 'XERO.VALIDATION', message: `${SECRET} (needs attention).` });
    env.b24.denyRead(outsider, COMPANY);
    env.b24.denyCatalog(outsider);
    env.b24.denyCategory(outsider, SMART_INVOICE, 5);
  });
  after(async () => env.close());

  const dashboard = async (userId: number) => (await postForm(`${env.c.url}/app`, env.b24.frameAuth(userId))).text();
  const sessionOf = async (userId: number) => /data-session="([^"]+)"/.exec(await dashboard(userId))![1]!;

  it("when a user whom Bitrix24 does not let read a company opens the dashboard, then neither its log line nor its needs-attention row is shown, while a colleague sees both", async () => {
    const hidden = await dashboard(outsider);
    assert.doesNotMatch(hidden, /Secret Holdings Ltd could not be updated/);
    const shown = await dashboard(colleague);
    assert.match(shown, /Secret Holdings Ltd could not be updated in Xero \(the log\)/);
    assert.match(shown, /Secret Holdings Ltd could not be updated in Xero \(needs attention\)/);
    assert.ok(env.b24.callLog.some((c) => c.method === 'crm.item.get' && c.userId === outsider && c.error === 'ACCESS_DENIED'), 'asked with the outsider\'s own token');
  });

  it("when a user who is not a portal admin opens the dashboard, then the log shows no totals of entries they may not read; an admin's log counts them", async () => {
    const count = (html: string) => /id="log-count">([^<]*)</.exec(html)![1]!;
    assert.match(count(await dashboard(outsider)), /^Page 1$/);
    assert.match(count(await dashboard(1)), /^\d+ entr(y|ies) · page 1 of \d+$/);
  });

  it('when a user without the catalog permission asks for the GL-code table, then it answers 403, while a colleague gets the products', async () => {
    const ask = async (userId: number) => fetch(`${env.c.url}/api/products`, { headers: { 'X-Connector-Session': await sessionOf(userId) } });
    const denied = await ask(outsider);
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'AUTH.NO_CATALOG_ACCESS');
    const allowed = await ask(colleague);
    assert.equal(allowed.status, 200);
    assert.ok(((await allowed.json()) as { products: unknown[] }).products.length > 0);
  });

  it('when a user who may not read a pipeline opens the settings slider, then that pipeline and its stages are not listed, while a colleague sees it', async () => {
    const slider = async (userId: number) => (await postForm(`${env.c.url}/app`, { ...env.b24.frameAuth(userId), PLACEMENT: 'DEFAULT', PLACEMENT_OPTIONS: JSON.stringify({ view: 'settings' }) })).text();
    const hidden = await slider(outsider);
    assert.doesNotMatch(hidden, /data-pipeline="smart_invoice:5"/);
    assert.match(hidden, /data-pipeline="smart_invoice:2"/);
    assert.match(await slider(colleague), /data-pipeline="smart_invoice:5"/);
  });
});
