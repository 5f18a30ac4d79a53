import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEnvironment, type Environment } from '../helpers/env.js';

describe('the setup checklist\'s account step', () => {
  let env: Environment;
  let session: string;
  const accountStep = async () => {
    const res = await fetch(`${env.c.url}/api/setup`, { headers: { 'X-Connector-Session': session } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { checklist: { id: string; done: boolean; detail: string }[] };
    return body.checklist.find((i) => i.id === 'account')!;
  };

  before(async () => {
    env = await startEnvironment({ settings: { defaultSalesAccount: null } });
    // A second revenue account named "Sales": no default sales account is chosen automatically.
    env.xero.addAccount(env.tenantId, { Code: '201', Name: 'Sales', Type: 'REVENUE', TaxType: 'OUTPUT2' });
    await env.c.services.orgData.refresh(env.memberId);
    session = env.c.services.sessions.issue({ memberId: env.memberId, userId: 1, isAdmin: true, userName: 'Admin', authId: env.b24.frameAuth(1).AUTH_ID });
  });
  after(async () => env.close());

  it('when there is no default sales account and every product has a Xero sales account, then the account step is done', async () => {
    const user = env.b24.actAs(1);
    const iblockId = env.b24.productProperties()[0]?.iblockId ?? 23;
    const propertyId = (await env.c.store.settings.get<number>(env.memberId, 'b24.accountCodePropertyId'))!;
    const widget = user.createProduct({ iblockId, name: 'Widget', [`property${propertyId}`]: { value: '200' } });
    const gadget = user.createProduct({ iblockId, name: 'Gadget' });
    const waiting = await accountStep();
    assert.equal(waiting.done, false, 'a product without an account keeps the step open');

    user.updateProduct(Number(gadget.id), { [`property${propertyId}`]: { value: '201' } });
    assert.ok(widget.id);
    const step = await accountStep();
    assert.equal(step.done, true, step.detail);
    assert.match(step.detail, /Every product \(\d+\) has a Xero sales account/);
  });
});
