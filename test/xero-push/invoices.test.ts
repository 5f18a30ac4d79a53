import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../app/errors.js';
import { toXeroInvoice } from '../../app/xero/invoice-mapper.js';
import { deleteOrVoidInvoice, findInvoicesByReference, getInvoices, onlineInvoiceUrl, pushInvoices } from '../../app/xero/invoices.js';
import type { PushedDocument } from '../../app/xero/documents.js';
import { xeroTestbed, type XeroTestbed } from '../helpers/xero.js';
import { ctx, doc, line } from './fixtures.js';

const ridgeway = (bed: XeroTestbed) => bed.emu.contacts(bed.tenantId).find((c) => c.Name === 'Ridgeway University')!.ContactID as string;

function items(bed: XeroTestbed, count: number, from = 0) {
  return Array.from({ length: count }, (_, n) => {
    const d = doc([line({ unitPrice: 10 + n, quantity: 2 })], { id: String(from + n), number: `B24-${from + n}` });
    return { key: `smart_invoice:${d.id}`, payload: toXeroInvoice(d, ctx(ridgeway(bed))), idempotencyKey: `smart_invoice:${d.id}:v1` };
  });
}

describe('invoice push', () => {
  it('when 120 invoices are pushed, then Xero gets 3 POST /Invoices and creates each once', async () => {
    const bed = await xeroTestbed();
    bed.emu.resetCounters();
    const results = await pushInvoices(bed.gateway, bed.tenantId, items(bed, 120));
    assert.equal(bed.emu.callCount('POST /Invoices'), 3);
    assert.equal(bed.emu.counters.total, 3);
    assert.equal([...results.values()].filter((r) => r.ok).length, 120);
    assert.equal(bed.emu.invoices(bed.tenantId).length, 120);
    const first = results.get('smart_invoice:0') as PushedDocument;
    assert.match(first.number, /^INV-\d{4}$/);
    assert.equal(first.status, 'DRAFT');
    assert.equal(first.total, 23);
    assert.equal(first.amountDue, 23);
    assert.equal(first.lineItemIds.length, 1);
    assert.ok(first.updatedDateUTC instanceof Date);
    bed.emu.assertNoSpecViolations();
  });

  it('when a batch mixes valid and invalid invoices, then the valid ones are created and each invalid one carries Xero\'s reason', async () => {
    const bed = await xeroTestbed();
    const batch = items(bed, 3);
    batch[1].payload = { ...batch[1].payload, lineItems: batch[1].payload.lineItems!.map((l) => ({ ...l, accountCode: '999' })) };
    const results = await pushInvoices(bed.gateway, bed.tenantId, batch);
    assert.ok(results.get('smart_invoice:0')!.ok);
    assert.ok(results.get('smart_invoice:2')!.ok);
    const bad = results.get('smart_invoice:1')!;
    assert.ok(!bad.ok);
    assert.equal(bad.code, 'XERO.VALIDATION');
    assert.equal(bad.permanent, true);
    assert.match(bad.message, /Account code '999' is not a valid code/);
    assert.equal(bed.emu.invoices(bed.tenantId).length, 2);
    bed.emu.assertNoSpecViolations();
  });

  it('when a linked draft is pushed again with changed rows, then Xero updates it in place and keeps the existing line ids', async () => {
    const bed = await xeroTestbed();
    const contactId = ridgeway(bed);
    const v1 = doc([line({ name: 'Design', unitPrice: 100 }), line({ name: 'Build', unitPrice: 200 })]);
    const first = (await pushInvoices(bed.gateway, bed.tenantId, [{ key: 'k', payload: toXeroInvoice(v1, ctx(contactId)), idempotencyKey: 'k:v1' }])).get('k') as PushedDocument;
    const v2 = doc([line({ name: 'Design', unitPrice: 120 }), line({ name: 'Build', unitPrice: 200, quantity: 2 }), line({ name: 'Support', unitPrice: 50 })]);
    const existing = { id: first.id, lineItemIds: first.lineItemIds };
    const second = (await pushInvoices(bed.gateway, bed.tenantId, [{ key: 'k', payload: toXeroInvoice(v2, ctx(contactId, { existing })), idempotencyKey: 'k:v2' }])).get('k') as PushedDocument;
    assert.ok(second.ok);
    assert.equal(second.id, first.id);
    assert.equal(second.number, first.number);
    assert.deepEqual(second.lineItemIds.slice(0, 2), first.lineItemIds);
    assert.equal(second.lineItemIds.length, 3);
    assert.ok(!first.lineItemIds.includes(second.lineItemIds[2]));
    assert.equal(bed.emu.invoices(bed.tenantId).length, 1);
    assert.equal(second.total, v2.total.toNumber(2)); // (120 + 400 + 50) × 1.15 = 655.50
    assert.equal(second.total, 655.5);
    bed.emu.assertNoSpecViolations();
  });

  it('when the answer to a push is lost and the same batch is sent again, then Xero replays it and exactly one invoice exists', async () => {
    const bed = await xeroTestbed({ limits: { attempts: 1 } });
    const batch = items(bed, 2);
    bed.emu.setFaults({ dropResponseRate: 1 });
    const lost = await pushInvoices(bed.gateway, bed.tenantId, batch);
    const failed = lost.get('smart_invoice:0')!;
    assert.ok(!failed.ok);
    assert.equal(failed.permanent, false);
    assert.equal(bed.emu.invoices(bed.tenantId).length, 2); // Xero did the work; the connector never heard
    bed.emu.setFaults({ dropResponseRate: 0 });
    const again = await pushInvoices(bed.gateway, bed.tenantId, items(bed, 2));
    assert.ok([...again.values()].every((r) => r.ok));
    assert.equal(bed.emu.counters.replays, 1);
    assert.equal(bed.emu.invoices(bed.tenantId).length, 2);
    assert.deepEqual(new Set([...again.values()].map((r) => (r as PushedDocument).id)), new Set(bed.emu.invoices(bed.tenantId).map((i) => i.InvoiceID)));
    bed.emu.assertNoSpecViolations();
  });

  it('when 20% of calls fail with 500, 503 or 429, then every invoice is pushed once and none is duplicated', async () => {
    const bed = await xeroTestbed({ limits: { attempts: 10 } });
    bed.emu.setFaults({ everyNth: 5, statuses: [500, 503, 429] }); // one call in five fails
    const all = items(bed, 150);
    const results = new Map<string, unknown>();
    for (let i = 0; i < all.length; i += 25) {
      for (const [k, v] of await pushInvoices(bed.gateway, bed.tenantId, all.slice(i, i + 25))) results.set(k, v);
    }
    bed.emu.setFaults({});
    const failed = [...results.entries()].filter(([, r]) => !(r as { ok: boolean }).ok);
    assert.deepEqual(failed, []);
    const stored = bed.emu.invoices(bed.tenantId);
    assert.equal(stored.length, 150);
    assert.equal(new Set(stored.map((i) => i.Reference)).size, 150);
    assert.ok(bed.emu.counters.faultsInjected > 0, 'the fault injection never fired');
    bed.emu.assertNoSpecViolations();
  });

  it('when invoices are looked up by reference or id, then the ACCREC ones come back with their line ids', async () => {
    const bed = await xeroTestbed();
    const pushed = await pushInvoices(bed.gateway, bed.tenantId, items(bed, 3));
    bed.emu.seedInvoice(bed.tenantId, { Type: 'ACCPAY', Contact: { ContactID: ridgeway(bed) }, Reference: 'B24-1', LineItems: [{ Description: 'bill', Quantity: 1, UnitAmount: 5, AccountCode: '429' }] });
    bed.emu.resetCounters();
    const byRef = await findInvoicesByReference(bed.gateway, bed.tenantId, ['B24-1', 'B24-2', 'B24-404']);
    assert.equal(bed.emu.counters.total, 1);
    assert.deepEqual([...byRef.keys()].sort(), ['B24-1', 'B24-2']);
    assert.equal(byRef.get('B24-1')!.length, 1);
    assert.equal(byRef.get('B24-1')![0].id, (pushed.get('smart_invoice:1') as PushedDocument).id);
    const ids = [...pushed.values()].map((r) => (r as PushedDocument).id);
    const byId = await getInvoices(bed.gateway, bed.tenantId, ids);
    assert.equal(byId.size, 3);
    assert.equal(byId.get(ids[0].toLowerCase())!.lineItemIds.length, 1);
    bed.emu.assertNoSpecViolations();
  });

  it('when a document is removed, then a draft is deleted, an approved one voided, and a paid one refused with a reason', async () => {
    const bed = await xeroTestbed();
    const pushed = [...(await pushInvoices(bed.gateway, bed.tenantId, items(bed, 3))).values()] as PushedDocument[];
    assert.deepEqual(await deleteOrVoidInvoice(bed.gateway, bed.tenantId, pushed[0].id, 'DRAFT'), { status: 'DELETED' });
    bed.emu.approveInvoice(bed.tenantId, pushed[1].id);
    assert.deepEqual(await deleteOrVoidInvoice(bed.gateway, bed.tenantId, pushed[1].id, 'AUTHORISED'), { status: 'VOIDED' });
    bed.emu.approveInvoice(bed.tenantId, pushed[2].id);
    bed.emu.addPayment(bed.tenantId, pushed[2].id, 5);
    await assert.rejects(deleteOrVoidInvoice(bed.gateway, bed.tenantId, pushed[2].id, 'AUTHORISED'), (e: AppError) => {
      assert.equal(e.code, 'SYNC.CANNOT_REMOVE_INVOICE');
      assert.match(e.message, /payment/);
      return true;
    });
    await assert.rejects(deleteOrVoidInvoice(bed.gateway, bed.tenantId, pushed[2].id, 'PAID'), /SYNC|cannot be deleted/);
    bed.emu.assertNoSpecViolations();
  });

  it('when an invoice is approved, then its online invoice link is returned; for a draft there is none', async () => {
    const bed = await xeroTestbed();
    const [a, b] = [...(await pushInvoices(bed.gateway, bed.tenantId, items(bed, 2))).values()] as PushedDocument[];
    assert.equal(await onlineInvoiceUrl(bed.gateway, bed.tenantId, a.id), null);
    bed.emu.approveInvoice(bed.tenantId, b.id);
    assert.match((await onlineInvoiceUrl(bed.gateway, bed.tenantId, b.id))!, new RegExp(`/online/invoice/${b.id}$`));
    bed.emu.assertNoSpecViolations();
  });
});
