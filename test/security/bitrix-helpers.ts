/** Shared set-up of the Bitrix24 attack tests: a connector registered in an emulated portal, and raw form posts. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach } from 'node:test';
import { SMART_INVOICE, startBitrix24Emulator, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { startConnector, type TestConnector } from '../helpers/connector.js';

export const SCOPES = ['crm', 'catalog', 'placement', 'userfieldconfig', 'user_brief'];

/** The connector as the local application of `b24` (whose OAuth server is B24_OAUTH_URL). */
export async function connectorFor(b24: Bitrix24Emulator, xero: XeroEmulator, env: Record<string, string> = {}): Promise<TestConnector & { clientId: string; clientSecret: string }> {
  let creds = { clientId: '', clientSecret: '' };
  const c = await startConnector({
    xero,
    env,
    envFor: (url) => {
      creds = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install`, scopes: SCOPES });
      return { B24_CLIENT_ID: creds.clientId, B24_CLIENT_SECRET: creds.clientSecret, B24_OAUTH_URL: b24.baseUrl };
    },
  });
  return Object.assign(c, creds);
}

/** The same app registered on a second portal (`other`), pointing at the same connector. */
export function registerOn(other: Bitrix24Emulator, c: { url: string; clientId: string; clientSecret: string }): void {
  other.registerApp({ handlerUrl: `${c.url}/app`, installUrl: `${c.url}/install`, scopes: SCOPES, clientId: c.clientId, clientSecret: c.clientSecret });
}

export async function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
}

/** Now as Bitrix24 writes `ts` (unix seconds, a string). */
export const nowTs = (offsetSeconds = 0) => String(Math.floor(Date.now() / 1000) + offsetSeconds);

/** A host that records every request it gets (to show the connector never calls it). */
export async function startTrap(): Promise<{ host: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ result: { ID: '1', ADMIN: true, NAME: 'Trap' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** A salesperson's (user 2) smart invoice numbered `number`, with a company and one NZD product row; its id. */
export function salespersonInvoice(b24: Bitrix24Emulator, number: string): number {
  const user = b24.actAs(2);
  const companyId = Number(user.createCompany({ title: `Customer ${number}` }).id);
  const id = Number(user.createSmartInvoice({ title: number, accountNumber: number, companyId, currencyId: 'NZD' }).id);
  user.setProductRows(SMART_INVOICE, id, [{ productName: 'Hour', price: 115, quantity: 2, taxRate: 15, taxIncluded: 'Y' }]);
  return id;
}

/**
 * Both emulators for one suite (the portal reset before each test) and the connector a test starts (`bed.c`), closed
 * after it. Call inside `describe`.
 */
export function emulatorBed<C extends { close(): Promise<void> } = TestConnector & { clientId: string; clientSecret: string }>(): { b24: Bitrix24Emulator; xero: XeroEmulator; c: C } {
  const bed = {} as { b24: Bitrix24Emulator; xero: XeroEmulator; c: C };
  before(async () => {
    bed.b24 = await startBitrix24Emulator();
    bed.xero = await startXeroEmulator();
  });
  after(async () => {
    await bed.b24.close();
    await bed.xero.close();
  });
  beforeEach(() => bed.b24.reset());
  afterEach(async () => bed.c?.close());
  return bed;
}
