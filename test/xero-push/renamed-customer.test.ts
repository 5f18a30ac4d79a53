/**
 * A renamed customer is no change to its documents: the Xero document names its contact by id, and the new name
 * reaches Xero through contact sync. Were the name part of a document's content, every later event of every document
 * of that customer (an echo of a pulled stage, a payment) would make the push edit its drafts and tell each approved
 * invoice's card that "changes were not sent".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMPANY, SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { Decimal } from '../../app/domain/money.js';
import type { SalesDocument } from '../../app/domain/document.js';
import { contentHash, contentUnchanged } from '../../app/sync/push/load.js';
import { invoiceKind } from '../../app/sync/invoice-kind.js';
import { settingsSchema } from '../../app/domain/settings.js';

describe('a customer renamed in Bitrix24', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  it('when the customer of an approved invoice and a draft is renamed, and both invoices then get events, then neither is edited in Xero and no card says changes were not sent', async () => {
    const admin = env.b24.actAs(1);
    const companyId = Number(admin.createCompany({ title: 'Old Name Ltd' }).id);
    const make = (n: string) => {
      const id = Number(admin.createSmartInvoice({ title: n, accountNumber: n, companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' }).id);
      admin.setProductRows(SMART_INVOICE, id, [{ productName: 'Work', price: 230, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
      return id;
    };
    const approved = make('REN-1');
    const draft = make('REN-2');
    await env.settle();
    env.xero.approveInvoice(env.tenantId, (await env.c.store.links.find(env.memberId, 'smart_invoice', String(approved)))!.xeroId);
    admin.updateItem(COMPANY, companyId, { title: 'New Name Ltd' });
    await env.settle();
    const mark = env.xero.requestLog.length;
    // The pull moves the approved one to "Sent" (an event for it); a person edits a field the push does not send on the draft.
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    admin.updateItem(SMART_INVOICE, draft, { comments: 'called the customer' });
    await env.settle();

    const invoiceWrites = env.xero.requestLog.slice(mark).filter((r) => (r.method === 'POST' || r.method === 'PUT') && /Invoices/.test(r.endpoint));
    assert.deepEqual(invoiceWrites.map((r) => r.endpoint), [], 'no invoice written to Xero');
    for (const id of [approved, draft]) {
      const kinds = (await env.c.store.activity.list({ memberId: env.memberId, subject: `smart_invoice:${id}` })).map((a) => a.kind);
      assert.ok(!kinds.includes('invoice.not_editable') && !kinds.includes('invoice.updated'), `${id}: ${kinds.join(', ')}`);
    }
    assert.equal(env.b24.items(SMART_INVOICE).find((i) => Number(i.id) === approved)!.stageId, 'DT31_2:S', 'the approval came back');
  });

  it('when a link holds the hash stored before the rule (customer name and e-mail in it), then the same document is unchanged, and another one is not', () => {
    const settings = settingsSchema.parse({});
    const doc: SalesDocument = {
      type: 'smart_invoice', id: '7', number: 'REN-9', title: 'REN-9', currency: 'NZD', issueDate: '2026-12-01', dueDate: '2026-12-31',
      customer: { kind: 'company', id: '3', name: 'Old Name Ltd', email: 'old@example.com' }, stageId: 'DT31_2:N', categoryId: 2,
      lines: [{ productId: null, name: 'Work', quantity: Decimal.of(1), unitPrice: Decimal.of(230), discount: null, taxRate: Decimal.of(15), taxIncluded: true, total: Decimal.of(230), accountCode: null }],
      total: Decimal.of(230),
    };
    const stored = contentHash(doc, settings, invoiceKind, { withCustomerDetails: true });
    assert.notEqual(stored, contentHash(doc, settings, invoiceKind), 'the two forms differ');
    assert.equal(contentUnchanged(stored, doc, settings, invoiceKind), true);
    const renamed = { ...doc, customer: { ...doc.customer!, name: 'New Name Ltd' } };
    assert.equal(contentUnchanged(contentHash(doc, settings, invoiceKind), renamed, settings, invoiceKind), true, 'a rename is no change');
    const edited = { ...doc, lines: [{ ...doc.lines[0]!, quantity: Decimal.of(2) }] };
    assert.equal(contentUnchanged(stored, edited, settings, invoiceKind), false);
  });
});
