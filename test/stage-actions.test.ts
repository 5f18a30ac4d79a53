import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from './emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from './helpers/env.js';

type Row = Record<string, unknown>;

function newInvoice(env: Environment, number: string): number {
  const user = env.b24.actAs(2);
  const companyId = Number(user.createCompany({ title: `${number} Customer Ltd` }).id);
  const inv = user.createSmartInvoice({ title: number, accountNumber: number, companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' });
  user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Work', price: 115, quantity: 2, taxRate: 15, taxIncluded: 'Y' }]);
  return Number(inv.id);
}

const xeroOf = (env: Environment, number: string) => env.xero.invoices(env.tenantId).find((i) => i.Reference === number)!;
const stageOf = (env: Environment, id: number) => String(env.b24.items(SMART_INVOICE).find((i) => Number(i.id) === id)!.stageId);
const xeroWrites = (env: Environment) => env.xero.requestLog.filter((r) => r.method === 'POST' || r.method === 'PUT').length;

describe('Bitrix24 stage changes reach Xero', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({ settings: { approveInXero: true } });
  });
  after(async () => env.close());

  it('when a salesperson moves a draft invoice to the approve stage, then it is approved in Xero', async () => {
    const id = newInvoice(env, 'STG-1');
    await env.settle();
    assert.equal(xeroOf(env, 'STG-1').Status, 'DRAFT');
    env.b24.actAs(2).moveStage(SMART_INVOICE, id, 'DT31_2:S');
    await env.settle();
    assert.equal(xeroOf(env, 'STG-1').Status, 'AUTHORISED');
    assert.match((await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}` }))[0].message, /approved in Xero because it was moved to "Sent"/);
  });

  it('when four drafts are moved to the approve stage at once and Xero refuses one, then one approval request carries them all, three are approved and the refused one says why on its own', async () => {
    const ids = ['STG-B1', 'STG-B2', 'STG-B3'].map((n) => newInvoice(env, n));
    // Without a due date Xero refuses to approve (docs/reference/xero.md#invoices).
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'STG-B4 Customer Ltd' }).id);
    const undated = Number(user.createSmartInvoice({ title: 'STG-B4', accountNumber: 'STG-B4', companyId, currencyId: 'NZD' }).id);
    user.setProductRows(SMART_INVOICE, undated, [{ productName: 'Work', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    assert.ok(!xeroOf(env, 'STG-B4').DueDate, 'the fourth has no due date in Xero');
    const mark = env.xero.requestLog.length;
    for (const id of [...ids, undated]) env.b24.actAs(2).moveStage(SMART_INVOICE, id, 'DT31_2:S');
    await env.settle();
    assert.deepEqual(['STG-B1', 'STG-B2', 'STG-B3', 'STG-B4'].map((n) => xeroOf(env, n).Status), ['AUTHORISED', 'AUTHORISED', 'AUTHORISED', 'DRAFT']);
    const approvals = env.xero.requestLog.slice(mark).filter((r) => r.method === 'POST' && /^POST \/Invoices/.test(r.endpoint));
    assert.equal(approvals.length, 1, `one request for the four approvals: ${approvals.map((r) => r.endpoint).join(', ')}`);
    const lines = await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${undated}` });
    assert.match(lines.find((a) => a.kind === 'invoice.stage_refused')?.message ?? '', /Due Date must be specified/);
    for (const id of ids) assert.match((await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}` }))[0]!.message, /approved in Xero because it was moved to "Sent"/);
  });

  it('when a draft is moved to a failure stage, then the Xero draft is deleted; an approved unpaid one is voided', async () => {
    const draft = newInvoice(env, 'STG-2');
    const approved = newInvoice(env, 'STG-3');
    await env.settle();
    env.xero.approveInvoice(env.tenantId, String(xeroOf(env, 'STG-3').InvoiceID));
    env.b24.actAs(2).moveStage(SMART_INVOICE, draft, 'DT31_2:D');
    env.b24.actAs(2).moveStage(SMART_INVOICE, approved, 'DT31_2:D');
    await env.settle();
    assert.equal(xeroOf(env, 'STG-2').Status, 'DELETED');
    assert.equal(xeroOf(env, 'STG-3').Status, 'VOIDED');
  });

  it('when a paid invoice is moved to a failure stage, then the refusal is shown and it is not retried in a loop', async () => {
    const id = newInvoice(env, 'STG-4');
    await env.settle();
    const x = xeroOf(env, 'STG-4');
    env.xero.approveInvoice(env.tenantId, String(x.InvoiceID));
    env.xero.addPayment(env.tenantId, String(x.InvoiceID), Number(x.Total));
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    await env.settle();
    env.b24.actAs(2).moveStage(SMART_INVOICE, id, 'DT31_2:D');
    await env.settle();
    assert.equal(xeroOf(env, 'STG-4').Status, 'PAID');
    const refusal = (await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}` })).find((a) => a.kind === 'invoice.stage_refused');
    assert.ok(refusal);
    assert.match(refusal.message, /paid in Xero, so moving it to "Declined" cannot void it/);
    assert.equal((await env.c.store.jobs.countByState(env.memberId)).needs_attention, 0);
    // The same event again (another save) makes no further Xero write.
    env.xero.resetCounters();
    env.b24.actAs(2).updateItem(SMART_INVOICE, id, { title: 'STG-4 again' });
    await env.settle();
    assert.equal(xeroWrites(env), 0);
    // The card shows the refusal.
    const auth = env.b24.frameAuth(2);
    const card = await fetch(`${env.c.url}/placements/invoice`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...auth, PLACEMENT: 'CRM_SMART_INVOICE_DETAIL_TAB', PLACEMENT_OPTIONS: JSON.stringify({ ID: String(id) }) }),
    });
    assert.match(await card.text(), /cannot void it/);
  });

  it('when Xero payments move the Bitrix24 stage, then the echoes of those moves cause no Xero write', async () => {
    const id = newInvoice(env, 'STG-5');
    await env.settle();
    const x = xeroOf(env, 'STG-5');
    env.xero.approveInvoice(env.tenantId, String(x.InvoiceID));
    env.xero.addPayment(env.tenantId, String(x.InvoiceID), Number(x.Total));
    env.xero.resetCounters();
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    assert.equal(stageOf(env, id), 'DT31_2:P', 'the pull moved the invoice to the success stage');
    await env.settle();
    assert.equal(xeroWrites(env), 0, JSON.stringify(env.xero.requestLog.map((r) => r.endpoint)));
    const triggers = env.b24.triggerExecutions().filter((t) => t.OWNER_ID === id);
    assert.equal(triggers.length, 1, 'Paid in Xero fired once');
  });

  it('when the setting is off, then moving to the approve stage leaves the Xero draft alone', async () => {
    const session = env.c.services.sessions.issue({ memberId: env.memberId, userId: 1, isAdmin: true, userName: 'Admin', authId: env.b24.frameAuth(1).AUTH_ID });
    await fetch(`${env.c.url}/api/settings`, { method: 'PUT', headers: { 'content-type': 'application/json', 'X-Connector-Session': session }, body: JSON.stringify({ approveInXero: false }) });
    const id = newInvoice(env, 'STG-6');
    await env.settle();
    env.b24.actAs(2).moveStage(SMART_INVOICE, id, 'DT31_2:S');
    await env.settle();
    assert.equal(xeroOf(env, 'STG-6').Status, 'DRAFT');
  });
});

