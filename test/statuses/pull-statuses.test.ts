import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { updatePortalSettings } from '../../app/sync/settings.js';
import { classicInvoice, linkedClassicInvoice, linkedSmartInvoice, link, poll, smartInvoice, statusBed } from './bed.js';

const bed = await statusBed();
const { b24, xero, c } = bed;

const commentsOn = (type: string, id: number) => b24.timelineComments().filter((x) => x.ENTITY_TYPE === type && x.ENTITY_ID === id);
const triggersFor = (ownerTypeId: number, id: number) => b24.triggerExecutions().filter((t) => t.OWNER_TYPE_ID === ownerTypeId && t.OWNER_ID === id);

describe('Xero statuses on smart invoices', () => {
  it('when a smart invoice is approved in Xero, then it moves to the pipeline\'s last in-progress stage and shows the Xero status', async () => {
    const general = await linkedSmartInvoice(bed, { xeroStatus: 'DRAFT' });
    const exportInv = await linkedSmartInvoice(bed, { xeroStatus: 'DRAFT', categoryId: 5 });
    xero.approveInvoice(bed.tenantId, general.xeroId);
    xero.approveInvoice(bed.tenantId, exportInv.xeroId);

    const report = await poll(bed);

    assert.equal(report.updated, 2);
    assert.equal(smartInvoice(bed, general.b24Id).stageId, 'DT31_2:S');
    assert.equal(smartInvoice(bed, exportInv.b24Id).stageId, 'DT31_5:UC_7QK2JD', 'the custom pipeline is read, not guessed');
    assert.equal(smartInvoice(bed, general.b24Id).ufCrmSmartInvoiceXeroStatus, 'AUTHORISED');
    assert.equal(Number(smartInvoice(bed, general.b24Id).ufCrmSmartInvoiceXeroDue), 1150);
    assert.equal((await c.store.links.find(bed.memberId, 'smart_invoice', String(general.b24Id)))!.xeroStatus, 'AUTHORISED');
    assert.match((await c.store.activity.list({ memberId: bed.memberId, subject: `smart_invoice:${general.b24Id}` }))[0]!.message, new RegExp(`Invoice ${general.number} was approved in Xero\\. Moved to the stage "Sent"\\.`));
  });

  it('when a smart invoice is part-paid in Xero, then amounts paid and due are written, a timeline comment tells the payment, and the stage stays', async () => {
    const inv = await linkedSmartInvoice(bed);
    b24.actAs(1).moveStage(31, inv.b24Id, 'DT31_2:S');
    xero.addPayment(bed.tenantId, inv.xeroId, 500);

    await poll(bed);

    const item = smartInvoice(bed, inv.b24Id);
    assert.equal(item.stageId, 'DT31_2:S');
    assert.equal(item.ufCrmSmartInvoiceXeroStatus, 'AUTHORISED');
    assert.equal(Number(item.ufCrmSmartInvoiceXeroDue), 650);
    assert.equal(Number(item.ufCrmSmartInvoiceXeroPaid), 500);
    const comments = commentsOn('dynamic_31', inv.b24Id);
    assert.equal(comments.length, 1);
    assert.match(comments[0]!.COMMENT, /Payment of NZD 500\.00 received in Xero .*Paid so far: NZD 500\.00 of NZD 1,150\.00; NZD 650\.00 is still due\./);
    assert.equal(triggersFor(31, inv.b24Id).length, 0, 'not paid yet');
    assert.match((await c.store.activity.list({ memberId: bed.memberId, subject: `smart_invoice:${inv.b24Id}` }))[0]!.message, /received a payment of NZD 500\.00 in Xero; NZD 650\.00 is still due\./);
  });

  it('when a smart invoice is paid in Xero, then it reaches the success stage and "Paid in Xero" fires exactly once, however often it is read again', async () => {
    const inv = await linkedSmartInvoice(bed, { categoryId: 5 });
    xero.addPayment(bed.tenantId, inv.xeroId, 1150);

    await poll(bed);
    await poll(bed);
    const job = await c.store.jobs.enqueue({ memberId: bed.memberId, kind: 'xero-webhook', key: `xero-webhook:${bed.connectionId}:${inv.xeroId}`, payload: { connectionId: bed.connectionId, invoiceId: inv.xeroId } });
    await c.services.outbox.drain();

    assert.equal((await c.store.jobs.get(job.id))!.state, 'done');
    const item = smartInvoice(bed, inv.b24Id);
    assert.equal(item.stageId, 'DT31_5:UC_PAID01');
    assert.equal(item.ufCrmSmartInvoiceXeroStatus, 'PAID');
    assert.equal(Number(item.ufCrmSmartInvoiceXeroDue), 0);
    assert.deepEqual(triggersFor(31, inv.b24Id).map((t) => t.CODE), ['xero_paid']);
    assert.equal(commentsOn('dynamic_31', inv.b24Id).length, 1);
    // The bed links invoices without their pushed content, so the invoice's own events make the push hold the
    // customer-less invoice (a job.attention entry); only the status pull's own entries are counted here.
    const messages = (await c.store.activity.list({ memberId: bed.memberId, subject: `smart_invoice:${inv.b24Id}` })).filter((a) => a.kind !== 'job.attention').map((a) => a.message);
    assert.deepEqual(messages, [`Invoice ${inv.number} was paid in Xero (NZD 1,150.00). Moved to the stage "Settled".`]);
  });

  it('when smart invoices are voided or deleted in Xero, then they reach the pipeline\'s failure stage', async () => {
    const voided = await linkedSmartInvoice(bed);
    const deleted = await linkedSmartInvoice(bed, { xeroStatus: 'DRAFT', categoryId: 5 });
    xero.voidInvoice(bed.tenantId, voided.xeroId);
    xero.deleteInvoice(bed.tenantId, deleted.xeroId);

    await poll(bed);

    assert.equal(smartInvoice(bed, voided.b24Id).stageId, 'DT31_2:D');
    assert.equal(smartInvoice(bed, voided.b24Id).ufCrmSmartInvoiceXeroStatus, 'VOIDED');
    assert.equal(smartInvoice(bed, deleted.b24Id).stageId, 'DT31_5:UC_VOID01');
    assert.equal(smartInvoice(bed, deleted.b24Id).ufCrmSmartInvoiceXeroStatus, 'DELETED');
  });

  it('when a person moved a smart invoice past the mapped stage, then the pull writes the Xero fields but does not move it back', async () => {
    const inv = await linkedSmartInvoice(bed, { xeroStatus: 'DRAFT' });
    b24.actAs(2).moveStage(31, inv.b24Id, 'DT31_2:P');
    xero.approveInvoice(bed.tenantId, inv.xeroId);

    await poll(bed);

    const item = smartInvoice(bed, inv.b24Id);
    assert.equal(item.stageId, 'DT31_2:P');
    assert.equal(item.ufCrmSmartInvoiceXeroStatus, 'AUTHORISED');
    assert.match((await c.store.activity.list({ memberId: bed.memberId, subject: `smart_invoice:${inv.b24Id}` }))[0]!.message, /The stage "Paid", chosen by hand, was kept\./);
  });

  it('when the admin maps a Xero status to a stage in settings, then that stage is used instead of the semantic default', async () => {
    await updatePortalSettings(c.store, bed.memberId, { stageMap: { 'smart_invoice:5': { VOIDED: 'DT31_5:D' } } });
    const inv = await linkedSmartInvoice(bed, { categoryId: 5 });
    xero.voidInvoice(bed.tenantId, inv.xeroId);

    await poll(bed);
    await updatePortalSettings(c.store, bed.memberId, { stageMap: {} });

    assert.equal(smartInvoice(bed, inv.b24Id).stageId, 'DT31_5:D');
  });

  it('when the pull moved a stage, then the push side recognises that one echo, and no later change', async () => {
    const inv = await linkedSmartInvoice(bed, { xeroStatus: 'DRAFT' });
    xero.approveInvoice(bed.tenantId, inv.xeroId);
    await poll(bed);

    assert.equal(await c.store.links.isExpectedEcho(bed.memberId, 'smart_invoice', inv.b24Id, 'DT31_2:N'), false, 'another stage is no echo');
    const again = await linkedSmartInvoice(bed, { xeroStatus: 'DRAFT' });
    xero.approveInvoice(bed.tenantId, again.xeroId);
    await poll(bed);
    assert.equal(await c.store.links.isExpectedEcho(bed.memberId, 'smart_invoice', again.b24Id, 'DT31_2:S'), true);
    assert.equal(await c.store.links.isExpectedEcho(bed.memberId, 'smart_invoice', again.b24Id, 'DT31_2:S'), false, 'an echo is seen once');
  });
});

