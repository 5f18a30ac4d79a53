/**
 * Attacks through the event handler (issue 10, item 2). Bitrix24 puts the application token into every app page
 * and placement POST, so every portal user can sign an event: events are hints, never orders.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { nowTs, postForm, salespersonInvoice } from './bitrix-helpers.js';

describe('attacks through Bitrix24 events', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  /** An invoice a salesperson made, already pushed to Xero as a draft. */
  async function pushedInvoice(number: string): Promise<number> {
    const id = salespersonInvoice(env.b24, number);
    await env.settle();
    return id;
  }
  const xeroStatus = (number: string) => env.xero.invoices(env.tenantId).find((i) => i.Reference === number)?.Status;
  /** What a non-admin's browser gets in every app page POST: the application token. */
  const applicationToken = () => env.b24.frameAuth(2).APPLICATION_TOKEN!;

  it('when a portal user forges a delete event for an invoice that still exists, then the Xero invoice stays and the attempt is logged', async () => {
    const id = await pushedInvoice('SEC-DEL-1');
    assert.equal(xeroStatus('SEC-DEL-1'), 'DRAFT');
    const res = await postForm(`${env.c.url}/events`, {
      event: 'ONCRMDYNAMICITEMDELETE', ts: nowTs(), 'data[FIELDS][ID]': String(id), 'data[FIELDS][ENTITY_TYPE_ID]': '31',
      'auth[member_id]': env.memberId, 'auth[application_token]': applicationToken(),
    });
    assert.equal(res.status, 200);
    await env.settle();
    assert.equal(xeroStatus('SEC-DEL-1'), 'DRAFT');
    const logged = (await env.c.store.activity.list({ memberId: env.memberId })).find((a) => a.kind === 'event.delete_refused' && a.subject === `smart_invoice:${id}`);
    assert.ok(logged, 'the refused delete is in the activity log');
    // A real deletion still goes through.
    env.b24.actAs(2).deleteItem(SMART_INVOICE, id);
    await env.settle();
    assert.equal(xeroStatus('SEC-DEL-1'), 'DELETED');
  });

  it('when a portal user forges ONAPPUNINSTALL with CLEAN, then the connector keeps the portal, its tokens and its data', async () => {
    const res = await postForm(`${env.c.url}/events`, {
      event: 'ONAPPUNINSTALL', ts: nowTs(), 'data[CLEAN]': '1', 'data[LANGUAGE_ID]': 'en',
      'auth[member_id]': env.memberId, 'auth[application_token]': applicationToken(),
    });
    assert.equal(res.status, 200);
    const portal = (await env.c.store.portals.get(env.memberId))!;
    assert.equal(portal.state, 'installed');
    assert.ok(portal.accessToken);
    assert.equal(portal.purgeAt, null);
    assert.equal((await env.c.store.connections.listForPortal(env.memberId))[0]?.state, 'active');
    assert.ok((await env.c.store.activity.list({ memberId: env.memberId })).some((a) => a.kind === 'portal.uninstall_ignored'));
  });

  it('when a captured event is posted again, then the copy is ignored', async () => {
    await pushedInvoice('SEC-REPLAY-1');
    const delivered = env.b24.deliveryLog.filter((d) => d.event === 'ONCRMDYNAMICITEMUPDATE' && d.ok).at(-1)!;
    const jobsBefore = (await env.c.store.jobs.list()).length;
    const res = await fetch(`${env.c.url}/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: delivered.raw });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { ignored?: string }).ignored, 'repeat');
    assert.equal((await env.c.store.jobs.list()).length, jobsBefore);
  });

  it("when an event's ts lies hours away from now, then it is ignored", async () => {
    const id = await pushedInvoice('SEC-STALE-1');
    const jobsBefore = (await env.c.store.jobs.list()).length;
    for (const ts of [nowTs(-3 * 3600), nowTs(3 * 3600)]) {
      const res = await postForm(`${env.c.url}/events`, {
        event: 'ONCRMDYNAMICITEMUPDATE', ts, 'data[FIELDS][ID]': String(id), 'data[FIELDS][ENTITY_TYPE_ID]': '31',
        'auth[member_id]': env.memberId, 'auth[application_token]': applicationToken(),
      });
      assert.equal(((await res.json()) as { ignored?: string }).ignored, 'stale');
    }
    assert.equal((await env.c.store.jobs.list()).length, jobsBefore);
  });
});
