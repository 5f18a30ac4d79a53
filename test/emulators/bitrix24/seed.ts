/**
 * Demo data: companies with requisites, contacts, catalog products, smart invoices in both pipelines, quotes and
 * classic invoices. Writes go through the same operations as users' writes (so they raise events when an app is
 * installed). Values are invented demo data.
 */
import { Portal, CATALOG_IBLOCK_ID } from './portal.js';
import { SMART_INVOICE, QUOTE, COMPANY, CONTACT } from './model.js';

export function seedDemo(portal: Portal): void {
  const ctx = { userId: 1 };
  const companies = [
    { title: 'Northwind Traders Ltd', fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: 'accounts@northwind.example' }, { typeId: 'PHONE', valueType: 'WORK', value: '+44 20 7946 0001' }], currencyId: 'GBP' },
    { title: 'Contoso Pty Ltd', fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: 'billing@contoso.example' }], currencyId: 'AUD' },
    { title: 'Fabrikam Inc', fm: [], currencyId: 'USD' },
  ].map((f) => portal.createItem(COMPANY, f, ctx));
  const contacts = [
    { name: 'Alice', lastName: 'Smith', companyId: companies[0]!.data.id, fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: 'alice@northwind.example' }] },
    { name: 'Bob', lastName: 'Jones', companyId: companies[1]!.data.id, fm: [{ typeId: 'PHONE', valueType: 'MOBILE', value: '+61 400 000 000' }] },
    { name: 'Carol', lastName: 'White', fm: [{ typeId: 'EMAIL', valueType: 'HOME', value: 'carol@example.com' }] },
  ].map((f) => portal.createItem(CONTACT, f, ctx));
  // Requisites and addresses (crm.requisite.list / crm.address.list shapes: fixtures rest.crm.requisite.list/get, rest.crm.address.list).
  companies.forEach((c, i) => {
    const id = String(40 + i);
    portal.requisites.push({
      ID: id, ENTITY_TYPE_ID: '4', ENTITY_ID: String(c.data.id), PRESET_ID: '1', NAME: 'Organization', ACTIVE: 'Y',
      RQ_COMPANY_NAME: String(c.data.title), RQ_COMPANY_FULL_NAME: String(c.data.title), RQ_INN: '', RQ_VAT_ID: i === 0 ? 'GB123456789' : '', RQ_VAT_PAYER: i === 0 ? 'Y' : 'N',
      ADDRESSES: [{ TYPE_ID: '6', ENTITY_TYPE_ID: '8', ENTITY_ID: id, ADDRESS_1: `${i + 1} High Street`, ADDRESS_2: null, CITY: ['London', 'Sydney', 'Boston'][i], POSTAL_CODE: ['EC1A 1BB', '2000', '02108'][i], REGION: null, PROVINCE: null, COUNTRY: ['United Kingdom', 'Australia', 'United States'][i], COUNTRY_CODE: ['GB', 'AU', 'US'][i] }],
    });
  });
  const products = [
    { name: 'Consulting hour', purchasingPrice: '120.00', vatId: 4 },
    { name: 'Implementation package', purchasingPrice: '2500.00', vatId: 4 },
    { name: 'Support subscription (month)', purchasingPrice: '99.00', vatId: 3 },
    { name: 'Training day', purchasingPrice: '800.00', vatId: 1 },
  ].map((f) => portal.saveProduct(null, { iblockId: CATALOG_IBLOCK_ID, ...f }, ctx));
  const pid = (i: number) => products[i]!.fields.id;
  const inv1 = portal.createItem(SMART_INVOICE, { title: 'Website redesign', companyId: companies[0]!.data.id, contactId: contacts[0]!.data.id, contactIds: [contacts[0]!.data.id], currencyId: 'GBP' }, ctx);
  portal.setRows(SMART_INVOICE, inv1.data.id as number, [
    { productId: pid(0), productName: 'Consulting hour', price: 144, quantity: 10, taxRate: 20, taxIncluded: 'Y' },
    { productId: pid(1), productName: 'Implementation package', price: 3000, quantity: 1, taxRate: 20, taxIncluded: 'Y' },
  ], ctx);
  const inv2 = portal.createItem(SMART_INVOICE, { title: 'Support Q3', companyId: companies[1]!.data.id, currencyId: 'AUD', stageId: 'DT31_2:S' }, ctx);
  portal.setRows(SMART_INVOICE, inv2.data.id as number, [{ productId: pid(2), productName: 'Support subscription (month)', price: 108.9, quantity: 3, taxRate: 10, taxIncluded: 'Y' }], ctx);
  const inv3 = portal.createItem(SMART_INVOICE, { title: 'Export order', categoryId: 5, companyId: companies[2]!.data.id, currencyId: 'USD' }, ctx);
  portal.setRows(SMART_INVOICE, inv3.data.id as number, [{ productName: 'Freight (free-text row)', price: 250, quantity: 1, taxRate: null, taxIncluded: 'N' }], ctx);
  const q1 = portal.createItem(QUOTE, { title: 'Estimate for training', companyId: companies[0]!.data.id, currencyId: 'GBP' }, ctx);
  portal.setRows(QUOTE, q1.data.id as number, [{ productId: pid(3), productName: 'Training day', price: 800, quantity: 2, taxRate: null, taxIncluded: 'N' }], ctx);
  portal.createItem(QUOTE, { title: 'Estimate for consulting', companyId: companies[1]!.data.id, currencyId: 'AUD', stageId: 'SENT' }, ctx);
  portal.saveClassicInvoice(null, {
    ORDER_TOPIC: 'Legacy invoice: hosting', UF_COMPANY_ID: String(companies[0]!.data.id), CURRENCY: 'GBP',
    PRODUCT_ROWS: [{ PRODUCT_ID: pid(2), PRODUCT_NAME: 'Support subscription (month)', PRICE: 118.8, QUANTITY: 1, VAT_RATE: 0.2, VAT_INCLUDED: 'Y' }],
  }, ctx);
  portal.saveClassicInvoice(null, {
    ORDER_TOPIC: 'Legacy invoice: workshop', UF_CONTACT_ID: String(contacts[2]!.data.id), CURRENCY: 'USD', STATUS_ID: 'S',
    PRODUCT_ROWS: [{ PRODUCT_ID: pid(3), PRODUCT_NAME: 'Training day', PRICE: 800, QUANTITY: 1, VAT_RATE: 0, VAT_INCLUDED: 'N' }],
  }, ctx);
}
