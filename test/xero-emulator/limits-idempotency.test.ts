import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Invoice, LineAmountTypes } from 'xero-node';
import type { XeroEmulator } from '../emulators/xero/index.js';
import { api, connected, parseXeroError, rejection } from './helpers.js';

describe('Xero emulator: limits, idempotency and faults', () => {
  const started: XeroEmulator[] = [];
  after(async () => { for (const e of started) await e.close(); });

  it('when the per-minute limit is passed, then 429 comes with Retry-After, X-Rate-Limit-Problem and remaining counters', async () => {
    const { emu, xero, tenantId } = await connected({ limits: { perMinute: 3, windowMs: 2000 } });
    started.push(emu);
    const first = await xero.accountingApi.getOrganisations(tenantId);
    assert.equal(first.response.headers['x-minlimit-remaining'], '2');
    assert.equal(first.response.headers['x-daylimit-remaining'], '4999');
    assert.equal(first.response.headers['x-appminlimit-remaining'], '9999');
    await xero.accountingApi.getOrganisations(tenantId);
    await xero.accountingApi.getOrganisations(tenantId);
    const err = await rejection(xero.accountingApi.getOrganisations(tenantId));
    assert.equal(err.status, 429);
    assert.equal(err.headers['x-rate-limit-problem'], 'minute');
    assert.ok(Number(err.headers['retry-after']) >= 1);
    assert.equal(emu.counters.served429, 1);
    await new Promise((r) => setTimeout(r, Number(err.headers['retry-after']) * 1000));
    const again = await xero.accountingApi.getOrganisations(tenantId);
    assert.equal(again.response.status, 200);
  });

  it('when the daily limit is passed, then 429 names the day problem', async () => {
    const { emu, xero, tenantId } = await connected({ limits: { perDay: 2 } });
    started.push(emu);
    await xero.accountingApi.getOrganisations(tenantId);
    await xero.accountingApi.getOrganisations(tenantId);
    const err = await rejection(xero.accountingApi.getOrganisations(tenantId));
    assert.equal(err.status, 429);
    assert.equal(err.headers['x-rate-limit-problem'], 'day');
  });

  it('when more than 5 requests are in flight for one tenant, then the extra ones get 429 and the emulator saw at most 5 at once', async () => {
    const { emu, xero, tenantId } = await connected();
    started.push(emu);
    emu.setFaults({ latencyMs: 300 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => xero.accountingApi.getOrganisations(tenantId)));
    const statuses = results.map((r) => (r.status === 'fulfilled' ? 200 : parseXeroError(r.reason).status));
    assert.equal(statuses.filter((s) => s === 200).length, 5);
    assert.equal(statuses.filter((s) => s === 429).length, 3);
    assert.equal(emu.counters.maxInFlight, 5);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal(parseXeroError(rejected.reason).headers['x-rate-limit-problem'], 'concurrent');
    assert.equal(emu.counters.calls['GET /Organisation'], 8);
  });

  it('when a write is replayed with the same Idempotency-Key, then the first answer comes back and nothing is created twice', async () => {
    const { emu, xero, tenantId } = await connected();
    started.push(emu);
    const contactId = emu.seedContact(tenantId, { Name: 'Idem Ltd' }).ContactID;
    const inv = { type: Invoice.TypeEnum.ACCREC, contact: { contactID: contactId }, lineAmountTypes: LineAmountTypes.Exclusive, lineItems: [{ description: 'x', quantity: 1, unitAmount: 5, accountCode: '200' }] };
    const a = await xero.accountingApi.createInvoices(tenantId, { invoices: [inv] }, false, undefined, 'push-doc-42-v1');
    const b = await xero.accountingApi.createInvoices(tenantId, { invoices: [inv] }, false, undefined, 'push-doc-42-v1');
    assert.equal(b.body.invoices![0].invoiceID, a.body.invoices![0].invoiceID);
    assert.equal(emu.invoices(tenantId).length, 1);
    assert.equal(emu.counters.replays, 1);
    assert.equal(emu.requestLog.at(-1)?.idempotencyKey, 'push-doc-42-v1');
    const diff = await rejection(xero.accountingApi.createInvoices(tenantId, { invoices: [{ ...inv, reference: 'other' }] }, false, undefined, 'push-doc-42-v1'));
    assert.equal(diff.status, 400);
    assert.match(JSON.stringify(diff.body), /used with a different request/);
    assert.equal(emu.invoices(tenantId).length, 1);
  });

  it('when an Idempotency-Key answer is older than the replay window, then the write runs again', async () => {
    const { emu, xero, tenantId } = await connected({ idempotencyTtlMs: 50 });
    started.push(emu);
    await xero.accountingApi.createContacts(tenantId, { contacts: [{ name: 'Window One' }] }, false, 'k1');
    await new Promise((r) => setTimeout(r, 80));
    const again = await xero.accountingApi.createContacts(tenantId, { contacts: [{ name: 'Window One' }] }, false, 'k1');
    assert.equal(again.body.contacts![0].statusAttributeString, 'ERROR'); // the name is now taken: the call really ran
  });

  it('when faults are injected, then 503s and dropped connections reach the client and are counted', async () => {
    const { emu, xero, tenantId } = await connected();
    started.push(emu);
    emu.setFaults({ errorRate: 1, statuses: [503] });
    assert.equal((await rejection(xero.accountingApi.getOrganisations(tenantId))).status, 503);
    emu.setFaults({ dropRate: 1 });
    const token = xero.readTokenSet().access_token!;
    await assert.rejects(api(emu, '/Organisation', { token, tenantId }));
    // An injected 429 asks for no pause unless the test names one (the limits' own 429s say when the window frees).
    emu.setFaults({ errorRate: 1, statuses: [429] });
    const throttled = await rejection(xero.accountingApi.getOrganisations(tenantId));
    assert.equal(throttled.headers['retry-after'], '0');
    assert.equal(throttled.headers['x-rate-limit-problem'], 'minute');
    emu.setFaults({ errorRate: 1, statuses: [429], retryAfterSeconds: 7 });
    assert.equal((await rejection(xero.accountingApi.getOrganisations(tenantId))).headers['retry-after'], '7');
    emu.setFaults({});
    assert.equal((await xero.accountingApi.getOrganisations(tenantId)).response.status, 200);
    assert.deepEqual([emu.counters.faultsInjected, emu.counters.dropped, emu.counters.served429], [3, 1, 2]);
    emu.resetCounters();
    assert.equal(emu.requestLog.length, 0);
  });
});

describe('Xero emulator: a lost answer healed by the Idempotency-Key', () => {
  it('when the answer to a create is lost and the client retries with the same key, then exactly one invoice exists', async () => {
    const { emu, xero, tenantId } = await connected();
    try {
      const contactId = emu.seedContact(tenantId, { Name: 'Lost Answer Ltd' }).ContactID;
      const inv = { type: Invoice.TypeEnum.ACCREC, contact: { contactID: contactId }, lineItems: [{ description: 'x', quantity: 1, unitAmount: 5, accountCode: '200' }] };
      emu.setFaults({ dropResponseRate: 1 });
      const lost = await rejection(xero.accountingApi.createInvoices(tenantId, { invoices: [inv] }, false, undefined, 'retry-me'));
      assert.equal(lost.status, 0);
      assert.equal(emu.invoices(tenantId).length, 1);
      emu.setFaults({});
      const retried = await xero.accountingApi.createInvoices(tenantId, { invoices: [inv] }, false, undefined, 'retry-me');
      assert.equal(retried.body.invoices![0].invoiceID, emu.invoices(tenantId)[0].InvoiceID);
      assert.equal(emu.invoices(tenantId).length, 1);
    } finally { await emu.close(); }
  });
});
