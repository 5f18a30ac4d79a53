/**
 * Events for old or unrelated documents (issue 21, item 3). Every portal user's browser holds the application token,
 * so anyone can post ONCRM… events for ids 1..N: an event is only a hint to look at a document that is already
 * linked, or that Bitrix24 says was created or changed after the install. Everything else is answered 200, dropped
 * and counted — no document from before the install reaches Xero, no random id leaves a job row — and a flood of new
 * documents is capped per portal and minute while the reconciliation sweep still finds the real ones.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QUOTE, SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startBitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { droppedSince } from '../../app/sync/event-drops.js';
import { nowTs, postForm } from './bitrix-helpers.js';

const DAY = 86_400_000;

/** Push and contact jobs of the portal (rows in any state). */
const pushRows = async (env: Environment) =>
  (await ((await env.c.store.db.all(`SELECT job_key AS key FROM jobs WHERE member_id = ? AND kind IN ('push-invoice', 'push-quote', 'push-contact')`, [env.memberId]))) as { key: string }[]).map((r) => r.key);
const dropped = async (env: Environment) => Object.fromEntries((await droppedSince(env.c.store, env.memberId, Date.now() - 3_600_000)).reasons.map((r) => [r.reason, r.count]));
/** A forged event, signed with the application token every user's app page carries. */
const forge = (env: Environment, event: string, fields: Record<string, string>) =>
  postForm(`${env.c.url}/events`, {
    event, ts: nowTs(), ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [`data[FIELDS][${k}]`, v])),
    'auth[member_id]': env.memberId, 'auth[application_token]': env.b24.frameAuth(2).APPLICATION_TOKEN!,
  });

