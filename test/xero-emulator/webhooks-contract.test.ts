import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Invoice } from 'xero-node';
import type { XeroEmulator } from '../emulators/xero/index.js';
import { api, connected } from './helpers.js';

interface Received { raw: string; signature: string | undefined; valid: boolean }

/** A receiver that verifies x-xero-signature like the connector must (docs/reference/xero.md#webhooks). */
function receiver(key: () => string): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const header = req.headers['x-xero-signature'];
      const expected = createHmac('sha256', key()).update(raw).digest();
      const given = Buffer.from(typeof header === 'string' ? header : '', 'base64');
      const valid = given.length === expected.length && timingSafeEqual(given, expected);
      received.push({ raw: raw.toString('utf8'), signature: typeof header === 'string' ? header : undefined, valid });
      res.statusCode = valid ? 200 : 401;
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/xero/webhooks`, received })));
}

describe('Xero emulator: webhooks and contract check', () => {
  let emu: XeroEmulator;
  let tenantId: string;
  let xero: Awaited<ReturnType<typeof connected>>['xero'];
  let rx: Awaited<ReturnType<typeof receiver>>;
  before(async () => {
    ({ emu, xero, tenantId } = await connected({ webhookKey: 'test-webhook-key' }));
    rx = await receiver(() => 'test-webhook-key');
  });
  after(async () => { await emu.close(); await new Promise((r) => rx.server.close(r)); });

  it('when intent-to-receive runs, then a correctly signed empty batch gets 200 and a wrongly signed one 401', async () => {
    emu.configureWebhook({ url: rx.url });
    const r = await emu.intentToReceive();
    assert.deepEqual(r, { goodStatus: 200, badStatus: 401, passed: true });
    const body = JSON.parse(rx.received[0].raw);
    assert.deepEqual(body.events, []);
    assert.equal(body.firstEventSequence, 0);
    assert.equal(body.lastEventSequence, 0);
    assert.equal(typeof body.entropy, 'string');
  });

  it('when invoices and contacts change, then signed INVOICE/CONTACT events in Xero\'s shape are delivered on flush', async () => {
    rx.received.length = 0;
    const contact = (await xero.accountingApi.createContacts(tenantId, { contacts: [{ name: 'Hooked Ltd' }] })).body.contacts![0];
    const inv = (await xero.accountingApi.createInvoices(tenantId, { invoices: [{ type: Invoice.TypeEnum.ACCREC, contact: { contactID: contact.contactID }, dueDate: '2026-05-01', lineItems: [{ description: 'x', quantity: 1, unitAmount: 1, accountCode: '200' }] }] })).body.invoices![0];
    emu.approveInvoice(tenantId, inv.invoiceID!);
    assert.equal(emu.pendingWebhookEvents().length, 3);
    const d = await emu.flushWebhooks();
    assert.equal(d?.status, 200);
    assert.equal(rx.received.length, 1);
    assert.ok(rx.received[0].valid);
    const payload = JSON.parse(rx.received[0].raw);
    assert.deepEqual(payload.events.map((e: Record<string, string>) => `${e.eventCategory} ${e.eventType}`), ['CONTACT CREATE', 'INVOICE CREATE', 'INVOICE UPDATE']);
    const ev = payload.events[2];
    assert.equal(ev.resourceId, inv.invoiceID);
    assert.equal(ev.tenantId, tenantId);
    assert.equal(ev.tenantType, 'ORGANISATION');
    assert.match(ev.resourceUrl, new RegExp(`/api.xro/2.0/Invoices/${inv.invoiceID}$`));
    assert.ok(payload.lastEventSequence >= payload.firstEventSequence && payload.firstEventSequence > 0);
  });

  it('when events are sent by hand with a wrong signature, then the receiver refuses them', async () => {
    const d = await emu.sendWebhookEvents([{ tenantId, resourceId: '11111111-1111-1111-1111-111111111111' }], { signatureValid: false });
    assert.equal(d.status, 401);
  });

  it('when a request body breaks the official spec, then the violation is recorded and assertNoSpecViolations fails', async () => {
    emu.clearSpecViolations();
    const token = xero.readTokenSet().access_token!;
    await api(emu, '/Invoices?summarizeErrors=false', { token, tenantId, method: 'PUT', body: JSON.stringify({ Invoices: [{ Type: 'ACCREC', Contact: { ContactID: 'not-a-guid' }, LineAmountTypes: 'Sometimes', LineItems: [{ Quantity: 'three' }] }] }) });
    const v = emu.specViolations();
    assert.equal(v.length, 1);
    assert.equal(v[0].operationId, 'createInvoices');
    const at = v[0].errors.map((e) => e.at);
    assert.ok(at.includes('/Invoices/0/Contact/ContactID'), at.join(','));
    assert.ok(at.includes('/Invoices/0/LineItems/0/Quantity'), at.join(','));
    assert.ok(at.includes('/Invoices/0/LineAmountTypes'), at.join(','));
    assert.throws(() => emu.assertNoSpecViolations(), /broke xero_accounting.yaml/);
    emu.clearSpecViolations();
  });

  it('when xero-node sends well-formed bodies, then no violation is recorded', async () => {
    await xero.accountingApi.createItems(tenantId, { items: [{ code: 'SPEC-1', name: 'Spec item', salesDetails: { unitPrice: 1, accountCode: '200' } }] });
    await xero.accountingApi.createPayments(tenantId, { payments: [] }).catch(() => undefined);
    emu.assertNoSpecViolations();
  });
});

describe('Xero emulator: contract check without the spec file', () => {
  it('when the spec file is absent, then the check is skipped with one visible warning', async () => {
    const { loadSpec } = await import('../emulators/xero/contract.js');
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => { warnings.push(args.map(String).join(' ')); };
    try {
      assert.equal(await loadSpec('/nonexistent/xero_accounting.yaml'), undefined);
      assert.equal(await loadSpec('/nonexistent/xero_accounting.yaml'), undefined);
    } finally { console.warn = original; }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /contract check skipped/);
  });
});