describe('Xero statuses on classic invoices', () => {
  it('when classic invoices are approved, paid and voided in Xero, then STATUS_ID follows the INVOICE_STATUS semantics and the Xero fields are written', async () => {
    const approved = await linkedClassicInvoice(bed);
    const paid = await linkedClassicInvoice(bed);
    const voided = await linkedClassicInvoice(bed);
    // "approved" was linked while still a draft in Xero's eyes
    await link(bed, 'invoice', approved.b24Id, approved.xeroId, approved.number, 'DRAFT');
    xero.addPayment(bed.tenantId, paid.xeroId, 1150);
    xero.voidInvoice(bed.tenantId, voided.xeroId);

    await poll(bed);

    assert.equal(classicInvoice(bed, approved.b24Id).STATUS_ID, 'S');
    assert.equal(classicInvoice(bed, approved.b24Id).UF_CRM_XERO_STATUS, 'AUTHORISED');
    assert.equal(classicInvoice(bed, paid.b24Id).STATUS_ID, 'P');
    assert.equal(classicInvoice(bed, paid.b24Id).UF_CRM_XERO_STATUS, 'PAID');
    assert.equal(Number(classicInvoice(bed, paid.b24Id).UF_CRM_XERO_DUE), 0);
    assert.equal(Number(classicInvoice(bed, paid.b24Id).UF_CRM_XERO_PAID), 1150);
    assert.equal(commentsOn('invoice', paid.b24Id).length, 1);
    assert.equal(classicInvoice(bed, voided.b24Id).STATUS_ID, 'D');
  });

  it('when a classic invoice is part-paid in Xero, then amounts are written and a timeline comment tells the payment', async () => {
    const inv = await linkedClassicInvoice(bed);
    xero.addPayment(bed.tenantId, inv.xeroId, 150);

    await poll(bed);

    const row = classicInvoice(bed, inv.b24Id);
    assert.equal(row.STATUS_ID, 'S');
    assert.equal(Number(row.UF_CRM_XERO_DUE), 1000);
    assert.equal(Number(row.UF_CRM_XERO_PAID), 150);
    assert.match(commentsOn('invoice', inv.b24Id)[0]!.COMMENT, /Payment of NZD 150\.00 .*NZD 1,000\.00 is still due/);
  });

  it('when a person set a classic invoice to Declined, then an approval in Xero does not move it back', async () => {
    const inv = await linkedClassicInvoice(bed);
    await link(bed, 'invoice', inv.b24Id, inv.xeroId, inv.number, 'DRAFT');
    b24.actAs(1).setClassicInvoiceStatus(inv.b24Id, 'D');

    await poll(bed);

    assert.equal(classicInvoice(bed, inv.b24Id).STATUS_ID, 'D');
    assert.equal(classicInvoice(bed, inv.b24Id).UF_CRM_XERO_STATUS, 'AUTHORISED');
  });
});

