import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE, startBitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

type Preview = { id: string; count: number; ready: number; dateRange: { from: string; to: string }; pipelines: { key: string; count: number }[]; blocked: { code: string; count: number; example: string }[] };
type Progress = { total: number; sent: number; waiting: number; blocked: { code: string; count: number }[]; finished: boolean };

describe('sending existing invoices', () => {
  let env: Environment;
  let session: string;
  const post = (path: string, body?: unknown, as = session) =>
    fetch(`${env.c.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Connector-Session': as }, body: JSON.stringify(body ?? {}) });

  before(async () => {
    // 500 invoices made before the app was installed: 25 without a customer, 14 at 20 % VAT (no NZ rate), 461 that can go.
    const b24 = await startBitrix24Emulator({ seedDemo: false });
    const user = b24.actAs(2);
    const companies = Array.from({ length: 20 }, (_, i) => Number(user.createCompany({ title: `Old customer ${i}` }).id));
    for (let i = 0; i < 500; i++) {
      const noCustomer = i % 20 === 7;
      const vat20 = !noCustomer && i % 33 === 5;
      const day = String(1 + (i % 28)).padStart(2, '0');
      const month = i < 250 ? '09' : '10';
      const inv = user.createSmartInvoice({
        title: `Old ${i}`, accountNumber: `OLD-${i}`, currencyId: 'NZD', categoryId: i % 2 ? 2 : 5,
        ...(noCustomer ? {} : { companyId: companies[i % companies.length] }),
        begindate: `2026-${month}-${day}T00:00:00+00:00`, closedate: '2026-12-31T00:00:00+00:00',
      });
      user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Consulting hour', price: 115, quantity: 1 + (i % 3), taxRate: vat20 ? 20 : 15, taxIncluded: 'Y' }]);
    }
    env = await startEnvironment({ fresh: true, b24 });
    session = env.c.services.sessions.issue({ memberId: env.memberId, userId: 1, isAdmin: true, userName: 'Admin', authId: env.b24.frameAuth(1).AUTH_ID });
  });
  after(async () => { await env.close(); await env.b24.close(); });

  it('when nobody asks, then no existing invoice is sent', async () => {
    await env.settle();
    assert.equal(env.xero.invoices(env.tenantId).length, 0);
  });

  it('when an admin previews and then sends 500 existing invoices, then the outcome is what the preview said', async () => {
    const res = await post('/api/backfill/preview');
    const preview = (await res.json()) as Preview;
    assert.equal(res.status, 200, JSON.stringify(preview));
    assert.equal(preview.count, 500);
    assert.deepEqual(preview.dateRange, { from: '2026-09-01', to: '2026-10-28' });
    assert.deepEqual(preview.pipelines, [{ key: 'smart_invoice:2', count: 250 }, { key: 'smart_invoice:5', count: 250 }]);
    const blocked = Object.fromEntries(preview.blocked.map((b) => [b.code, b.count]));
    assert.deepEqual(blocked, { 'SYNC.NO_CUSTOMER': 25, 'SYNC.UNKNOWN_TAX_RATE': 14 });
    assert.match(preview.blocked.find((b) => b.code === 'SYNC.UNKNOWN_TAX_RATE')!.example, /20 %/);
    assert.equal(preview.ready, 461);

    const started = await post('/api/backfill', { previewId: preview.id });
    assert.equal(started.status, 200);
    assert.equal(((await started.json()) as Progress).total, 500);
    await env.settle();
    const progress = (await (await fetch(`${env.c.url}/api/backfill`, { headers: { 'X-Connector-Session': session } })).json()) as Progress;
    assert.equal(progress.finished, true);
    assert.equal(progress.sent, preview.ready);
    assert.deepEqual(Object.fromEntries(progress.blocked.map((b) => [b.code, b.count])), blocked);
    assert.equal(env.xero.invoices(env.tenantId).length, preview.ready);
  });

  it('when the same preview is sent twice, or by a non-admin, then it is refused', async () => {
    const user = env.c.services.sessions.issue({ memberId: env.memberId, userId: 2, isAdmin: false, userName: 'Mary', authId: env.b24.frameAuth(2).AUTH_ID });
    assert.equal((await post('/api/backfill/preview', {}, user)).status, 403);
    assert.equal((await post('/api/backfill', { previewId: '00000000-0000-4000-8000-000000000000' })).status, 409);
  });
});
