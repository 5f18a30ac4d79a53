// The realistic mix of the fault campaign: smart and classic invoices for several customers created in Bitrix24,
// then approvals and payments in Xero, and the end-state check (every document exactly once in Xero, every status
// back in Bitrix24, nothing lost, nothing stuck without a visible reason).
import assert from 'node:assert/strict';
import { SMART_INVOICE, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import type { XeroEmulator } from '../emulators/xero/index.js';
import type { Store } from '../../app/store/index.js';
import { shownXeroId } from '../../app/bitrix/write-back.js';
import type { Environment } from '../helpers/env.js';
import { everyEach, filterEach, mapEach } from '../../app/async-lists.js';

export interface MixDoc { number: string; b24Type: 'smart_invoice' | 'invoice'; b24Id: string }

/** `smart` smart invoices and `classic` classic invoices over `customers` companies, numbered `${prefix}-0001`…. */
export function createMix(b24: Bitrix24Emulator, prefix: string, counts: { smart: number; classic?: number; customers?: number }): MixDoc[] {
  const user = b24.actAs(2);
  const customers = counts.customers ?? 5;
  const companies = Array.from({ length: customers }, (_, i) => Number(user.createCompany({ title: `${prefix} Customer ${i + 1} Ltd` }).id));
  const docs: MixDoc[] = [];
  for (let i = 0; i < counts.smart; i++) {
    const number = `${prefix}-${String(i + 1).padStart(4, '0')}`;
    const inv = user.createSmartInvoice({ title: number, accountNumber: number, companyId: companies[i % customers], currencyId: 'NZD', closedate: '2026-12-31T00:00:00+00:00' });
    user.setProductRows(SMART_INVOICE, Number(inv.id), [
      { productName: 'Consulting hour', price: 115, quantity: 1 + (i % 3), taxRate: 15, taxIncluded: 'Y' },
      { productName: 'Travel', price: 23, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
    ]);
    docs.push({ number, b24Type: 'smart_invoice', b24Id: String(inv.id) });
  }
  for (let i = 0; i < (counts.classic ?? 0); i++) {
    const number = `${prefix}-C${String(i + 1).padStart(3, '0')}`;
    const inv = user.createClassicInvoice({
      ORDER_TOPIC: number, ACCOUNT_NUMBER: number, UF_COMPANY_ID: companies[i % customers], CURRENCY: 'NZD', PERSON_TYPE_ID: 1,
      DATE_BILL: '2026-11-20', DATE_PAY_BEFORE: '2026-12-20', STATUS_ID: 'N',
      PRODUCT_ROWS: [{ PRODUCT_ID: 0, PRODUCT_NAME: 'Design work', PRICE: 230, QUANTITY: 1, VAT_RATE: 0.15, VAT_INCLUDED: 'Y' }],
    });
    docs.push({ number, b24Type: 'invoice', b24Id: String(inv.ID ?? inv.id) });
  }
  return docs;
}

/** Live (not deleted/voided) Xero invoices by the Bitrix24 number they carry. */
function liveByNumber(xero: XeroEmulator, tenantId: string): Map<string, Record<string, unknown>[]> {
  const by = new Map<string, Record<string, unknown>[]>();
  for (const inv of xero.invoices(tenantId)) {
    if (inv.Status === 'DELETED' || inv.Status === 'VOIDED') continue;
    const key = String(inv.Reference ?? inv.InvoiceNumber);
    by.set(key, [...(by.get(key) ?? []), inv]);
  }
  return by;
}

/** Every document exactly once in Xero, linked in the store to that invoice. */
export async function assertExactlyOnce(xero: XeroEmulator, tenantId: string, store: Store, memberId: string, docs: MixDoc[]): Promise<void> {
  const by = liveByNumber(xero, tenantId);
  const missing = docs.filter((d) => !by.has(d.number)).map((d) => d.number);
  const duplicated = docs.filter((d) => (by.get(d.number)?.length ?? 0) > 1).map((d) => d.number);
  const unlinked = (await filterEach(docs, async (d) => by.get(d.number)?.length === 1 && (await store.links.find(memberId, d.b24Type, d.b24Id))?.xeroId !== by.get(d.number)![0]!.InvoiceID)).map((d) => d.number);
  assert.deepEqual({ missing, duplicated, unlinked }, { missing: [], duplicated: [], unlinked: [] });
}

/** Nothing stuck: no job running or due, and every job left waiting says why. */
export async function assertNothingStuck(store: Store): Promise<void> {
  const live = await store.jobs.list({ states: ['pending', 'running', 'paused', 'needs_attention'], limit: 10_000 });
  const silent = live.filter((j) => j.state !== 'pending' && !j.lastError);
  const running = live.filter((j) => j.state === 'running');
  assert.deepEqual({ running: running.map((j) => j.key), silent: silent.map((j) => j.key) }, { running: [], silent: [] });
}

/** Approves every other pushed invoice in Xero and pays every fourth in full; returns the paid documents. */
export async function approveAndPay(xero: XeroEmulator, tenantId: string, store: Store, memberId: string, docs: MixDoc[]): Promise<MixDoc[]> {
  const paid: MixDoc[] = [];
  await mapEach(docs, async (d, i) => {
    if (i % 2 !== 0) return;
    const link = (await store.links.find(memberId, d.b24Type, d.b24Id))!;
    xero.approveInvoice(tenantId, link.xeroId);
    if (i % 4 === 0) {
      const inv = xero.invoices(tenantId).find((x) => x.InvoiceID === link.xeroId)!;
      xero.addPayment(tenantId, link.xeroId, Number(inv.AmountDue));
      paid.push(d);
    }
  });
  return paid;
}

/** Every paid document has its status back: in Bitrix24 at its "paid" stage (smart: `…:P`, classic: `P`), PAID on the link. */
export async function assertPaidBack(b24: Bitrix24Emulator, store: Store, memberId: string, paid: MixDoc[]): Promise<void> {
  const stageOf = (d: MixDoc) => d.b24Type === 'smart_invoice'
    ? String(b24.items(SMART_INVOICE).find((x) => String(x.id) === d.b24Id)?.stageId)
    : String(b24.classicInvoices().find((x) => String(x.ID) === d.b24Id)?.STATUS_ID);
  const notBack = await mapEach(
    await filterEach(paid, async (d) => (await store.links.find(memberId, d.b24Type, d.b24Id))?.xeroStatus !== 'PAID' || !/(^|:)P$/.test(stageOf(d))),
    async (d) => `${d.number} (${stageOf(d)}, ${(await store.links.find(memberId, d.b24Type, d.b24Id))?.xeroStatus})`,
  );
  assert.deepEqual(notBack, [], 'statuses not back in Bitrix24');
}

/** Every document shows its Xero id in Bitrix24 (the write-back reached it), the one its link holds. */
export async function assertWrittenBack(b24: Bitrix24Emulator, store: Store, memberId: string, docs: MixDoc[]): Promise<void> {
  const raw = (d: MixDoc) => (d.b24Type === 'smart_invoice' ? b24.items(SMART_INVOICE).find((x) => String(x.id) === d.b24Id) : b24.classicInvoices().find((x) => String(x.ID) === d.b24Id)) ?? {};
  const notShown = (await filterEach(docs, async (d) => shownXeroId({ type: d.b24Type, fields: raw(d) }) !== (await store.links.find(memberId, d.b24Type, d.b24Id))?.xeroId)).map((d) => d.number);
  assert.deepEqual(notShown, [], 'Xero ids not written back to Bitrix24');
}

/** Makes every retry waiting for its back-off due now, as time would. */
export async function fastForward(store: Store): Promise<void> {
  await store.db.run(`UPDATE jobs SET run_at = 0 WHERE state = 'pending'`);
}

/** Works everything (retries made due at once) until the queue is empty or `rounds` pass. */
export async function settleAll(env: Environment, rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await env.settle();
    await fastForward(env.c.store);
    if ((await env.c.store.jobs.countByState()).pending === 0) return;
  }
}

/** Polls Xero until every paid document is back (each poll may meet faults). */
export async function pollUntil(env: Environment, done: () => Promise<boolean>, rounds = 20): Promise<void> {
  for (let i = 0; i < rounds && !(await done()); i++) {
    await env.c.services.pullStatuses.pollConnection(env.connectionId).catch(() => undefined);
    await settleAll(env, 5);
  }
}

/** True when every paid document of the mix has PAID on its link. */
export function paidBack(env: Environment, paid: MixDoc[]): Promise<boolean> {
  return everyEach(paid, async (d) => (await env.c.store.links.find(env.memberId, d.b24Type, d.b24Id))?.xeroStatus === 'PAID');
}

/** Waits until `check` holds (polling every `everyMs`); throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 5): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
