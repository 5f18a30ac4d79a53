import assert from 'node:assert/strict';
import { it, mock } from 'node:test';
import { link, poll, statusBed } from './bed.js';
import { mapEach } from '../../app/async-lists.js';

const bed = await statusBed();
const { b24, xero, c } = bed;

it('when a quote read on the first page changes before the next page is read, then the quote that slid into the read page is not skipped', async () => {
  // 150 linked estimates whose Xero quotes were sent one second apart, an hour ago, after the last poll.
  const hourAgo = Date.now() - 60 * 60_000;
  await c.store.watermarks.set(`connection:${bed.connectionId}`, 'xero.quotes', new Date(hourAgo).toISOString());
  const pairs = await mapEach(Array.from({ length: 150 }), async () => {
    const estimate = Number(b24.actAs(1).createQuote({ title: 'Training' }).id);
    const q = xero.seedQuote(bed.tenantId, {
      Contact: { ContactID: bed.contactId }, Date: '2026-01-10', LineAmountTypes: 'EXCLUSIVE',
      LineItems: [{ Description: 'Training day', Quantity: 1, UnitAmount: 800, AccountCode: '200', TaxType: 'OUTPUT2' }],
    });
    await link(bed, 'quote', estimate, String(q.QuoteID), String(q.QuoteNumber), 'DRAFT');
    return { estimate, quoteId: String(q.QuoteID) };
  });
  pairs.forEach((p, i) => {
    mock.timers.enable({ apis: ['Date'], now: hourAgo + (i + 1) * 1000 });
    xero.setQuoteStatus(bed.tenantId, p.quoteId, 'SENT');
    mock.timers.reset();
  });
  // Right after the first page (Xero pages quotes by 100), a person accepts the first quote on it: its change is now
  // the newest, so it moves to the end of the UpdatedDateUTC order and every later quote moves one place up.
  let accepted = '';
  xero.afterAnswer((r) => r.endpoint === 'GET /Quotes', (answer) => {
    accepted = String((answer as { Quotes: { QuoteID: string }[] }).Quotes[0]!.QuoteID);
    xero.setQuoteStatus(bed.tenantId, accepted, 'ACCEPTED');
  });

  await poll(bed);

  assert.ok(accepted, 'a quote changed between the pages');
  const status = (estimate: number) => b24.items(7).find((i) => Number(i.id) === estimate)!.ufCrmQuoteXeroStatus;
  const missed = pairs.filter((p) => !status(p.estimate));
  assert.deepEqual(missed.map((p) => p.quoteId), [], 'every sent quote reached its estimate');
  assert.equal(status(pairs.find((p) => p.quoteId === accepted)!.estimate), 'ACCEPTED');
});