describe('Xero statuses on quotes', () => {
  it('when a quote is accepted in Xero, then the estimate shows the status and its Bitrix24 stage stays (Bitrix24 is the master of quotes)', async () => {
    const estimate = b24.actAs(1).createQuote({ title: 'Training' });
    const q = xero.seedQuote(bed.tenantId, {
      Contact: { ContactID: bed.contactId }, Date: '2026-01-10', LineAmountTypes: 'EXCLUSIVE',
      LineItems: [{ Description: 'Training day', Quantity: 1, UnitAmount: 800, AccountCode: '200', TaxType: 'OUTPUT2' }],
    });
    await link(bed, 'quote', Number(estimate.id), String(q.QuoteID), String(q.QuoteNumber), 'DRAFT');
    xero.setQuoteStatus(bed.tenantId, String(q.QuoteID), 'SENT');
    xero.setQuoteStatus(bed.tenantId, String(q.QuoteID), 'ACCEPTED');

    await poll(bed);

    const item = b24.items(7).find((i) => Number(i.id) === Number(estimate.id))!;
    assert.equal(item.stageId, 'DRAFT');
    assert.equal(item.ufCrmQuoteXeroStatus, 'ACCEPTED');
    const logged = await c.store.activity.list({ memberId: bed.memberId, subject: `quote:${estimate.id}`, limit: 5 });
    assert.ok(logged.some((a) => /was accepted in Xero/.test(a.message)), JSON.stringify(logged));
  });
});
