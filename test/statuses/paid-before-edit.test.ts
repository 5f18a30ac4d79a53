/**
 * A document paid in Xero and edited in Bitrix24 before its status came back: the push meets a document Xero no
 * longer lets it edit, and the status pull still does all it owes — the paid stage, the payment comment, the "Paid in
 * Xero" trigger. The pull decides what changed by the status and amount paid its link last applied; the push must not
 * mark those as applied, or the pull sees nothing to do and the payment never reaches the card's stage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

describe('a payment that reaches Xero before an edit reaches the connector', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when a pushed invoice is paid in Xero and then edited in Bitrix24 before the pull, then the push refuses the edit and the pull still moves it to paid, comments and fires the trigger once', async () => {
    const admin = env.b24.actAs(1);
    const companyId = Number(admin.createCompany({ title: 'Paid First Ltd' }).id);
    const id = Number(admin.createSmartInvoice({ title: 'Invoice PBE-1', accountNumber: 'PBE-1', companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
    admin.setProductRows(SMART_INVOICE, id, [{ productName: 'Consulting', price: 230, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const { xeroId } = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!;

    env.xero.approveInvoice(env.tenantId, xeroId);
    env.xero.addPayment(env.tenantId, xeroId, 230);
    admin.setProductRows(SMART_INVOICE, id, [{ productName: 'Consulting', price: 345, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const refused = await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}`, limit: 5 });
    assert.ok(refused.some((a) => /not_editable/.test(a.kind)), `the push met the paid invoice: ${refused.map((a) => a.kind).join(', ')}`);

    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    await env.c.services.pullStatuses.pollConnection(env.connectionId);

    const item = env.b24.items(SMART_INVOICE).find((x) => Number(x.id) === id)!;
    assert.equal(item.stageId, 'DT31_2:P', 'the paid stage');
    assert.equal(item.ufCrmSmartInvoiceXeroStatus, 'PAID');
    assert.equal((await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!.xeroStatus, 'PAID');
    assert.equal(env.b24.timelineComments().filter((x) => x.ENTITY_TYPE === 'dynamic_31' && x.ENTITY_ID === id).length, 1, 'one payment comment');
    assert.equal(env.b24.triggerExecutions().filter((t) => t.OWNER_TYPE_ID === 31 && t.OWNER_ID === id).length, 1, '"Paid in Xero" once');
  });

  it('when Xero created an invoice whose answer was lost, and it was paid in Xero before the retry found it, then the found invoice still reaches the paid stage with its comment and trigger', async () => {
    const admin = env.b24.actAs(1);
    const companyId = Number(admin.createCompany({ title: 'Healed Paid Ltd' }).id);
    const first = Number(admin.createSmartInvoice({ title: 'Invoice PBE-2A', accountNumber: 'PBE-2A', companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
    admin.setProductRows(SMART_INVOICE, first, [{ productName: 'Consulting', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle(); // the customer is in Xero now: the next push is the invoice POST alone
    const id = Number(admin.createSmartInvoice({ title: 'Invoice PBE-2', accountNumber: 'PBE-2', companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
    admin.setProductRows(SMART_INVOICE, id, [{ productName: 'Consulting', price: 230, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    env.xero.setFaults({ dropResponseRate: 1 });
    await env.b24.flushEvents();
    await env.c.services.outbox.drain();
    env.xero.setFaults({});
    const inXero = env.xero.invoices(env.tenantId).find((x) => x.Reference === 'PBE-2')!;
    assert.ok(inXero, 'Xero has it although the connector never heard back');
    assert.equal(await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)), undefined);
    // An accountant approves and pays it; the status poll reads the change while nothing links it, and passes it by.
    env.xero.approveInvoice(env.tenantId, String(inXero.InvoiceID));
    env.xero.addPayment(env.tenantId, String(inXero.InvoiceID), 230);
    await env.c.services.pullStatuses.pollConnection(env.connectionId);

    await env.c.store.db.run(`UPDATE jobs SET run_at = 0 WHERE state = 'pending'`);
    await env.settle();

    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))!;
    assert.equal(link.xeroId, inXero.InvoiceID, 'found, not created twice');
    assert.equal(env.xero.invoices(env.tenantId).filter((x) => x.Reference === 'PBE-2').length, 1);
    const item = env.b24.items(SMART_INVOICE).find((x) => Number(x.id) === id)!;
    assert.equal(item.stageId, 'DT31_2:P', 'the paid stage');
    assert.equal(link.xeroStatus, 'PAID');
    assert.equal(env.b24.timelineComments().filter((x) => x.ENTITY_TYPE === 'dynamic_31' && x.ENTITY_ID === id).length, 1, 'one payment comment');
    assert.equal(env.b24.triggerExecutions().filter((t) => t.OWNER_TYPE_ID === 31 && t.OWNER_ID === id).length, 1, '"Paid in Xero" once');
  });
});
