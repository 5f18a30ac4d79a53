// A connector installed in the Bitrix24 emulator and connected to the Xero emulator, for the status-pull tests:
// real b24jssdk and xero-node against both emulators, documents linked directly in the store.
import { after } from 'node:test';
import { startBitrix24Emulator, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { startConnector, type TestConnector } from '../helpers/connector.js';
import type { B24Type } from '../../app/store/links.js';

export interface StatusBed {
  b24: Bitrix24Emulator;
  xero: XeroEmulator;
  c: TestConnector;
  memberId: string;
  tenantId: string;
  connectionId: number;
  contactId: string;
}

/** Starts both emulators and the connector, installs the app, connects Xero. Closed by the caller's `after`. */
export async function statusBed(): Promise<StatusBed> {
  const b24 = await startBitrix24Emulator();
  const xero = await startXeroEmulator({ seedDemo: true, webhookKey: 'webhook-key-for-status-tests-0123456789' });
  const c = await startConnector({
    xero,
    envFor: (url) => {
      const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install`, scopes: ['crm', 'catalog', 'placement', 'userfieldconfig', 'user_brief'] });
      return { B24_CLIENT_ID: app.clientId, B24_CLIENT_SECRET: app.clientSecret, B24_OAUTH_URL: b24.baseUrl };
    },
  });
  after(async () => {
    await c.close();
    await b24.close();
    await xero.close();
  });
  const installed = await b24.install({ userId: 1 });
  if (installed.status !== 200) throw new Error(`install failed: ${installed.status} ${installed.body}`);
  b24.finishInstall();
  await c.services.outbox.drain();
  const tenantId = xero.tenants()[0]!.tenantId;
  const tokens = xero.issueTokens([tenantId]);
  const connection = await c.store.connections.upsert({
    memberId: b24.memberId, tenantId, tenantName: 'Demo Company (NZ)', tenantType: 'ORGANISATION', xeroConnectionId: null,
    grantType: 'authorization_code', accessToken: tokens.access_token, refreshToken: tokens.refresh_token,
    expiresAt: Math.floor(Date.now() / 1000) + tokens.expires_in, scope: null,
  });
  const contactId = String(xero.contacts(tenantId)[0]!.ContactID);
  return { b24, xero, c, memberId: b24.memberId, tenantId, connectionId: connection.id, contactId };
}

/** An approved ACCREC invoice of NZD 1,150.00 (1,000.00 + 15 % GST) in the Xero emulator. */
export function seedXeroInvoice(bed: StatusBed, status: 'DRAFT' | 'AUTHORISED' = 'AUTHORISED'): { id: string; number: string } {
  const inv = bed.xero.seedInvoice(bed.tenantId, {
    Contact: { ContactID: bed.contactId }, Date: '2026-01-10', DueDate: '2026-02-10', Status: status, LineAmountTypes: 'Exclusive',
    LineItems: [{ Description: 'Consulting', Quantity: 1, UnitAmount: 1000, AccountCode: '200', TaxType: 'OUTPUT2' }],
  });
  return { id: String(inv.InvoiceID), number: String(inv.InvoiceNumber) };
}

/** Links a Bitrix24 document to a Xero invoice or quote directly in the store, as the push would have. */
export async function link(bed: StatusBed, b24Type: B24Type, b24Id: number | string, xeroId: string, xeroNumber: string, xeroStatus: string): Promise<void> {
  await bed.c.store.links.save({
    memberId: bed.memberId, connectionId: bed.connectionId, b24Type, b24Id: String(b24Id), xeroType: b24Type === 'quote' ? 'quote' : 'invoice',
    xeroId, xeroNumber, contentHash: null, xeroStatus, xeroUpdatedAt: null,
  });
}

/** A smart invoice in the Bitrix24 emulator (pipeline 2 unless told), linked to a fresh approved Xero invoice. */
export async function linkedSmartInvoice(bed: StatusBed, opts: { categoryId?: number; xeroStatus?: 'DRAFT' | 'AUTHORISED' } = {}) {
  const item = bed.b24.actAs(1).createSmartInvoice({ title: 'Consulting', ...(opts.categoryId !== undefined ? { categoryId: opts.categoryId } : {}) });
  const x = seedXeroInvoice(bed, opts.xeroStatus ?? 'AUTHORISED');
  await link(bed, 'smart_invoice', Number(item.id), x.id, x.number, opts.xeroStatus ?? 'AUTHORISED');
  return { b24Id: Number(item.id), xeroId: x.id, number: x.number };
}

/** A classic invoice linked to a fresh approved Xero invoice. */
export async function linkedClassicInvoice(bed: StatusBed) {
  const inv = bed.b24.actAs(1).createClassicInvoice({ ORDER_TOPIC: 'Hosting', CURRENCY: 'NZD' });
  const x = seedXeroInvoice(bed);
  await link(bed, 'invoice', Number(inv.ID), x.id, x.number, 'AUTHORISED');
  return { b24Id: Number(inv.ID), xeroId: x.id, number: x.number };
}

export function smartInvoice(bed: StatusBed, id: number): Record<string, unknown> {
  return bed.b24.items(31).find((i) => Number(i.id) === id)!;
}

export function classicInvoice(bed: StatusBed, id: number): Record<string, unknown> {
  return bed.b24.classicInvoices().find((i) => Number(i.ID) === id)!;
}

export const poll = (bed: StatusBed) => bed.c.services.pullStatuses.pollConnection(bed.connectionId);
