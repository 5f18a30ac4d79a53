import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Invoice, LineAmountTypes, type Invoices } from 'xero-node';
import type { XeroClient } from 'xero-node';
import type { XeroEmulator } from '../emulators/xero/index.js';
import { api, connected, rejection } from './helpers.js';

const ZERO = '00000000-0000-0000-0000-000000000000';

describe('Xero emulator: invoices through xero-node', () => {
  let emu: XeroEmulator;
  let xero: XeroClient;
  let tenantId: string;
  let contactId: string;
  const draft = (over: Partial<Invoice> = {}): Invoice => ({
    type: Invoice.TypeEnum.ACCREC, contact: { contactID: contactId }, date: '2026-03-01', dueDate: '2026-03-31',
    lineAmountTypes: LineAmountTypes.Exclusive, reference: 'B24-INV-1',
    lineItems: [{ description: 'Widget', quantity: 3, unitAmount: 10.01, accountCode: '200', taxType: 'OUTPUT2' }], ...over,
  });
  const create = async (inv: Invoice, idem?: string) => (await xero.accountingApi.createInvoices(tenantId, { invoices: [inv] }, false, undefined, idem)).body.invoices![0];

  before(async () => {
    ({ emu, xero, tenantId } = await connected());
    contactId = emu.seedContact(tenantId, { Name: 'Acme Ltd' }).ContactID;
  });
  after(async () => { emu.assertNoSpecViolations(); await emu.close(); });

  it('when an exclusive invoice is created, then tax is rounded per line to 2 dp and totals add up like Xero', async () => {
    const inv = await create(draft({ lineItems: [
      { description: 'A', quantity: 3, unitAmount: 10.01, accountCode: '200' },
      { description: 'B', quantity: 1, unitAmount: 0.33, accountCode: '200' },
    ] }));
    assert.equal(String(inv.status), 'DRAFT');
    assert.match(inv.invoiceNumber!, /^INV-\d{4}$/);
    assert.deepEqual(inv.lineItems!.map((l) => [l.lineAmount, l.taxAmount, l.taxType]), [[30.03, 4.5, 'OUTPUT2'], [0.33, 0.05, 'OUTPUT2']]);
    assert.equal(inv.subTotal, 30.36);
    assert.equal(inv.totalTax, 4.55);
    assert.equal(inv.total, 34.91);
    assert.equal(inv.amountDue, 34.91);
    assert.equal(new Date(inv.date as unknown as string).toISOString().slice(0, 10), '2026-03-01'); // xero-node turns /Date(...)/ into a Date
  });

  it('when an inclusive or no-tax invoice is created, then the tax is extracted from the line or zero', async () => {
    const incl = await create(draft({ lineAmountTypes: LineAmountTypes.Inclusive, lineItems: [{ description: 'X', quantity: 1, unitAmount: 115, accountCode: '200' }] }));
    assert.deepEqual([incl.subTotal, incl.totalTax, incl.total], [100, 15, 115]);
    const none = await create(draft({ lineAmountTypes: LineAmountTypes.NoTax, lineItems: [{ description: 'X', quantity: 2, unitAmount: 50, accountCode: '200' }] }));
    assert.deepEqual([none.subTotal, none.totalTax, none.total, none.lineItems![0].taxType], [100, 0, 100, 'NONE']);
  });

  it('when unitdp=4 is sent, then 4-dp unit amounts are kept and shown, otherwise rounded to 2 dp', async () => {
    const res = await xero.accountingApi.createInvoices(tenantId, { invoices: [draft({ lineItems: [{ description: 'P', quantity: 3, unitAmount: 1.2345, accountCode: '200' }] })] }, false, 4);
    const inv = res.body.invoices![0];
    assert.equal(inv.lineItems![0].unitAmount, 1.2345);
    assert.equal(inv.lineItems![0].lineAmount, 3.7);
    const two = (await xero.accountingApi.getInvoice(tenantId, inv.invoiceID!)).body.invoices![0];
    assert.equal(two.lineItems![0].unitAmount, 1.23);
  });

  it('when summarizeErrors=false and one element is invalid, then each element carries its own status and the failure has the zero GUID', async () => {
    await create(draft({ invoiceNumber: 'DUP-1' }));
    const res = await xero.accountingApi.createInvoices(tenantId, { invoices: [draft({ invoiceNumber: 'OK-1' }), draft({ invoiceNumber: 'DUP-1' }), draft({ lineItems: [{ description: 'x', quantity: 1, unitAmount: 1, accountCode: '999' }] })] }, false);
    const [good, dup, badAcc] = res.body.invoices!;
    assert.equal(good.statusAttributeString, 'OK');
    assert.equal(dup.statusAttributeString, 'ERROR');
    assert.equal(dup.invoiceID, ZERO);
    assert.deepEqual(dup.validationErrors!.map((v) => v.message), ['Invoice # must be unique.']);
    assert.match(badAcc.validationErrors![0].message!, /Account code '999'/);
  });

  it('when errors are summarised (the default), then valid elements are saved and the answer is a 400 ValidationException', async () => {
    const before = emu.invoices(tenantId).length;
    const err = await rejection(xero.accountingApi.createInvoices(tenantId, { invoices: [draft({ invoiceNumber: 'S-1' }), draft({ invoiceNumber: 'S-1' })] }));
    assert.equal(err.status, 400);
    assert.equal(err.body.ErrorNumber, 10);
    assert.equal(err.body.Type, 'ValidationException');
    assert.equal(err.body.Message, 'A validation exception occurred');
    assert.equal(err.body.Elements.length, 1);
    assert.equal(err.body.Elements[0].ValidationErrors[0].Message, 'Invoice # must be unique.');
    assert.equal(emu.invoices(tenantId).length, before + 1);
  });

  it('when a draft is updated, edited and approved, then AUTHORISED can only be voided and DELETED is refused with Xero\'s message', async () => {
    const inv = await create(draft());
    const id = inv.invoiceID!;
    const updated = (await xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ reference: 'B24-INV-1 v2', lineItems: [{ lineItemID: inv.lineItems![0].lineItemID, description: 'Widget', quantity: 5, unitAmount: 10, accountCode: '200' }] }] })).body.invoices![0];
    assert.equal(updated.reference, 'B24-INV-1 v2');
    assert.equal(updated.total, 57.5);
    assert.equal(updated.lineItems![0].lineItemID, inv.lineItems![0].lineItemID);
    await xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ status: Invoice.StatusEnum.SUBMITTED }] });
    const authorised = (await xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ status: Invoice.StatusEnum.AUTHORISED }] })).body.invoices![0];
    assert.equal(String(authorised.status), 'AUTHORISED');
    const del = await rejection(xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ status: Invoice.StatusEnum.DELETED }] }));
    assert.equal(del.status, 400);
    assert.equal(del.body.Elements[0].ValidationErrors[0].Message, 'Invoice not of valid status for modification');
    const edit = await rejection(xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ reference: 'changed' }] }));
    assert.equal(edit.body.Elements[0].ValidationErrors[0].Message, 'Invoice not of valid status for modification');
    const paid = await rejection(xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ status: Invoice.StatusEnum.PAID }] }));
    assert.equal(paid.status, 400);
    const voided = (await xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ status: Invoice.StatusEnum.VOIDED }] })).body.invoices![0];
    assert.equal(String(voided.status), 'VOIDED');
    const again = await rejection(xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ status: Invoice.StatusEnum.DRAFT }] }));
    assert.equal(again.body.Elements[0].ValidationErrors[0].Message, 'Invoice not of valid status for modification');
  });

  it('when a draft is deleted via POST, then it becomes DELETED', async () => {
    const inv = await create(draft());
    const res = await xero.accountingApi.updateOrCreateInvoices(tenantId, { invoices: [{ invoiceID: inv.invoiceID, status: Invoice.StatusEnum.DELETED }] }, false);
    assert.equal(String(res.body.invoices![0].status), 'DELETED');
  });

  it('when an invoice is approved without a due date or account code, then Xero refuses it', async () => {
    const res = await xero.accountingApi.createInvoices(tenantId, { invoices: [
      draft({ status: Invoice.StatusEnum.AUTHORISED, dueDate: undefined }),
      draft({ status: Invoice.StatusEnum.AUTHORISED, lineItems: [{ description: 'no account', quantity: 1, unitAmount: 5 }] }),
      { type: Invoice.TypeEnum.ACCREC, lineItems: [] } as Invoice,
    ] }, false);
    assert.deepEqual(res.body.invoices!.map((i) => String(i.statusAttributeString)), ['ERROR', 'ERROR', 'ERROR']);
    assert.match(res.body.invoices![2].validationErrors![0].message!, /Contact/);
  });

  it('when payments are added, then a partial one reduces AmountDue and the covering one makes the invoice PAID, and a paid invoice cannot be voided', async () => {
    const inv = await create(draft({ status: Invoice.StatusEnum.AUTHORISED }));
    const id = inv.invoiceID!;
    await xero.accountingApi.createPayment(tenantId, { invoice: { invoiceID: id }, account: { code: '090' }, date: '2026-03-05', amount: 10 });
    let now = (await xero.accountingApi.getInvoice(tenantId, id)).body.invoices![0];
    assert.equal(String(now.status), 'AUTHORISED');
    assert.equal(now.amountPaid, 10);
    assert.equal(now.amountDue, round2(inv.total! - 10));
    const over = await rejection(xero.accountingApi.createPayments(tenantId, { payments: [{ invoice: { invoiceID: id }, account: { code: '090' }, date: '2026-03-06', amount: 1000 }] }));
    assert.equal(over.body.Elements[0].ValidationErrors[0].Message, 'Payment amount exceeds the amount outstanding on this document');
    const voidErr = await rejection(xero.accountingApi.updateInvoice(tenantId, id, { invoices: [{ status: Invoice.StatusEnum.VOIDED }] }));
    assert.equal(voidErr.body.Elements[0].ValidationErrors[0].Message, 'This document cannot be edited as it has a payment or credit note allocated to it.');
    await xero.accountingApi.createPayments(tenantId, { payments: [{ invoice: { invoiceID: id }, account: { code: '090' }, date: '2026-03-07', amount: now.amountDue }] });
    now = (await xero.accountingApi.getInvoice(tenantId, id)).body.invoices![0];
    assert.equal(String(now.status), 'PAID');
    assert.equal(now.amountDue, 0);
    assert.ok(now.fullyPaidOnDate);
  });

  it('when invoices are listed with page/pageSize, Statuses, IDs, InvoiceNumbers and where, then the filters and pagination behave like Xero', async () => {
    const a = await create(draft({ invoiceNumber: 'LIST-A' }));
    await create(draft({ invoiceNumber: 'LIST-B', status: Invoice.StatusEnum.SUBMITTED }));
    const page1 = (await xero.accountingApi.getInvoices(tenantId, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 1, undefined, undefined, undefined, undefined, 3)).body as Invoices;
    assert.equal(page1.invoices!.length, 3);
    assert.ok(page1.invoices![0].lineItems!.length > 0);
    assert.equal(page1.pagination!.pageSize, 3);
    assert.equal(page1.pagination!.itemCount, emu.invoices(tenantId).length);
    const byNumber = (await xero.accountingApi.getInvoices(tenantId, undefined, undefined, undefined, undefined, ['LIST-A', 'LIST-B'])).body.invoices!;
    assert.deepEqual(byNumber.map((i) => i.invoiceNumber).sort(), ['LIST-A', 'LIST-B']);
    const submitted = (await xero.accountingApi.getInvoices(tenantId, undefined, undefined, undefined, undefined, undefined, undefined, ['SUBMITTED'])).body.invoices!;
    assert.ok(submitted.every((i) => String(i.status) === 'SUBMITTED') && submitted.some((i) => i.invoiceNumber === 'LIST-B'));
    const byId = (await xero.accountingApi.getInvoices(tenantId, undefined, undefined, undefined, [a.invoiceID!])).body.invoices!;
    assert.deepEqual(byId.map((i) => i.invoiceNumber), ['LIST-A']);
    const where = (await xero.accountingApi.getInvoices(tenantId, undefined, 'Type=="ACCREC" AND InvoiceNumber=="LIST-B"')).body.invoices!;
    assert.deepEqual(where.map((i) => i.invoiceNumber), ['LIST-B']);
  });

  it('when If-Modified-Since is sent, then only invoices changed since then come back, including changes made by a Xero user', async () => {
    const old = await create(draft({ invoiceNumber: 'IMS-OLD', status: Invoice.StatusEnum.SUBMITTED }));
    await new Promise((r) => setTimeout(r, 1100));
    const since = new Date();
    const fresh = await create(draft({ invoiceNumber: 'IMS-NEW' }));
    emu.approveInvoice(tenantId, old.invoiceID!);
    const changed = (await xero.accountingApi.getInvoices(tenantId, since)).body.invoices!;
    assert.deepEqual(changed.map((i) => i.invoiceNumber).sort(), ['IMS-NEW', 'IMS-OLD']);
    assert.ok(changed.every((i) => i.invoiceID === fresh.invoiceID || String(i.status) === 'AUTHORISED'));
  });

  it('when the PDF, online invoice and history are requested, then they are served at Xero\'s paths', async () => {
    const inv = await create(draft({ status: Invoice.StatusEnum.AUTHORISED }));
    const pdf = await xero.accountingApi.getInvoiceAsPdf(tenantId, inv.invoiceID!);
    assert.equal(Buffer.from(pdf.body).subarray(0, 5).toString(), '%PDF-');
    const online = await xero.accountingApi.getOnlineInvoice(tenantId, inv.invoiceID!);
    assert.ok(online.body.onlineInvoices![0].onlineInvoiceUrl);
    const draftInv = await create(draft());
    assert.equal((await rejection(xero.accountingApi.getOnlineInvoice(tenantId, draftInv.invoiceID!))).status, 400);
    await xero.accountingApi.createInvoiceHistory(tenantId, inv.invoiceID!, { historyRecords: [{ details: 'Synced from Bitrix24' }] });
    const hist = (await xero.accountingApi.getInvoiceHistory(tenantId, inv.invoiceID!)).body.historyRecords!;
    assert.ok(hist.some((h) => h.details === 'Synced from Bitrix24'));
    assert.ok(hist.some((h) => h.changes === 'Created'));
  });

  it('when a GET carries xero-node\'s empty JSON body, then it is ignored and the envelope is Xero\'s', async () => {
    const res = await api(emu, '/Invoices?page=1', { token: xero.readTokenSet().access_token!, tenantId, method: 'GET' });
    const body = await res.json() as Record<string, unknown>;
    assert.equal(body.Status, 'OK');
    assert.match(String(body.DateTimeUTC), /^\/Date\(\d+\+0000\)\/$/);
    assert.ok(Array.isArray(body.Invoices));
  });
});

function round2(n: number): number { return Math.round(n * 100) / 100; }
