import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { startXeroEmulator } from '../emulators/xero/index.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { matchTaxRate, taxTable } from '../../app/sync/setup/tax-matching.js';
import { nzTaxRates } from '../emulators/xero/state.js';
import type { OrgTaxRate } from '../../app/xero/organisation.js';

type Row = Record<string, unknown>;

function invoice(env: Environment, number: string, rows: Row[]): number {
  const user = env.b24.actAs(2);
  const companyId = Number(user.createCompany({ title: `Customer ${number}` }).id);
  const id = Number(user.createSmartInvoice({ title: number, accountNumber: number, companyId, currencyId: 'NZD', begindate: '2026-11-20T00:00:00+00:00', closedate: '2026-12-20T00:00:00+00:00' }).id);
  user.setProductRows(SMART_INVOICE, id, rows);
  return id;
}

const inXero = (env: Environment, number: string) => env.xero.invoices(env.tenantId).filter((i) => i.Reference === number);
const jobOf = async (env: Environment, id: number) => await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`);

/** The NZ demo rates as the connector reads them (emulator seed, from the spec's example). */
const NZ: OrgTaxRate[] = nzTaxRates().map((r) => ({
  name: r.Name, taxType: r.TaxType, reportTaxType: r.ReportTaxType, effectiveRate: r.EffectiveRate, status: r.Status, canApplyToRevenue: r.CanApplyToRevenue,
}));

describe('tax rates matched by rate', () => {
  it('when the NZ demo rates are matched, then 15 % is OUTPUT2, 0 % ZERORATED and no VAT NONE, all automatic; 20 % needs a choice', () => {
    const table = taxTable(['15', '0', 'none', '20'], NZ, {});
    assert.deepEqual(table.map((t) => [t.key, t.state, t.taxType]), [['none', 'automatic', 'NONE'], ['0', 'automatic', 'ZERORATED'], ['15', 'automatic', 'OUTPUT2'], ['20', 'needs_choice', null]]);
    assert.match(table[3].reason!, /no active sales tax rate of 20 %/);
  });

  it('when the admin chose a rate that Xero deleted since, then it needs a choice again, saying why', () => {
    const rates = NZ.map((r) => (r.taxType === 'OUTPUT2' ? { ...r, status: 'DELETED' } : r));
    const m = matchTaxRate('15', rates, 'OUTPUT2');
    assert.equal(m.state, 'needs_choice');
    assert.match(m.reason!, /"15% GST on Income" \(OUTPUT2\) is deleted in Xero/);
  });
});

describe('a fresh install connected to the demo organisation', () => {
  let env: Environment;
  before(async () => { env = await startEnvironment({ fresh: true }); });
  after(async () => env.close());

  it('when a 15 %-VAT and a no-VAT invoice are created with no setting touched, then both reach Xero with OUTPUT2 and the Sales account', async () => {
    const vat = invoice(env, 'FR-1', [{ productName: 'Consulting hour', price: 115, quantity: 2, taxRate: 15, taxIncluded: 'Y' }]);
    const noVat = invoice(env, 'FR-2', [{ productName: 'Training day', price: 800, quantity: 1 }]);
    await env.settle();
    assert.equal(await jobOf(env, vat), undefined, JSON.stringify(await jobOf(env, vat)));
    assert.equal(await jobOf(env, noVat), undefined, JSON.stringify(await jobOf(env, noVat)));
    const [a] = inXero(env, 'FR-1');
    const [b] = inXero(env, 'FR-2');
    assert.deepEqual((a.LineItems as Row[]).map((l) => [l.AccountCode, l.TaxType]), [['200', 'OUTPUT2']]);
    assert.equal(a.Total, 230);
    assert.equal(b.LineAmountTypes, 'NoTax');
    assert.deepEqual((b.LineItems as Row[]).map((l) => [l.AccountCode, l.TaxType]), [['200', 'NONE']]);
  });
});

describe('an organisation with two 15 % revenue rates', () => {
  let env: Environment;
  before(async () => {
    const xero = await startXeroEmulator();
    const tenantId = xero.addOrganisation({ name: 'Two Rates Ltd' });
    xero.addTaxRate(tenantId, { Name: '15% GST on Exports', TaxType: 'OUTPUT3', EffectiveRate: 15 });
    env = await startEnvironment({ fresh: true, xero });
  });
  after(async () => { await env.close(); await env.xero.close(); });

  it('when a 15 % invoice is created, then it waits naming both candidates, and choosing one releases it', async () => {
    const id = invoice(env, 'TR-1', [{ productName: 'Consulting hour', price: 115, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    await env.settle();
    const job = (await jobOf(env, id))!;
    assert.equal(job.state, 'needs_attention');
    assert.equal(job.lastErrorCode, 'SYNC.UNKNOWN_TAX_RATE');
    assert.match(job.lastError!, /"15% GST on Income" \(OUTPUT2\)/);
    assert.match(job.lastError!, /"15% GST on Exports" \(OUTPUT3\)/);
    assert.equal(inXero(env, 'TR-1').length, 0);

    const session = env.c.services.sessions.issue({ memberId: env.memberId, userId: 1, isAdmin: true, userName: 'Admin', authId: env.b24.frameAuth(1).AUTH_ID });
    const res = await fetch(`${env.c.url}/api/settings`, { method: 'PUT', headers: { 'content-type': 'application/json', 'X-Connector-Session': session }, body: JSON.stringify({ taxRateMap: { '15': 'OUTPUT3' } }) });
    assert.equal(res.status, 200, await res.clone().text());
    await env.settle();
    const [x] = inXero(env, 'TR-1');
    assert.ok(x, JSON.stringify(await jobOf(env, id)));
    assert.equal((x.LineItems as Row[])[0].TaxType, 'OUTPUT3');
  });
});
