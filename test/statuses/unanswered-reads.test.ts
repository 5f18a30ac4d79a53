// A read of the pull that Bitrix24 leaves unanswered or refuses fails the document for that round only: its Xero
// status is not recorded on the link without the stage move it asks for, and the next round makes the move.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { linkedSmartInvoice, poll, smartInvoice, statusBed } from './bed.js';

const bed = await statusBed();
const { b24, xero, c } = bed;

const linkOf = async (b24Id: number) => (await c.store.links.find(bed.memberId, 'smart_invoice', String(b24Id)))!;
const triggersFor = (id: number) => b24.triggerExecutions().filter((t) => t.OWNER_TYPE_ID === 31 && t.OWNER_ID === id);

describe('Bitrix24 reads the pull gets no answer to', () => {
  // The links are made in the store, without a push: the documents' own events would only hold them for lack of a
  // customer, so they are not delivered.
  before(() => b24.setEventDelivery(false));

  it('when the stage read of a paid invoice gets no answer, then its status is not recorded and the next round moves it', async () => {
    const inv = await linkedSmartInvoice(bed);
    xero.addPayment(bed.tenantId, inv.xeroId, 1150);
    // The crm.item.list command of the stage read comes back with neither a result nor an error (docs/reference/bitrix24.md#batch).
    b24.setFaults({ omitAnswers: { 'crm.item.list': 1 } });

    const first = await poll(bed);

    assert.ok(b24.callLog.some((e) => e.method === 'crm.item.list' && e.error === 'omitted'), 'the stage read went unanswered');
    assert.equal(first.updated, 0);
    assert.equal(first.failed, 1);
    assert.equal(smartInvoice(bed, inv.b24Id).stageId, 'DT31_2:N');
    assert.equal((await linkOf(inv.b24Id)).xeroStatus, 'AUTHORISED', 'PAID is not recorded without its stage move');
    assert.equal(triggersFor(inv.b24Id).length, 0);
    const said = (await c.store.activity.list({ memberId: bed.memberId, subject: `smart_invoice:${inv.b24Id}` }))[0]!;
    assert.equal(said.level, 'warn');
    assert.match(said.message, new RegExp(`^Invoice ${inv.number}: the Xero status PAID was not written to Bitrix24, as its current stage could not be read from Bitrix24 \\(Bitrix24 gave no answer\\); it will be tried again\\.$`));

    const second = await poll(bed);

    assert.equal(second.updated, 1, 'the watermark did not pass the invoice: it is read again');
    assert.equal(smartInvoice(bed, inv.b24Id).stageId, 'DT31_2:P');
    assert.equal(smartInvoice(bed, inv.b24Id).ufCrmSmartInvoiceXeroStatus, 'PAID');
    assert.equal((await linkOf(inv.b24Id)).xeroStatus, 'PAID');
    assert.equal(triggersFor(inv.b24Id).length, 1);
  });

  it('when the stage list of a paid invoice\'s pipeline cannot be read, then its status is not recorded and the next round moves it', async () => {
    const inv = await linkedSmartInvoice(bed, { categoryId: 5 });
    xero.addPayment(bed.tenantId, inv.xeroId, 1150);
    // The pipeline's crm.status.list command fails inside the batch (its error in result_error).
    b24.setFaults({ failMethods: { 'crm.status.list': 1 } });

    const first = await poll(bed);

    assert.ok(b24.callLog.some((e) => e.method === 'crm.status.list' && e.error === 'INTERNAL_SERVER_ERROR'), 'the stage list was refused');
    assert.equal(first.failed, 1);
    assert.equal(smartInvoice(bed, inv.b24Id).stageId, 'DT31_5:N');
    assert.equal((await linkOf(inv.b24Id)).xeroStatus, 'AUTHORISED');
    assert.match((await c.store.activity.list({ memberId: bed.memberId, subject: `smart_invoice:${inv.b24Id}` }))[0]!.message, /as the stages of its pipeline could not be read from Bitrix24 \(Internal server error \(INTERNAL_SERVER_ERROR\)\); it will be tried again\.$/);

    await poll(bed);

    assert.equal(smartInvoice(bed, inv.b24Id).stageId, 'DT31_5:UC_PAID01');
    assert.equal((await linkOf(inv.b24Id)).xeroStatus, 'PAID');
    assert.equal(triggersFor(inv.b24Id).length, 1);
  });
});
