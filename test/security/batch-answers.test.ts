/**
 * A batch answer with neither a result nor an error for a command (issue 21, item 8) is a read that failed, not a
 * document that is gone: only Bitrix24's own not-found error may delete or void anything in Xero.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { pushJobKey } from '../../app/sync/intake/intake.js';

describe('a Bitrix24 batch answer that leaves a command out', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({ settings: { approveInXero: true } });
  });
  after(async () => env.close());

  /** An invoice pushed to Xero and approved there (an unpaid AUTHORISED invoice is voided when deleted). */
  async function approvedInvoice(number: string): Promise<number> {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: `Customer ${number}` }).id);
    const id = Number(user.createSmartInvoice({ title: number, accountNumber: number, companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
    user.setProductRows(SMART_INVOICE, id, [{ productName: 'Hour', price: 115, quantity: 2, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    env.xero.approveInvoice(env.tenantId, String(xeroInvoice(number)!.InvoiceID));
    return id;
  }
  const xeroInvoice = (number: string) => env.xero.invoices(env.tenantId).find((i) => i.Reference === number);
  /** The job's run time moved to now, as its back-off would in time. */
  const dueNow = async (id: number) => await env.c.store.db.run('UPDATE jobs SET run_at = 0 WHERE job_key = ?', [pushJobKey(env.memberId, { type: 'smart_invoice', id: String(id) })]);

  it('when the answer to a linked approved invoice\'s read is missing, then the invoice is not voided in Xero and its job is tried again', async () => {
    const id = await approvedInvoice('SEC-GAP-1');
    env.b24.setFaults({ omitAnswers: { 'crm.item.get': 1 } });
    env.b24.actAs(2).updateItem(SMART_INVOICE, id, { title: 'SEC-GAP-1 (edited)' });
    await env.settle();
    assert.ok(env.b24.callLog.some((c) => c.method === 'crm.item.get' && c.error === 'omitted'), 'the read was answered with nothing');
    assert.equal(xeroInvoice('SEC-GAP-1')!.Status, 'AUTHORISED');
    const job = await env.c.store.jobs.findLive(pushJobKey(env.memberId, { type: 'smart_invoice', id: String(id) }));
    assert.equal(job?.state, 'pending', 'the job waits for another read');
    assert.equal(job?.lastErrorCode, 'SYNC.READ_FAILED');
    assert.match(job?.lastError ?? '', /no answer/);
    assert.equal((await env.c.store.links.find(env.memberId, 'smart_invoice', String(id)))?.xeroStatus === 'VOIDED', false);

    await dueNow(id);
    await env.settle();
    assert.equal(xeroInvoice('SEC-GAP-1')!.Status, 'AUTHORISED');
    assert.equal(await env.c.store.jobs.findLive(pushJobKey(env.memberId, { type: 'smart_invoice', id: String(id) })), undefined, 'the retry read the invoice and finished');
  });

  it("when Bitrix24 itself answers that the linked approved invoice is not found, then it is voided in Xero as before", async () => {
    const id = await approvedInvoice('SEC-GAP-2');
    env.b24.actAs(2).deleteItem(SMART_INVOICE, id);
    await env.settle();
    assert.ok(env.b24.callLog.some((c) => c.method === 'crm.item.get' && c.error === 'NOT_FOUND'), 'Bitrix24 said not found');
    assert.equal(xeroInvoice('SEC-GAP-2')!.Status, 'VOIDED');
  });

  it("when the answer to an invoice's customer is missing, then the invoice is not held as if its customer were deleted, and it is tried again", async () => {
    const id = await approvedInvoice('SEC-GAP-3');
    // The invoice's read answers; its company's (crm.item.get of entity type 4) does not.
    env.b24.setFaults({ omitAnswers: { 'crm.item.get?entityTypeId=4': 1 } });
    env.b24.actAs(2).updateItem(SMART_INVOICE, id, { title: 'SEC-GAP-3 (edited)' });
    await env.settle();
    assert.ok(env.b24.callLog.some((c) => c.method === 'crm.item.get' && c.error === 'omitted'), 'the read was answered with nothing');
    const job = await env.c.store.jobs.findLive(pushJobKey(env.memberId, { type: 'smart_invoice', id: String(id) }));
    assert.equal(job?.state, 'pending', 'the job waits for another read');
    assert.equal(job?.lastErrorCode, 'SYNC.READ_FAILED');
  });

  it('when the answer to the stage list is missing as a salesperson moves an invoice to the approve stage, then the move is not lost: the job retries and the invoice is approved', async () => {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Customer SEC-GAP-4' }).id);
    const id = Number(user.createSmartInvoice({ title: 'SEC-GAP-4', accountNumber: 'SEC-GAP-4', companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
    user.setProductRows(SMART_INVOICE, id, [{ productName: 'Hour', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    env.b24.setFaults({ omitAnswers: { 'crm.status.list': 1 } });
    user.moveStage(SMART_INVOICE, id, 'DT31_2:S');
    await env.settle();
    assert.equal(xeroInvoice('SEC-GAP-4')!.Status, 'DRAFT');
    assert.equal((await env.c.store.jobs.findLive(pushJobKey(env.memberId, { type: 'smart_invoice', id: String(id) })))?.lastErrorCode, 'B24.NO_ANSWER');
    await dueNow(id);
    await env.settle();
    assert.equal(xeroInvoice('SEC-GAP-4')!.Status, 'AUTHORISED');
  });

  it('when Bitrix24 refuses the stage list as a salesperson moves an invoice to the approve stage, then the move is not lost: the job retries and the invoice is approved', async () => {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Customer SEC-GAP-6' }).id);
    // Pipeline 5: its stage list is not cached yet by the earlier moves of pipeline 2.
    const id = Number(user.createSmartInvoice({ title: 'SEC-GAP-6', accountNumber: 'SEC-GAP-6', companyId, categoryId: 5, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
    user.setProductRows(SMART_INVOICE, id, [{ productName: 'Hour', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    // The crm.status.list command fails inside the batch (result_error), where it used to leave the pipeline silently out.
    env.b24.setFaults({ failMethods: { 'crm.status.list': 1 } });
    user.moveStage(SMART_INVOICE, id, 'DT31_5:UC_7QK2JD');
    await env.settle();
    assert.ok(env.b24.callLog.some((c) => c.method === 'crm.status.list' && c.error === 'INTERNAL_SERVER_ERROR'), 'the stage list was refused');
    assert.equal(xeroInvoice('SEC-GAP-6')!.Status, 'DRAFT');
    const job = await env.c.store.jobs.findLive(pushJobKey(env.memberId, { type: 'smart_invoice', id: String(id) }));
    assert.equal(job?.lastErrorCode, 'B24.READ_FAILED');
    await dueNow(id);
    await env.settle();
    assert.equal(xeroInvoice('SEC-GAP-6')!.Status, 'AUTHORISED');
  });

  it("when the answer to the write-back of Xero's number is missing, then it is written again", async () => {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Customer SEC-GAP-5' }).id);
    env.b24.setFaults({ omitAnswers: { 'crm.item.update': 1 } });
    const id = Number(user.createSmartInvoice({ title: 'SEC-GAP-5', accountNumber: 'SEC-GAP-5', companyId, currencyId: 'NZD' }).id);
    user.setProductRows(SMART_INVOICE, id, [{ productName: 'Hour', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const shown = () => JSON.stringify(env.b24.items(SMART_INVOICE).find((i) => Number(i.id) === id)).includes(String(xeroInvoice('SEC-GAP-5')!.InvoiceID));
    assert.equal(shown(), false, 'the first write-back was answered with nothing');
    assert.equal((await env.c.store.jobs.findLive(pushJobKey(env.memberId, { type: 'smart_invoice', id: String(id) })))?.lastErrorCode, 'B24.WRITE_BACK_FAILED');
    await dueNow(id);
    await env.settle();
    assert.equal(shown(), true);
  });
});
