/**
 * Attacks through the app's pages on what a user may see: a document's Xero state and history only for a user
 * whom Bitrix24 lets read it; sessions that outlive their portal's install or their user's admin rights.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
}

describe('CRM read permissions and page sessions', () => {
  let env: Environment;
  let invoiceId = 0;
  let outsider = 0;
  let colleague = 0;

  before(async () => {
    env = await startEnvironment();
    const admin = env.b24.actAs(1);
    const companyId = Number(admin.createCompany({ title: 'Secret Customer Ltd' }).id);
    invoiceId = Number(admin.createSmartInvoice({ title: 'Invoice SEC-1', accountNumber: 'SEC-1', companyId, currencyId: 'NZD' }).id);
    admin.setProductRows(SMART_INVOICE, invoiceId, [{ productName: 'Consulting', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    assert.ok((await env.c.store.links.find(env.memberId, 'smart_invoice', String(invoiceId)))?.xeroNumber, 'the invoice reached Xero');
    outsider = env.b24.addUser({ name: 'Olga', lastName: 'Outsider' });
    colleague = env.b24.addUser({ name: 'Carl', lastName: 'Colleague' });
    env.b24.denyRead(outsider, SMART_INVOICE, [invoiceId]);
  });
  after(async () => env.close());

  const openTab = (userId: number) =>
    postForm(`${env.c.url}/placements/invoice`, { ...env.b24.frameAuth(userId), PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', PLACEMENT_OPTIONS: JSON.stringify({ ID: String(invoiceId) }) });
  const sessionOf = async (userId: number) => {
    const html = await (await postForm(`${env.c.url}/app`, env.b24.frameAuth(userId))).text();
    return /data-session="([^"]+)"/.exec(html)![1]!;
  };

  it('when a user whom Bitrix24 does not let read an invoice opens its Xero tab, then the tab is refused with 403 and shows neither its Xero number nor its history', async () => {
    const xeroNumber = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(invoiceId)))!.xeroNumber!;
    const denied = await openTab(outsider);
    const html = await denied.text();
    assert.equal(denied.status, 403, html);
    assert.doesNotMatch(html, new RegExp(xeroNumber));
    assert.doesNotMatch(html, /id="history"/);
    const allowed = await openTab(colleague);
    assert.equal(allowed.status, 200);
    assert.match(await allowed.text(), new RegExp(xeroNumber));
  });

  it('when that user asks the page APIs for the invoice (its live card stream, its PDF), then they answer 403, while a user who may read it gets the stream', async () => {
    const ask = async (userId: number, path: string) => {
      const controller = new AbortController();
      const res = await fetch(`${env.c.url}${path}`, { headers: { 'X-Connector-Session': await sessionOf(userId) }, signal: controller.signal });
      const body = res.headers.get('content-type')?.startsWith('text/event-stream') ? '' : await res.text();
      controller.abort();
      return { status: res.status, body };
    };
    const live = `/api/live/card?type=smart_invoice&id=${invoiceId}`;
    const denied = await ask(outsider, live);
    assert.equal(denied.status, 403);
    assert.equal((JSON.parse(denied.body) as { error: { code: string } }).error.code, 'AUTH.NO_DOCUMENT_ACCESS');
    assert.equal((await ask(outsider, `/api/documents/smart_invoice/${invoiceId}/pdf`)).status, 403);
    assert.equal((await ask(colleague, live)).status, 200);
  });

  it('when that user opens the dashboard, then the invoice\'s activity is not listed, while a user who may read it sees it', async () => {
    const subject = `smart_invoice:${invoiceId}`;
    const message = (await env.c.store.activity.list({ memberId: env.memberId, subject, limit: 1 }))[0]!.message;
    const dashboard = async (userId: number) => (await postForm(`${env.c.url}/app`, env.b24.frameAuth(userId))).text();
    const escaped = message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'/g, '&#39;').replace(/"/g, '&#34;');
    assert.doesNotMatch(await dashboard(outsider), new RegExp(escaped));
    assert.match(await dashboard(colleague), new RegExp(escaped));
  });

  it('when an admin loses admin rights in Bitrix24, then the session issued before can no longer change settings', async () => {
    const deputy = env.b24.addUser({ name: 'Dana', lastName: 'Deputy', admin: true });
    const session = await sessionOf(deputy);
    const put = () => fetch(`${env.c.url}/api/settings`, { method: 'PUT', headers: { 'X-Connector-Session': session, 'content-type': 'application/json' }, body: JSON.stringify({ voidOnDelete: true }) });
    assert.equal((await put()).status, 200);
    env.b24.portal.user(deputy).admin = false;
    const refused = await put();
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /no longer lists you as a portal administrator/);
  });

  it('when a page session is older than its short lifetime, then it is refused', async () => {
    const session = await sessionOf(1);
    assert.throws(() => env.c.services.sessions.verify(session, Date.now() + 11 * 60_000), /expired/);
  });

  it('when the portal is uninstalled, then a page session issued before is refused with 401', async () => {
    const session = await sessionOf(colleague);
    assert.equal((await fetch(`${env.c.url}/api/status`, { headers: { 'X-Connector-Session': session } })).status, 200);
    await env.c.store.portals.setState(env.memberId, 'uninstalled'); // what a confirmed ONAPPUNINSTALL leaves behind
    assert.equal((await fetch(`${env.c.url}/api/status`, { headers: { 'X-Connector-Session': session } })).status, 401);
  });
});
