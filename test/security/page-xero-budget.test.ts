/**
 * Attacks on Xero's calls through the pages: portal users who loop the card tab's PDF link must not use up the calls
 * the pushes need, in Xero's minute or in its day. Xero's minute is compressed to a few seconds on both sides; the
 * emulator counts the organisation's calls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { sessionOf } from './page-helpers.js';

const WINDOW_MS = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Linked invoices for the PDF loop. */
async function linkedInvoices(env: Environment, count: number): Promise<number[]> {
  const user = env.b24.actAs(1);
  const companyId = Number(user.createCompany({ title: 'Looped Customer Ltd' }).id);
  const ids = Array.from({ length: count }, (_, i) => {
    const inv = user.createSmartInvoice({ title: `PDF-${i + 1}`, accountNumber: `PDF-${i + 1}`, companyId, currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' });
    user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Service', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    return Number(inv.id);
  });
  await env.settle();
  return ids;
}

/** `users` portal users each loop the PDF links of `ids` until `ms` have passed; the answers' statuses and codes. */
async function loopPdfs(env: Environment, users: number[], ids: number[], ms: number): Promise<{ status: number; code?: string; retryAfter: string | null }[]> {
  const answers: { status: number; code?: string; retryAfter: string | null }[] = [];
  const end = Date.now() + ms;
  await Promise.all(users.map(async (userId, u) => {
    const session = sessionOf(env, userId);
    for (let i = u; Date.now() < end; i++) {
      const res = await fetch(`${env.c.url}/api/documents/smart_invoice/${ids[i % ids.length]}/pdf`, { headers: { 'X-Connector-Session': session } });
      const body = res.headers.get('content-type')?.startsWith('application/pdf') ? (await res.arrayBuffer(), undefined) : ((await res.json()) as { error: { code: string } }).error.code;
      answers.push({ status: res.status, code: body, retryAfter: res.headers.get('retry-after') });
    }
  }));
  return answers;
}

describe('pages cannot spend what the pushes need', () => {
  let xero: XeroEmulator;
  let env: Environment;
  let ids: number[] = [];
  let users: number[] = [];
  before(async () => {
    xero = await startXeroEmulator({ limits: { windowMs: WINDOW_MS } });
    env = await startEnvironment({ xero, xeroLimits: { windowMs: WINDOW_MS } });
    ids = await linkedInvoices(env, 12);
    users = [env.b24.addUser({ name: 'Lou', lastName: 'Looper' }), env.b24.addUser({ name: 'Ria', lastName: 'Reloader' }), env.b24.addUser({ name: 'Cy', lastName: 'Clicker' })];
  });
  after(async () => {
    await env.close();
    await xero.close();
  });

  it("when users loop the PDF links for a minute, then Xero sees at most the pages' few calls, the pushes keep their minute and day, and pushes right after meet no wait and no 429", async () => {
    await sleep(WINDOW_MS + 200); // the set-up's calls have left Xero's minute
    const gateway = env.c.services.gateways.for(env.connectionId);
    const budget = gateway.budget;
    const dayBefore = xero.usage(env.tenantId).day;
    xero.resetCounters();

    const answers = await loopPdfs(env, users, ids, WINDOW_MS);

    const pageCalls = xero.usage(env.tenantId).minute;
    const pagePerMinute = gateway.limitsKept.pagePerMinute!;
    assert.ok(pageCalls <= pagePerMinute, `Xero saw ${pageCalls} calls in the minute of the loop (${answers.length} PDF requests)`);
    assert.ok(answers.filter((a) => a.status === 200).length >= pageCalls, 'PDFs were served');
    const refused = answers.filter((a) => a.status === 429);
    assert.ok(refused.length > 0 && refused.every((a) => Number(a.retryAfter) >= 1), 'refusals say when to try again');
    assert.ok(refused.some((a) => a.code === 'XERO.PAGE_BUDGET'), `codes: ${[...new Set(refused.map((a) => a.code))].join(', ')}`);
    assert.equal(xero.counters.served429, 0, 'Xero itself never refused');
    // The pushes' share of the minute and of the day is whole.
    assert.ok(gateway.limitsKept.perMinute - gateway.windowUsed >= gateway.limitsKept.perMinute - pagePerMinute, `window ${gateway.windowUsed}`);
    assert.ok(xero.usage(env.tenantId).day - dayBefore <= budget.pageShare);
    assert.equal(budget.status().waiting.some((w) => w.spend === 'push'), false);

    // Pushes right away, in the same minute: they find the window free and go out at once.
    const admin = env.b24.actAs(1);
    const companyId = Number(admin.createCompany({ title: 'After Loop Ltd' }).id);
    for (let i = 0; i < 3; i++) {
      const inv = admin.createSmartInvoice({ title: `AFT-${i}`, accountNumber: `AFT-${i}`, companyId, currencyId: 'NZD' });
      admin.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Service', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    }
    const started = Date.now();
    await env.settle();
    assert.equal(xero.invoices(env.tenantId).filter((x) => String(x.Reference).startsWith('AFT-')).length, 3);
    assert.equal(xero.counters.served429, 0);
    assert.ok(Date.now() - started < WINDOW_MS, `the pushes waited ${Date.now() - started} ms for the minute`);
  });

  it('when the same PDF is asked again while its invoice is unchanged, then it comes from memory, and once Xero changed the invoice it is read again', async () => {
    await sleep(WINDOW_MS + 200);
    const session = sessionOf(env, env.b24.addUser({ name: 'Pat', lastName: 'Again' }));
    const pdf = () => fetch(`${env.c.url}/api/documents/smart_invoice/${ids[0]}/pdf`, { headers: { 'X-Connector-Session': session } });
    xero.resetCounters();
    for (let i = 0; i < 4; i++) assert.equal((await pdf()).status, 200);
    assert.ok(xero.counters.total <= 1, `Xero calls for four asks of one PDF: ${xero.counters.total}`);
    const link = (await env.c.store.links.find(env.memberId, 'smart_invoice', String(ids[0])))!;
    xero.approveInvoice(env.tenantId, link.xeroId);
    await env.c.services.pullStatuses.pollConnection(env.connectionId);
    xero.resetCounters();
    assert.equal((await pdf()).status, 200);
    assert.equal(xero.callCount('GET /Invoices/{id}'), 1, 'the changed invoice is read again');
  });

  it("when Xero's day is small, then pages stop at their share of it and the pushes' day stays whole", async () => {
    const small = await startXeroEmulator({ limits: { windowMs: 1000 } });
    const day = await startEnvironment({ xero: small, xeroLimits: { windowMs: 1000 }, env: { XERO_DAILY_LIMIT: '100' } });
    try {
      const linked = await linkedInvoices(day, 12);
      const people = [day.b24.addUser({ name: 'Dee', lastName: 'Daylong' }), day.b24.addUser({ name: 'Ed', lastName: 'Evening' })];
      const budget = day.c.services.gateways.for(day.connectionId).budget;
      const before = small.usage(day.tenantId).day;
      const answers = await loopPdfs(day, people, linked, 3500);
      const pageCalls = small.usage(day.tenantId).day - before;
      assert.equal(budget.pageShare, 5);
      assert.ok(pageCalls <= budget.pageShare, `pages made ${pageCalls} Xero calls of a day of 100`);
      assert.ok(answers.some((a) => a.code === 'XERO.PAGE_BUDGET'));
      assert.ok(budget.remaining() >= 100 - before - budget.pageShare);
      assert.equal(budget.allows('push'), true);
      assert.deepEqual(budget.status().waiting.map((w) => w.spend), ['page']);
    } finally {
      await day.close();
      await small.close();
    }
  });
});
