/**
 * The log tells what changed in the organisation's settings: reading Xero's lists again and finding them the same
 * leaves no new line (a month of daily reads would otherwise bury the real entries), a change does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEnvironment, type Environment } from '../helpers/env.js';

describe("the organisation's settings in the log", () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment();
  });
  after(async () => env.close());

  const lines = async () => (await env.c.store.activity.list({ memberId: env.memberId, limit: 500 })).filter((a) => a.kind === 'xero.org_data');

  it('when the settings are read again unchanged, then no line is added; when Xero gains an account, then one line tells it', async () => {
    await env.c.services.orgData.refresh(env.memberId);
    const first = (await lines()).length;
    assert.ok(first >= 1, 'the first read is logged');
    for (let i = 0; i < 3; i++) await env.c.services.orgData.refresh(env.memberId);
    assert.equal((await lines()).length, first, 'unchanged reads leave no line');
    env.xero.addAccount(env.tenantId, { Code: '4990', Name: 'Workshop fees', Type: 'REVENUE', TaxType: 'OUTPUT2' });
    await env.c.services.orgData.refresh(env.memberId);
    assert.equal((await lines()).length, first + 1);
    assert.match((await lines())[0]!.message, /accounts/);
  });
});
