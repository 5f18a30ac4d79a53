import assert from 'node:assert/strict';
import { it, mock } from 'node:test';
import { link, poll, seedXeroInvoice, smartInvoice, statusBed } from './bed.js';

const bed = await statusBed();
const { b24, xero, c } = bed;

it('when 20 of 10,000 linked invoices changed in Xero, then one poll costs one Xero call and updates exactly those 20', async () => {
  // 10,000 invoices last modified in Xero an hour ago, linked directly in the store.
  mock.timers.enable({ apis: ['Date'], now: Date.now() - 60 * 60_000 });
  const seeded = Array.from({ length: 10_000 }, () => seedXeroInvoice(bed));
  mock.timers.reset();
  const documents = Array.from({ length: 20 }, () => Number(b24.actAs(1).createSmartInvoice({ title: 'Consulting' }).id));
  await c.store.transaction(async () => {
    for (const [n, x] of seeded.entries()) await link(bed, 'smart_invoice', n < 20 ? documents[n]! : 100_000 + n, x.id, x.number, 'AUTHORISED');
  });
  assert.equal(await c.store.links.count(bed.memberId), 10_000);
  for (const x of seeded.slice(0, 20)) xero.addPayment(bed.tenantId, x.id, 1150);
  xero.resetCounters();

  const report = await poll(bed);

  assert.equal(xero.counters.total, 1, JSON.stringify(xero.counters.calls));
  assert.equal(xero.callCount('GET /Invoices'), 1);
  assert.equal(report.xeroCalls, 1);
  assert.equal(report.updated, 20);
  for (const id of documents) assert.equal(smartInvoice(bed, id).stageId, 'DT31_2:P');
  assert.equal(b24.triggerExecutions().length, 20);

  xero.resetCounters();
  const quiet = await poll(bed);
  assert.equal(xero.counters.total, 1, 'a quiet poll is one call too');
  assert.equal(quiet.updated, 0);
  assert.equal(b24.triggerExecutions().length, 20, 'the trigger does not fire again');
});
