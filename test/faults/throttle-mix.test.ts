// Sustained throttling settles for every kind of work. The mix of throttle-mix.ts at 5 documents a
// second against Bitrix24's standard leaky bucket (50, 2 a second drained) with other apps filling it every 10 s.
// Xero's minute (60 calls) is widened here so that Bitrix24's limit is the one under test: at this rate the mix needs
// about 0.6 Xero calls a document, and Xero's minute binds first (its own issue).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE, startBitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator } from '../emulators/xero/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { connectorRequests, MIX_KINDS, notLanded, standardBucketWithOthers, ThrottleMix, type MixSide } from './throttle-mix.js';
import { mapEach } from '../../app/async-lists.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECONDS = Number(process.env.THROTTLE_MIX_SECONDS ?? 24);
const PER_SECOND = 5;
/** How long after the last event everything may take to land. */
const SETTLE_BOUND_MS = 30_000;
/** Xero's minute widened tenfold (emulator and the connector's gateway alike). */
const XERO_WIDE = { emulator: { perMinute: 600 }, connector: { perMinute: 550, xeroPerMinute: 600 } };

describe('sustained throttling settles for every kind of work', () => {
  let env: Environment;
  let side: MixSide;
  before(async () => {
    const b24 = await startBitrix24Emulator({ seedDemo: false });
    const xero = await startXeroEmulator({ webhookKey: 'throttle-mix-webhook-key-0123456789-abcdef', specCheck: false, limits: XERO_WIDE.emulator });
    env = await startEnvironment({ b24, xero, settings: { approveInXero: true, quoteSync: true }, xeroLimits: XERO_WIDE.connector });
    xero.configureWebhook({ url: `${env.c.url}/xero/webhooks` });
    side = { b24, xero, tenantId: env.tenantId, memberId: env.memberId, withStore: async (fn) => fn(env.c.store) };
  });
  after(async () => {
    await env.c.services.outbox.stop();
    await env.close();
    await env.b24.close();
    await env.xero.close();
  });

  it('when the mix runs at 5 documents a second against the standard bucket with other apps, then every document lands once, the queue settles soon after the last event and no attempt was spent on a limit', async () => {
    const mix = new ThrottleMix(side, 'THR');
    env.b24.setLeakyBucket(standardBucketWithOthers());
    env.b24.resetCounters();
    env.c.services.outbox.start();
    const started = Date.now();
    for (let s = 0; s < SECONDS; s++) {
      const t1 = Date.now();
      await mix.next(PER_SECOND);
      const t2 = Date.now();
      await env.xero.flushWebhooks().catch(() => undefined);
      if (process.env.THROTTLE_MIX_DEBUG) process.stdout.write(`# mix ${s} next ${t2 - t1} flush ${Date.now() - t2}\n`);
      await sleep(Math.max(0, started + (s + 1) * 1000 - Date.now()));
    }
    const lastEvent = Date.now();
    let settledAt = 0;
    while (Date.now() - lastEvent < SETTLE_BOUND_MS * 2) {
      const t1 = Date.now();
      await env.xero.flushWebhooks().catch(() => undefined);
      const t2 = Date.now();
      const missing = await notLanded(side, mix.docs);
      if (process.env.THROTTLE_MIX_DEBUG) process.stdout.write(`# timing flush ${t2 - t1} check ${Date.now() - t2}\n`);
      const live = await env.c.store.jobs.countByState(env.memberId);
      if (MIX_KINDS.every((k) => missing[k].length === 0) && live.pending + live.running === 0) {
        settledAt = Date.now();
        break;
      }
      if (process.env.THROTTLE_MIX_DEBUG && Math.floor((Date.now() - lastEvent) / 5000) !== Math.floor((Date.now() - lastEvent - 1000) / 5000)) {
        const pend = await env.c.store.jobs.list({ memberId: env.memberId, states: ['pending', 'running'], limit: 1000 });
        process.stdout.write(`# +${Date.now() - lastEvent} ${JSON.stringify(Object.fromEntries(MIX_KINDS.map((k) => [k, missing[k].length])))} ${JSON.stringify(pend.map((j) => `${j.kind}:${j.state}:${j.lastErrorCode ?? ''}:${j.runAt - Date.now()}`).slice(0, 12))}\n`);
      }
      await sleep(1000);
    }
    const requests = connectorRequests(env.b24.callLog);
    const stats = env.b24.bucketStats();
    const jobs = await env.c.store.jobs.list({ memberId: env.memberId, limit: 100_000 });
    const report = {
      docs: Object.fromEntries(MIX_KINDS.map((k) => [k, mix.count(k)])),
      xero: env.xero.counters.total, xeroBy: env.xero.counters.calls, xero429: env.xero.counters.served429,
      requests: requests.length, refused: requests.filter((r) => r.status === 503).length, bucket: stats,
      settleMs: settledAt ? settledAt - lastEvent : null,
      attempts: jobs.filter((j) => j.attempts > 1).map((j) => `${j.key} ${j.attempts} ${j.lastErrorCode ?? ''}`),
    };
    process.stdout.write(`# ${JSON.stringify(report)}\n`);
    if (process.env.THROTTLE_MIX_DEBUG) {
      const shapes = new Map<string, number>();
      let inner: string[] = [];
      for (const c of env.b24.callLog) {
        if (c.viaBatch) { inner.push(c.method); continue; }
        const key = c.method === 'batch' ? `batch[${[...new Set(inner)].sort().join(',')}]` : `${c.method} ${c.status}`;
        shapes.set(key, (shapes.get(key) ?? 0) + 1);
        inner = [];
      }
      process.stdout.write(`# ${JSON.stringify([...shapes].sort((a, b) => b[1] - a[1]))}\n`);
      const t0 = Date.parse(env.b24.callLog[0]!.at);
      process.stdout.write(`# timeline ${connectorRequests(env.b24.callLog).map((c) => `${Math.round((Date.parse(c.at) - t0) / 1000)}:${c.status}`).join(' ')}\n`);
    }
    const missing = await notLanded(side, mix.docs);
    // What the connector logged about each document that did not land, so that a failure says why.
    const trail = await mapEach(mix.docs.filter((d) => MIX_KINDS.some((k) => missing[k].some((m) => m.startsWith(d.number) || m.startsWith(d.b24Id)))),
      async (d) => `${d.kind} ${d.number}: ${(await env.c.store.activity.list({ memberId: env.memberId, subject: `${d.b24Type}:${d.b24Id}`, limit: 20 })).map((a) => `[${a.kind}] ${a.message}`).join(' | ')}`,
    );
    assert.deepEqual(missing, Object.fromEntries(MIX_KINDS.map((k) => [k, []])), trail.join('\n'));
    assert.ok(settledAt && settledAt - lastEvent <= SETTLE_BOUND_MS, `settled ${settledAt ? settledAt - lastEvent : 'never'} ms after the last event`);
    assert.ok(MIX_KINDS.every((k) => mix.count(k) > 0), 'every kind of work ran');
    assert.ok(stats.refused > 0 || stats.otherAppsTaken > 0, 'the bucket was in play');
    const spent = jobs.filter((j) => j.attempts > 1 || /LIMIT/.test(j.lastErrorCode ?? '') && j.state !== 'done');
    assert.deepEqual(spent.map((j) => j.key), [], 'no job spent an attempt on a limit');
  });

  it('when a method hits OPERATION_TIME_LIMIT and its operating_reset_at is 12 s away, then the job waits until then (not a minute) without spending an attempt, and goes on after it', async () => {
    env.b24.setLeakyBucket(false);
    await env.c.services.outbox.stop();
    // Reading product rows costs 1 s of the method's 2 s per 12 s window: the third invoice's read is blocked.
    const windowMs = 12_000;
    env.b24.setOperatingLimit({ limitSeconds: 2, windowMs, costSeconds: { 'crm.item.productrow.list': 1 } });
    const user = env.b24.actAs(2);
    const company = Number(user.createCompany({ title: 'Operating Ltd' }).id);
    const ids: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const inv = user.createSmartInvoice({ title: `OPL-${i}`, accountNumber: `OPL-${i}`, companyId: company, currencyId: 'NZD' });
      user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Work', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
      ids.push(Number(inv.id));
      await env.settle();
    }
    const blocked = (await env.c.store.jobs.list({ memberId: env.memberId, states: ['pending'], limit: 100 })).find((j) => j.key.endsWith(`smart_invoice:${ids[2]}`));
    assert.ok(blocked, 'the third invoice waits');
    assert.equal(blocked.lastErrorCode, 'B24.OPERATION_TIME_LIMIT');
    assert.equal(blocked.attempts, 0, 'the wait spent no attempt');
    const wait = blocked.runAt - Date.now();
    // operating_reset_at is given in whole seconds, so the wait may pass the window by up to a second.
    assert.ok(wait > 0 && wait <= windowMs + 1000, `waits until operating_reset_at (${wait} ms), not a minute`);
    await new Promise((r) => setTimeout(r, wait + 50));
    await env.settle();
    assert.equal(env.xero.invoices(env.tenantId).filter((x) => String(x.Reference).startsWith('OPL-')).length, 3, 'it went on after the reset');
    env.b24.setOperatingLimit(false);
  });
});
