import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { updatePortalSettings } from '../../app/sync/settings.js';
import { StatusPollSchedule } from '../../app/sync/schedules.js';
import { linkedSmartInvoice, smartInvoice, statusBed } from './bed.js';
import { mapEach } from '../../app/async-lists.js';

const bed = await statusBed();
const { xero, c } = bed;

describe('Xero webhooks', () => {
  it('when Xero posts events for 30 invoices, then the webhook jobs read them with one GET and update the documents', async () => {
    // Only the webhook jobs are counted here: Bitrix24 events are not delivered (these links are made directly,
    // without a push, so the documents' own events would look like edits to push).
    bed.b24.setEventDelivery(false);
    const docs = await mapEach(Array.from({ length: 30 }), () => linkedSmartInvoice(bed));
    for (const d of docs) xero.addPayment(bed.tenantId, d.xeroId, 200);
    xero.configureWebhook({ url: `${c.url}/xero/webhooks` });
    const delivery = await xero.sendWebhookEvents(docs.map((d) => ({ tenantId: bed.tenantId, resourceId: d.xeroId })));
    assert.equal(delivery.status, 200);
    xero.resetCounters();

    await c.services.outbox.drain();
    bed.b24.setEventDelivery(true);

    assert.equal(xero.callCount('GET /Invoices'), 1, JSON.stringify(xero.counters.calls));
    assert.equal(xero.counters.total, 1);
    const ids = xero.requestLog.at(-1)!.query.IDs!.split(',');
    assert.equal(ids.length, 30);
    for (const d of docs) assert.equal(Number(smartInvoice(bed, d.b24Id).ufCrmSmartInvoiceXeroPaid), 200);
  });
});

describe('the status poll schedule', () => {
  it('when the admin changes the poll interval in settings, then the next ticks follow it without a restart', async () => {
    const polled: number[] = [];
    const recorder = { pollConnection: async (id: number) => { polled.push(id); return { connectionId: id, xeroCalls: 0, read: 0, updated: 0, failed: 0 }; } };
    const schedule = new StatusPollSchedule(c.store, recorder, c.services.logger, { defaultIntervalSeconds: 60 });
    const t0 = Date.now();

    await schedule.tick(t0);
    await schedule.tick(t0 + 40_000);
    assert.deepEqual(polled, [bed.connectionId], 'the default 60 s has not passed');

    await updatePortalSettings(c.store, bed.memberId, { pollIntervalSeconds: 30 });
    await schedule.tick(t0 + 40_000);
    assert.deepEqual(polled, [bed.connectionId, bed.connectionId]);
    await schedule.stop();
  });

  it('when the schedule is started and stopped, then a real poll runs against Xero and stop waits for it', async () => {
    const schedule = new StatusPollSchedule(c.store, c.services.pullStatuses, c.services.logger, { defaultIntervalSeconds: 30 });
    xero.resetCounters();
    await schedule.tick();
    await schedule.stop();
    assert.equal(xero.callCount('GET /Invoices'), 1);
  });
});