describe('classic invoice status changes reach Xero', () => {
  it('when a classic invoice is moved to a failure status, then its Xero draft is deleted', async () => {
    const env = await startEnvironment();
    try {
      const user = env.b24.actAs(2);
      const companyId = Number(user.createCompany({ title: 'Classic Stage Ltd' }).id);
      const inv = user.createClassicInvoice({
        ORDER_TOPIC: 'Classic', ACCOUNT_NUMBER: 'CLS-1', UF_COMPANY_ID: companyId, CURRENCY: 'NZD', PERSON_TYPE_ID: 1, STATUS_ID: 'N',
        PRODUCT_ROWS: [{ PRODUCT_ID: 0, PRODUCT_NAME: 'Work', PRICE: 115, QUANTITY: 1, VAT_RATE: 0.15, VAT_INCLUDED: 'Y' }],
      }) as Row;
      await env.settle();
      assert.equal(xeroOf(env, 'CLS-1').Status, 'DRAFT');
      const failure = (await (await env.c.services.portals.for(env.memberId)).call<Row[]>('crm.status.list', { filter: { ENTITY_ID: 'INVOICE_STATUS' } })).find((s) => s.SEMANTICS === 'F')!;
      user.setClassicInvoiceStatus(Number(inv.ID ?? inv.id), String(failure.STATUS_ID));
      await env.settle();
      assert.equal(xeroOf(env, 'CLS-1').Status, 'DELETED');
    } finally {
      await env.close();
    }
  });
});