/** Documents a salesperson made a week before the app was installed (the portal's clock set back while they are made). */
function historyBeforeInstall(env: Environment) {
  env.b24.setEventDelivery(false);
  env.b24.setClock(-7 * DAY);
  const user = env.b24.actAs(2);
  const companyId = Number(user.createCompany({ title: 'Old Customer Ltd' }).id);
  const invoices = [1, 2, 3].map((n) => {
    const id = Number(user.createSmartInvoice({ title: `OLD-${n}`, accountNumber: `OLD-${n}`, companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00', ...(n === 3 ? { stageId: 'DT31_2:S' } : {}) }).id);
    user.setProductRows(SMART_INVOICE, id, [{ productName: 'Old work', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    return id;
  });
  const quote = Number(user.createQuote({ title: 'OLD-Q', quoteNumber: 'OLD-Q', companyId, currencyId: 'NZD', stageId: 'APPROVED' }).id);
  user.setProductRows(QUOTE, quote, [{ productName: 'Old estimate', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
  const classic = Number(user.createClassicInvoice({
    ORDER_TOPIC: 'Old classic', ACCOUNT_NUMBER: 'OLD-C', UF_COMPANY_ID: companyId, CURRENCY: 'NZD', PERSON_TYPE_ID: 1, STATUS_ID: 'N',
    PRODUCT_ROWS: [{ PRODUCT_ID: 0, PRODUCT_NAME: 'Old classic work', PRICE: 115, QUANTITY: 1, VAT_RATE: 0.15, VAT_INCLUDED: 'Y' }],
  }).ID);
  env.b24.setClock(0);
  env.b24.setEventDelivery(true);
  return { companyId, invoices, quote, classic };
}

const inXero = (env: Environment, prefix: string) => [
  ...env.xero.invoices(env.tenantId).filter((i) => String(i.Reference ?? '').startsWith(prefix)),
  ...env.xero.quotes(env.tenantId).filter((q) => String(q.Reference ?? '').startsWith(prefix) || String(q.QuoteNumber ?? '').startsWith(prefix)),
];

describe('events about documents the connector has no business with', () => {
  let env: Environment;
  let old: ReturnType<typeof historyBeforeInstall>;
  before(async () => {
    env = await startEnvironment({ settings: { approveInXero: true } });
    old = historyBeforeInstall(env);
  });
  after(async () => env.close());

  it('when a portal user posts update events for every id 1..40, then no document from before the install reaches Xero, no id leaves a job row, and the drops are counted on the dashboard and in /metrics', async () => {
    for (let id = 1; id <= 40; id++) {
      for (const [event, fields] of [
        ['ONCRMDYNAMICITEMUPDATE', { ID: String(id), ENTITY_TYPE_ID: '31' }],
        ['ONCRMQUOTEUPDATE', { ID: String(id) }],
        ['ONCRMINVOICEUPDATE', { ID: String(id) }],
      ] as const) {
        const res = await forge(env, event, fields);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { ok: true });
      }
    }
    await env.settle();
    assert.deepEqual(inXero(env, 'OLD-'), [], 'nothing from before the install is in Xero (nor approved or accepted)');
    assert.deepEqual((await pushRows(env)), [], 'no job row is left, done or otherwise');
    const counts = await dropped(env);
    assert.equal(counts.before_install, old.invoices.length + 2, `the old invoices, quote and classic invoice: ${JSON.stringify(counts)}`);
    assert.ok((counts.not_found ?? 0) >= 3 * 40 - (old.invoices.length + 2) - 10, `ids Bitrix24 does not have: ${JSON.stringify(counts)}`);

    const metrics = await (await fetch(`${env.c.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`connector_events_dropped_total\\{reason="before_install"\\} ${counts.before_install}\\b`));
    assert.match(metrics, /connector_events_dropped_total\{reason="not_found"\} \d+/);
    const dashboard = await (await postForm(`${env.c.url}/app`, env.b24.frameAuth(1))).text();
    assert.match(dashboard, /id="events-dropped"[^>]*>\d+ events dropped in the last hour: .*about documents from before the install/);
  });

  it('when an unlinked company or contact, or a deleted document never sent, is the subject of an event, then no job row is left', async () => {
    for (let id = 1; id <= 10; id++) {
      await forge(env, 'ONCRMCOMPANYUPDATE', { ID: String(id) });
      await forge(env, 'ONCRMCONTACTUPDATE', { ID: String(id) });
      await forge(env, 'ONCRMDYNAMICITEMDELETE', { ID: String(id), ENTITY_TYPE_ID: '31' });
    }
    assert.deepEqual((await pushRows(env)), []);
    assert.equal((await dropped(env)).not_linked, 30, 'each counted (the forged updates before were about documents, not these)');
  });

  it("when the offline queue holds records about documents from before the install, then draining it sends none of them", async () => {
    assert.ok(env.b24.offlineQueue().length > 0, 'the old documents left offline records');
    await env.c.store.jobs.enqueue({ memberId: env.memberId, kind: 'drain-offline', key: `drain-offline:${env.memberId}`, payload: {} });
    await env.settle();
    assert.deepEqual(inXero(env, 'OLD-'), []);
    assert.deepEqual((await pushRows(env)), []);
    // The forged events of the first test dropped each old document once; the drained records did again.
    assert.ok(((await dropped(env)).before_install ?? 0) > old.invoices.length + 2, 'the drained records were dropped for the same reason');
  });

  it('when the reconciliation sweep runs, then it does not send documents from before the install either', async () => {
    await env.c.services.intakeSchedule.queue('reconcile');
    await env.settle();
    assert.deepEqual(inXero(env, 'OLD-'), []);
  });

  it('when a document from before the install is changed after it, or a new one is made, then it goes to Xero as always', async () => {
    const user = env.b24.actAs(2);
    user.updateItem(SMART_INVOICE, old.invoices[0]!, { title: 'OLD-1 (changed after the install)' });
    const fresh = Number(user.createSmartInvoice({ title: 'NEW-1', accountNumber: 'NEW-1', companyId: old.companyId, currencyId: 'NZD' }).id);
    user.setProductRows(SMART_INVOICE, fresh, [{ productName: 'New work', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    assert.deepEqual(inXero(env, 'OLD-').map((i) => i.Reference), ['OLD-1']);
    assert.equal(inXero(env, 'NEW-').length, 1);
  });

  it('when an admin sends a document from before the install ("Send to Xero"), then it goes to Xero, even if an event about it comes in before it is worked', async () => {
    const html = await (await postForm(`${env.c.url}/app`, env.b24.frameAuth(1))).text();
    const session = /data-session="([^"]+)"/.exec(html)![1]!;
    const res = await fetch(`${env.c.url}/api/documents/push`, { method: 'POST', headers: { 'X-Connector-Session': session, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'smart_invoice', id: String(old.invoices[1]) }) });
    assert.equal(res.status, 202);
    await forge(env, 'ONCRMDYNAMICITEMUPDATE', { ID: String(old.invoices[1]), ENTITY_TYPE_ID: '31' });
    await env.settle();
    assert.ok(inXero(env, 'OLD-2').length === 1, 'the admin asked for it');
  });
});

describe('a flood of events about new documents', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({ env: { EVENT_NEW_DOCUMENTS_PER_MINUTE: '10' } });
  });
  after(async () => env.close());

  it('when more new documents arrive in a minute than the cap, then the rest are answered and dropped without a row, and the reconciliation sweep still sends every real one', async () => {
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: 'Busy Customer Ltd' }).id);
    const ids = Array.from({ length: 25 }, (_, n) => {
      const id = Number(user.createSmartInvoice({ title: `BULK-${n}`, accountNumber: `BULK-${n}`, companyId, currencyId: 'NZD' }).id);
      user.setProductRows(SMART_INVOICE, id, [{ productName: 'Bulk work', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
      return id;
    });
    await env.b24.flushEvents();
    for (let id = 10_000; id < 10_300; id++) assert.equal((await forge(env, 'ONCRMDYNAMICITEMADD', { ID: String(id), ENTITY_TYPE_ID: '31' })).status, 200);
    // At most one cap per minute (the run may straddle two minutes).
    const queued = (await pushRows(env)).length;
    assert.ok(queued <= 20, `${queued} job rows for 325 new documents`);
    assert.ok(((await dropped(env)).over_limit ?? 0) >= 300, JSON.stringify(await dropped(env)));
    const tallyRows = (await (env.c.store.db.get('SELECT count(*) AS n FROM event_tallies')) as { n: number }).n;
    assert.ok(tallyRows <= 6, `the flood is a few counters, not rows per event (${tallyRows})`);
    const dashboard = await (await postForm(`${env.c.url}/app`, env.b24.frameAuth(1))).text();
    assert.match(dashboard, /over the limit of new documents per minute/);

    // Without the offline queue (a plan feature, and possibly drained already), the events alone fall short.
    env.b24.portal.offlineQueue = [];
    await env.settle();
    assert.ok(env.xero.invoices(env.tenantId).filter((i) => String(i.Reference).startsWith('BULK-')).length < ids.length, 'the events alone did not bring them all');
    // The sweep lists what changed since its watermark (the install, for the first one): the real documents.
    await env.c.services.intakeSchedule.queue('reconcile');
    await env.settle();
    assert.equal(env.xero.invoices(env.tenantId).filter((i) => String(i.Reference).startsWith('BULK-')).length, ids.length);
    assert.deepEqual((await pushRows(env)).filter((k) => /:1\d{4}$/.test(k)), [], 'the forged ids left nothing behind');
  });
});

describe("the install time is the portal's", () => {
  it("when the portal's clock runs three hours behind the connector's, then documents made after the install are sent, and a reinstall keeps the first install time", async () => {
    const b24 = await startBitrix24Emulator({ seedDemo: false });
    b24.setClock(-3 * 3_600_000);
    const env = await startEnvironment({ b24 });
    try {
      const first = (await env.c.store.portals.get(env.memberId))!.b24InstalledAt;
      assert.ok(first !== null && Math.abs(first - (Date.now() - 3 * 3_600_000)) < 60_000, `install time on the portal's clock: ${first}`);
      const user = b24.actAs(2);
      const companyId = Number(user.createCompany({ title: 'Clock Customer Ltd' }).id);
      const id = Number(user.createSmartInvoice({ title: 'CLOCK-1', accountNumber: 'CLOCK-1', companyId, currencyId: 'NZD' }).id);
      user.setProductRows(SMART_INVOICE, id, [{ productName: 'Work', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
      await env.settle();
      assert.equal(env.xero.invoices(env.tenantId).filter((i) => i.Reference === 'CLOCK-1').length, 1);

      b24.setClock(0);
      const again = await b24.install({ userId: 1 });
      assert.equal(again.status, 200);
      assert.equal((await env.c.store.portals.get(env.memberId))!.b24InstalledAt, first, 'a reinstall does not move it');
    } finally {
      await env.close();
      await b24.close();
    }
  });
});
