import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import { ufCamelName } from '../emulators/bitrix24/model.js';
import { startEnvironment, type Environment } from '../helpers/env.js';
import { updatePortalSettings } from '../../app/sync/settings.js';

type Row = Record<string, unknown>;

describe('invoice settings applied when invoices are sent', () => {
  let env: Environment;
  let region: { id: string; name: string; options: { id: string; name: string }[] };
  let n = 0;
  /** The field as crm.item.get names it (camelCase). */
  const field = ufCamelName('UF_CRM_SMART_INVOICE_REGION');

  /** A salesperson's smart invoice with two rows and the given fields. */
  function createInvoice(fields: Row = {}) {
    n += 1;
    const number = `INV-91${String(n).padStart(2, '0')}`;
    const user = env.b24.actAs(2);
    const companyId = Number(user.createCompany({ title: `Customer ${number}` }).id);
    const id = Number(user.createSmartInvoice({ title: `Fit-out ${number}`, accountNumber: number, companyId, currencyId: 'NZD', ...fields }).id);
    user.setProductRows(SMART_INVOICE, id, [
      { productName: 'Consulting hour', price: 115, quantity: 2, taxRate: 15, taxIncluded: 'Y' },
      { productName: 'Travel', price: 57.5, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
    ]);
    return { id, number };
  }
  const xeroInvoiceOf = async (id: number) => {
    const link = await env.c.store.links.find(env.memberId, 'smart_invoice', String(id));
    return env.xero.invoices(env.tenantId).find((i) => i.InvoiceID === link?.xeroId);
  };
  const reset = async () => await updatePortalSettings(env.c.store, env.memberId, { reference: 'number', brandingThemeId: null, tracking: null });

  before(async () => {
    env = await startEnvironment();
    // The admin added a "Region" list field to smart invoices in Bitrix24.
    await (await env.c.services.portals.for(env.memberId)).call('userfieldconfig.add', { moduleId: 'crm', field: { entityId: 'CRM_SMART_INVOICE', fieldName: 'UF_CRM_SMART_INVOICE_REGION', userTypeId: 'string', editFormLabel: { en: 'Region' } } });
    await env.c.services.orgData.refresh(env.memberId);
    region = (await env.c.services.orgData.cached(env.memberId))!.trackingCategories.find((c) => c.name === 'Region')!;
  });
  after(async () => env.close());

  it('when the reference setting is "title", then the Xero invoice\'s Reference is the Bitrix24 title', async () => {
    await updatePortalSettings(env.c.store, env.memberId, { reference: 'title' });
    const { id, number } = createInvoice();
    await env.settle();
    const x = await xeroInvoiceOf(id);
    assert.ok(x, JSON.stringify(await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`)));
    assert.equal(x.Reference, `Fit-out ${number}`);
    await reset();
  });

  it('when a branding theme is chosen, then the Xero invoice carries its BrandingThemeID', async () => {
    const theme = (await env.c.services.orgData.cached(env.memberId))!.brandingThemes[0];
    await updatePortalSettings(env.c.store, env.memberId, { brandingThemeId: theme.id });
    const { id } = createInvoice();
    await env.settle();
    assert.equal((await xeroInvoiceOf(id))?.BrandingThemeID, theme.id);
    await reset();
  });

  it('when a tracking category is filled from a Bitrix24 field, then every line carries the category and the field\'s value as its option', async () => {
    await updatePortalSettings(env.c.store, env.memberId, { tracking: { categoryId: region.id, field } });
    const { id } = createInvoice({ [field]: 'North' });
    await env.settle();
    const x = await xeroInvoiceOf(id);
    assert.ok(x, JSON.stringify(await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`)));
    const lines = x.LineItems as Row[];
    assert.equal(lines.length, 2);
    for (const l of lines) {
      const [t] = l.Tracking as Row[];
      assert.equal(t.TrackingCategoryID, region.id);
      assert.equal(t.Name, 'Region');
      assert.equal(t.Option, 'North');
    }
    await reset();
  });

  it('when the tracking field is a Bitrix24 list, then the option is named by the chosen item\'s label, not its id', async () => {
    const added = await (await env.c.services.portals.for(env.memberId)).call<{ field: { enum: { id: string; value: string }[] } }>('userfieldconfig.add', {
      moduleId: 'crm',
      field: { entityId: 'CRM_SMART_INVOICE', fieldName: 'UF_CRM_SMART_INVOICE_ZONE', userTypeId: 'enumeration', editFormLabel: { en: 'Zone' }, enum: [{ value: 'North' }, { value: 'South' }] },
    });
    const south = added.field.enum.find((o) => o.value === 'South')!;
    const zone = ufCamelName('UF_CRM_SMART_INVOICE_ZONE');
    await updatePortalSettings(env.c.store, env.memberId, { tracking: { categoryId: region.id, field: zone } });
    const { id } = createInvoice({ [zone]: Number(south.id) });
    await env.settle();
    const x = await xeroInvoiceOf(id);
    assert.ok(x, JSON.stringify(await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`)));
    for (const l of x.LineItems as Row[]) assert.equal((l.Tracking as Row[])[0].Option, 'South');
    await reset();
  });

  it('when the field\'s value is no option of the tracking category, then the invoice waits with a message naming the value and the category', async () => {
    await updatePortalSettings(env.c.store, env.memberId, { tracking: { categoryId: region.id, field } });
    const { id } = createInvoice({ [field]: 'Atlantis' });
    await env.settle();
    const job = (await env.c.store.jobs.findLive(`push:${env.memberId}:smart_invoice:${id}`))!;
    assert.equal(job.state, 'needs_attention');
    assert.equal(job.lastErrorCode, 'SYNC.UNKNOWN_TRACKING_OPTION');
    assert.match(job.lastError!, /"Atlantis"/);
    assert.match(job.lastError!, /"Region"/);
    assert.equal(await xeroInvoiceOf(id), undefined);
    await reset();
  });
});
