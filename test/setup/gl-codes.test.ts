import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { renderView } from '../../app/http/pages.js';

/** Bitrix24 HTTP requests (a batch counts once, however many commands it holds). */
const requests = (env: Environment) => env.b24.callLog.filter((c) => !c.viaBatch).length;

describe('GL codes chosen from lists, in bulk', () => {
  let env: Environment;
  let session: string;
  let propertyId: number;
  let iblockId: number;
  const call = (path: string, init: { method?: string; body?: unknown; as?: string } = {}) =>
    fetch(`${env.c.url}${path}`, {
      method: init.method ?? 'GET',
      headers: { 'content-type': 'application/json', 'X-Connector-Session': init.as ?? session },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

  before(async () => {
    env = await startEnvironment({ fresh: true });
    session = env.c.services.sessions.issue({ memberId: env.memberId, userId: 1, isAdmin: true, userName: 'Admin', authId: env.b24.frameAuth(1).AUTH_ID });
    propertyId = (await env.c.store.settings.get<number>(env.memberId, 'b24.accountCodePropertyId'))!;
    iblockId = env.b24.productProperties().find((p) => p.id === propertyId)!.iblockId;
    const admin = env.b24.actAs(1);
    for (let i = 1; i <= 2000; i++) admin.createProduct({ iblockId, name: `Widget ${String(i).padStart(4, '0')}` });
    for (let i = 1; i <= 30; i++) admin.createProduct({ iblockId, name: `Gadget ${i}` });
  });
  after(async () => env.close());

  it('when an admin assigns an account to the 2,000 products a filter matches, then each carries it, within ⌈2000/50⌉ + 5 Bitrix24 calls', async () => {
    // The catalog id is learnt once (first page view), as an admin opening the table would.
    assert.equal((await call('/api/products?page=0')).status, 200);
    env.b24.resetCounters();
    const res = await call('/api/products/account', { method: 'POST', body: { accountCode: '260', filter: { search: 'widget' } } });
    const body = (await res.json()) as { updated: number; failed: unknown[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.updated, 2000);
    assert.deepEqual(body.failed, []);
    assert.ok(requests(env) <= Math.ceil(2000 / 50) + 5, `Bitrix24 requests: ${requests(env)}`);
    const products = env.b24.products();
    const valueOf = (p: Record<string, unknown>) => (p[`property${propertyId}`] as { value?: string } | null)?.value ?? null;
    assert.equal(products.filter((p) => String(p.name).startsWith('Widget') && valueOf(p) === '260').length, 2000);
    assert.equal(products.filter((p) => String(p.name).startsWith('Gadget') && valueOf(p) !== null).length, 0, 'products outside the filter keep theirs');
  });

  it('when the table is searched and paged, then one Bitrix24 call answers a page of 50 with the account and its name', async () => {
    env.b24.resetCounters();
    const res = await call('/api/products?search=widget&page=3');
    const page = (await res.json()) as { total: number; products: { name: string; accountCode: string; accountName: string }[] };
    assert.equal(page.total, 2000);
    assert.equal(page.products.length, 50);
    assert.equal(page.products[0].name, 'Widget 0151');
    assert.deepEqual([page.products[0].accountCode, page.products[0].accountName], ['260', 'Other Revenue']);
    assert.equal(requests(env), 1);
  });

  it('when the settings page asks for a page of the GL-code table in German, then the server answers the table component\'s rendering of that page, the same one the slider shows', async () => {
    const res = await call('/api/products/table?search=widget&page=3&lang=de');
    assert.equal(res.status, 200);
    const { html, ...page } = (await res.json()) as { html: string; total: number; page: number; pageSize: number };
    assert.deepEqual(page, { total: 2000, page: 3, pageSize: 50 });
    const json = (await (await call('/api/products?search=widget&page=3')).json()) as Record<string, unknown>;
    // One rendering: the slider's fragment (views/settings/gl-table.ejs) over the page the JSON API answers.
    assert.equal(html, await renderView('settings/gl-table', { lang: 'de', isAdmin: true, ...json }));
    // …which is the table and button components: their wrapper, header, row hooks and pager.
    assert.match(html, /^\s*<div class="table-wrap"><table id="gl-table">\s*<caption class="sr-only">Sachkonten der Produkte<\/caption>/);
    assert.match(html, /<th scope="col"><input type="checkbox" id="gl-all" aria-label="Die Produkte dieser Seite auswählen"><\/th><th scope="col">Produkt<\/th>/);
    assert.match(html, /<tr data-id="\d+"><td><input type="checkbox" class="gl-pick" value="\d+" aria-label="Widget 0151 auswählen"><\/td><td>Widget 0151<\/td><td>260 Other Revenue<\/td>/);
    assert.match(html, /<span id="gl-page" class="muted small">Seite 4 von 40 · 2000 Produkte<\/span>/);
    assert.match(html, /<button class="btn btn-secondary btn-sm gl-turn" type="button" id="gl-next" data-page="4">Weiter<\/button>/);
    assert.equal((html.match(/<tr data-id=/g) ?? []).length, 50);
  });

  it('when selected products get an archived account, then nothing is written and the reason names the account', async () => {
    env.xero.setAccountStatus(env.tenantId, '270', 'ARCHIVED');
    env.b24.resetCounters();
    const ids = env.b24.products().filter((p) => String(p.name).startsWith('Gadget')).slice(0, 3).map((p) => Number(p.id));
    const res = await call('/api/products/account', { method: 'POST', body: { accountCode: '270', ids } });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /270 "Interest Income" is archived in Xero/);
    assert.equal(env.b24.callLog.filter((c) => c.method === 'catalog.product.update').length, 0);
  });

  it('when a non-admin tries a bulk assignment, then it is refused and nothing changes', async () => {
    const user = env.c.services.sessions.issue({ memberId: env.memberId, userId: 2, isAdmin: false, userName: 'Mary', authId: env.b24.frameAuth(2).AUTH_ID });
    env.b24.resetCounters();
    const ids = env.b24.products().slice(0, 2).map((p) => Number(p.id));
    const res = await call('/api/products/account', { method: 'POST', body: { accountCode: '200', ids }, as: user });
    assert.equal(res.status, 403);
    assert.equal(env.b24.callLog.length, 0);
  });
});
