// A restart of the connector inside a busy Xero minute, for the test and the benchmark: invoices waiting in the
// portal, most of Xero's minute spent by a first connector, a second one on its store that starts work at once.
import { SMART_INVOICE } from '../emulators/bitrix24/index.js';
import type { XeroEmulator } from '../emulators/xero/index.js';
import type { XeroLimits } from '../../app/xero/gateway.js';
import { startConnector, type TestConnector } from './connector.js';
import type { Environment } from './env.js';

/** `count` invoices for `customers` new companies in the portal; no event reaches the connector. Their numbers. */
export function waitingInvoices(env: Environment, prefix: string, count: number, customers: number): string[] {
  env.b24.setEventDelivery(false);
  const user = env.b24.actAs(2);
  const companies = Array.from({ length: customers }, (_, i) => Number(user.createCompany({ title: `${prefix} Customer ${i + 1} Ltd` }).id));
  return Array.from({ length: count }, (_, i) => {
    const number = `${prefix}-${String(i + 1).padStart(3, '0')}`;
    const inv = user.createSmartInvoice({ title: number, accountNumber: number, companyId: companies[i % customers], currencyId: 'NZD' });
    user.setProductRows(SMART_INVOICE, Number(inv.id), [{ productName: 'Service', price: 100 + i, quantity: 1, taxRate: 15, taxIncluded: 'Y' }]);
    return number;
  });
}

/** One cheap Xero call through the first connector's gateway. */
export const readOrganisation = (env: Environment) =>
  env.c.services.gateways.for(env.connectionId).call('reading the organisation', (s) =>
    // https://developer.xero.com/documentation/api/accounting/organisation
    s.xero.accountingApi.getOrganisations(s.tenantId),
  );

/** The first connector's calls until its minute holds `calls` (the organisation read, in parallel). */
export async function spendMinute(env: Environment, calls: number): Promise<void> {
  const gateway = env.c.services.gateways.for(env.connectionId);
  await Promise.all(Array.from({ length: Math.max(0, calls - gateway.windowUsed) }, () => readOrganisation(env)));
}

/**
 * `count` more calls sent while Xero holds their answers, then the first connector "dies": its store is closed
 * before any of them is answered, so nothing it learns afterwards is kept.
 */
export async function dieWithCallsOnTheWire(env: Environment, xero: XeroEmulator, count: number): Promise<void> {
  xero.setFaults({ latencyMs: 3000 });
  const counted = xero.usage(env.tenantId).minute;
  for (let i = 0; i < count; i++) void readOrganisation(env).catch(() => undefined);
  for (let i = 0; i < 150 && xero.usage(env.tenantId).minute < counted + count; i++) await new Promise((r) => setTimeout(r, 20));
  if (xero.usage(env.tenantId).minute !== counted + count) throw new Error('the calls did not reach Xero');
  await env.c.store.close();
  xero.setFaults({});
}

/** A second connector on the first one's store, as a restart brings it up. */
export function restartOn(env: Environment, xero: XeroEmulator, xeroLimits: Partial<XeroLimits>): Promise<TestConnector> {
  const b = env.c.config.bitrix;
  return startConnector({
    xero, dataDir: env.c.config.dataDir, xeroLimits,
    env: { B24_CLIENT_ID: b.clientId!, B24_CLIENT_SECRET: b.clientSecret!, B24_OAUTH_URL: b.oauthUrl },
  });
}

/**
 * What a started connector does at once: its status poll of the organisation beside the reconciliation sweep's
 * pushes, until `linked` links exist (every invoice and customer).
 */
export async function startsWork(c: TestConnector, env: Environment, linked: number): Promise<void> {
  await c.services.intakeSchedule.queue('reconcile');
  const poll = c.services.statusPoll.tick();
  for (let i = 0; i < 20 && (await c.store.links.count(env.memberId)) < linked; i++) await c.services.outbox.drain();
  await poll;
}
