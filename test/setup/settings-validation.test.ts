import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { useSkipAheadClock } from '../helpers/clock.js';
import { startEnvironment, type Environment } from '../helpers/env.js';

// Each check reads Xero's lists again: waits for Xero's minute move the clock instead of sleeping.
useSkipAheadClock();

describe('settings checked on the server against the live lists', () => {
  let env: Environment;
  let adminSession: string;
  let userSession: string;
  const put = (body: unknown, session = adminSession) =>
    fetch(`${env.c.url}/api/settings`, { method: 'PUT', headers: { 'content-type': 'application/json', 'X-Connector-Session': session }, body: JSON.stringify(body) });
  const messageOf = async (res: Response) => ((await res.json()) as { error: { message: string } }).error.message;
  const saved = async () => await env.c.store.settings.get<Record<string, unknown>>(env.memberId, 'sync') ?? {};

  before(async () => {
    env = await startEnvironment({ fresh: true });
    adminSession = env.c.services.sessions.issue({ memberId: env.memberId, userId: 1, isAdmin: true, userName: 'Admin', authId: env.b24.frameAuth(1).AUTH_ID });
    userSession = env.c.services.sessions.issue({ memberId: env.memberId, userId: 2, isAdmin: false, userName: 'Mary', authId: env.b24.frameAuth(2).AUTH_ID });
  });
  after(async () => env.close());

  it('when a non-admin changes a setting, then it is refused and nothing is saved', async () => {
    const res = await put({ defaultSalesAccount: '260' }, userSession);
    assert.equal(res.status, 403);
    assert.equal((await saved()).defaultSalesAccount, undefined);
    const refresh = await fetch(`${env.c.url}/api/org-data/refresh`, { method: 'POST', headers: { 'X-Connector-Session': userSession } });
    assert.equal(refresh.status, 403);
  });

  it('when the default sales account is archived in Xero since the lists were read, then it is refused naming the account', async () => {
    env.xero.setAccountStatus(env.tenantId, '260', 'ARCHIVED');
    const res = await put({ defaultSalesAccount: '260' });
    assert.equal(res.status, 400);
    assert.match(await messageOf(res), /defaultSalesAccount: The Xero account 260 "Other Revenue" is archived in Xero/);
    assert.equal((await saved()).defaultSalesAccount, undefined);
    env.xero.setAccountStatus(env.tenantId, '260', 'ACTIVE');
  });

  it('when an account is not a revenue account or does not exist, then it is refused saying so', async () => {
    assert.match(await messageOf(await put({ defaultSalesAccount: '090' })), /090 "Business Bank Account" is not a revenue account/);
    assert.match(await messageOf(await put({ defaultSalesAccount: '999' })), /Xero has no account 999/);
  });

  it('when a chosen tax rate was deleted in Xero, or is for purchases only, then it is refused with the reason', async () => {
    env.xero.addTaxRate(env.tenantId, { Name: 'Old 12.5% GST', TaxType: 'OUTPUT', EffectiveRate: 12.5 });
    env.xero.setTaxRateStatus(env.tenantId, 'OUTPUT', 'DELETED');
    assert.match(await messageOf(await put({ taxRateMap: { '12.5': 'OUTPUT' } })), /"Old 12.5% GST" \(OUTPUT\) is deleted in Xero/);
    assert.match(await messageOf(await put({ taxRateMap: { '15': 'INPUT2' } })), /"15% GST on Expenses" \(INPUT2\) cannot be used on sales/);
    assert.equal((await saved()).taxRateMap, undefined);
  });

  it('when a branding theme, tracking category or stage is unknown, then each is named', async () => {
    const msg = await messageOf(await put({ brandingThemeId: '0f0f0f0f-0000-4000-8000-000000000000', tracking: { categoryId: 'nope', field: 'ufCrm_Region' }, approveStages: { 'smart_invoice:2': 'DT31_2:NOPE' } }));
    assert.match(msg, /brandingThemeId: Xero has no branding theme 0f0f0f0f-0000-4000-8000-000000000000/);
    assert.match(msg, /tracking.categoryId: Xero has no tracking category nope/);
    assert.match(msg, /approveStages.smart_invoice:2: DT31_2:NOPE is not a stage of the pipeline smart_invoice:2/);
  });

  it('when an admin picks values Xero knows, then they are saved and shown as chosen', async () => {
    const theme = env.xero.brandingThemes(env.tenantId)[1];
    const res = await put({ defaultSalesAccount: '260', taxRateMap: { '15': 'OUTPUT2' }, brandingThemeId: theme.BrandingThemeID, documentNumbering: 'bitrix24' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await saved()).brandingThemeId, theme.BrandingThemeID);
    const overview = (await (await fetch(`${env.c.url}/api/setup`, { headers: { 'X-Connector-Session': userSession } })).json()) as { taxes: { key: string; state: string }[]; account: { state: string; code: string } };
    assert.deepEqual(overview.account && [overview.account.state, overview.account.code], ['chosen', '260']);
    assert.equal(overview.taxes.find((t) => t.key === '15')?.state, 'chosen');
    assert.equal(overview.taxes.find((t) => t.key === '0')?.state, 'automatic');
  });
});
