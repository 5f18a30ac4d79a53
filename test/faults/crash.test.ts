// Fault campaign, crash part: the connector process is killed with SIGKILL at eight points of its work (push,
// contact creation, event intake, write-back, status poll, Xero webhook handling, offline-queue drain, reconciliation
// sweep) and restarted each time; at the end every document is in Xero exactly once and every status is back.
// The import and contact sync's kill points are in crash-import.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { approveAndPay, assertExactlyOnce, assertNothingStuck, assertPaidBack, createMix, waitFor, type MixDoc } from './mix.js';
import { startProcessBed } from './process-bed.js';
import { everyEach } from '../../app/async-lists.js';

describe('fault campaign: SIGKILL and restart', () => {
  it('when the connector is killed during push, contact creation, intake, write-back, poll, webhook handling, offline drain and sweep, then after restarts the end state is right', async () => {
    const bed = await startProcessBed(tempDir());
    const { b24, xero, tenantId, url } = bed;
    const kills: string[] = [];
    const docs: MixDoc[] = [];
    /** Kills the connector the moment `when` holds, then starts it again. */
    const killWhen = async (point: string, when: () => boolean, timeoutMs = 30_000) => {
      await waitFor(`the moment to kill (${point})`, when, timeoutMs, 2);
      await bed.killAndRestart();
      kills.push(point);
      if (process.env.CRASH_TRACE) process.stderr.write(`killed during ${point} at ${new Date().toISOString()}\n`);
    };
    const xeroSeen = (endpoint: RegExp, after: number) => xero.requestLog.slice(after).some((r) => endpoint.test(r.endpoint));
    const b24Seen = (method: string, after: number) => b24.callLog.slice(after).some((c) => c.method === method);
    try {
      xero.setFaults({ latencyMs: 80 });

      // 1–2. Contact creation, then push: a burst for new customers.
      let mark = xero.requestLog.length;
      docs.push(...createMix(b24, 'K1', { smart: 40, classic: 2, customers: 8 }));
      void b24.flushEvents();
      await killWhen('contact creation', () => xeroSeen(/^(PUT|POST) \/Contacts/, mark));
      mark = xero.requestLog.length;
      await b24.flushEvents().catch(() => undefined);
      await killWhen('push', () => xeroSeen(/^(PUT|POST) \/Invoices/, mark));

      // 3. Event intake: killed while a burst of events is being delivered.
      docs.push(...createMix(b24, 'K3', { smart: 20, customers: 2 }));
      const delivering = b24.flushEvents().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 30));
      await killWhen('event intake', () => true);
      await delivering;
      await waitFor('the first bursts in Xero', async () => (await bed.withStore((s) => s.links.count(b24.memberId))) >= 50, 60_000, 100);

      // 4. Write-back of the Xero numbers into Bitrix24.
      let b24Mark = b24.callLog.length;
      docs.push(...createMix(b24, 'K4', { smart: 10, customers: 2 }));
      await b24.flushEvents();
      await killWhen('write-back', () => b24.callLog.slice(b24Mark).some((c) => c.viaBatch && (c.method === 'crm.item.update' || c.method === 'crm.invoice.update')));

      // 5. Status poll (it runs right after a start): approvals and payments in Xero.
      await waitFor('an idle queue before the payments', () => bed.idle(), 90_000, 100);
      const paid = await bed.withStore((s) => approveAndPay(xero, tenantId, s, b24.memberId, docs.slice(0, 24)));
      mark = xero.requestLog.length;
      await bed.killAndRestart();
      await killWhen('status poll', () => xeroSeen(/^GET \/Invoices$/, mark));

      // 6. Xero webhook handling: more payments, the event delivered, the connector killed while it reads them.
      xero.configureWebhook({ url: `${url}/xero/webhooks` });
      const paid2 = await bed.withStore((s) => approveAndPay(xero, tenantId, s, b24.memberId, docs.slice(24, 40)));
      mark = xero.requestLog.length;
      await xero.flushWebhooks();
      await killWhen('webhook handling', () => xeroSeen(/^GET \/Invoices/, mark));

      // 7. Offline drain: Bitrix24 cannot reach the connector; the ONOFFLINEEVENT ping comes later.
      b24.setEventDelivery(false);
      docs.push(...createMix(b24, 'K7', { smart: 12, customers: 2 }));
      await b24.flushEvents();
      b24.setEventDelivery(true);
      b24Mark = b24.callLog.length;
      const withoutPing = b24.offlineQueue().length;
      assert.ok(withoutPing > 0, 'events waited in the offline queue');
      // The drain runs every minute and at start; a start now makes it run at once.
      await bed.killAndRestart();
      await killWhen('offline drain', () => b24Seen('event.offline.get', b24Mark), 90_000);

      // 8. Reconciliation sweep (at every start): documents whose events were lost entirely.
      b24.setEventDelivery(false);
      docs.push(...createMix(b24, 'K8', { smart: 8, customers: 2 }));
      await b24.flushEvents();
      b24.portal.offlineQueue = [];
      b24.setEventDelivery(true);
      b24Mark = b24.callLog.length;
      await bed.killAndRestart();
      await killWhen('reconciliation sweep', () => b24Seen('crm.item.list', b24Mark), 60_000);

      xero.setFaults({});
      await waitFor('every document in Xero', () => bed.withStore((s) => docs.every((d) => s.links.find(b24.memberId, d.b24Type, d.b24Id))), 120_000, 200);
      await waitFor('every status back', () => bed.withStore((s) => everyEach([...paid, ...paid2], async (d) => (await s.links.find(b24.memberId, d.b24Type, d.b24Id))?.xeroStatus === 'PAID')), 120_000, 200);
      await waitFor('an idle queue', () => bed.idle(), 60_000, 100);
      assert.equal(kills.length, 8, kills.join(', '));
      await bed.withStore(async (s) => {
        await assertExactlyOnce(xero, tenantId, s, b24.memberId, docs);
        await assertPaidBack(b24, s, b24.memberId, [...paid, ...paid2]);
        await assertNothingStuck(s);
      });
    } finally {
      await bed.close();
    }
  });
});
