/**
 * `npm run demo`: the connector with a Bitrix24 portal and a Xero organisation to click through, on this machine.
 *
 * Without real credentials it starts the Bitrix24 and Xero emulators (test/emulators/), seeds a plausible company,
 * starts the real connector (app/main.ts `start()`), registers and installs it in the emulated portal as Bitrix24
 * would, connects Xero through the connector's own consent flow and creates a few documents that sync. No sync setting
 * is touched: the tax rates and the sales account are matched automatically, as for a new user. Then it prints the portal's URLs. Ctrl+C (SIGINT) or SIGTERM stops everything.
 *
 * With `B24_CLIENT_ID` and `XERO_CLIENT_ID` set it only starts the connector, like `npm start`.
 *
 * Output lines meant for people and scripts: `Portal: <url>`, `Portal (non-admin): <url>`, `Xero: <url>`,
 * `Connector: <url>`, and finally `Demo ready.`.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { ConfigError } from '../app/config.js';
import { start, SHUTDOWN_DEADLINE_MS, type Runtime } from '../app/main.js';
import { StoreError } from '../app/store/index.js';
import { startBitrix24Emulator, SMART_INVOICE, QUOTE, type Bitrix24Emulator } from '../test/emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../test/emulators/xero/index.js';
import { seedDemoHistory } from './demo-history.js';
import { consentAndConfirm } from '../test/helpers/xero-consent.js';

/** Scopes of the local application (install.json). */
const SCOPES = ['crm', 'catalog', 'placement', 'userfieldconfig', 'user_brief'];

class DemoError extends Error {}

const say = (line: string) => process.stdout.write(`${line}\n`);

/** A free TCP port: `wanted` if it can be bound, otherwise (when `fallback`) any free one. */
async function freePort(wanted: number, fallback: boolean): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | null>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(null));
      probe.listen(port, () => {
        const got = (probe.address() as { port: number }).port;
        probe.close(() => resolve(got));
      });
    });
  const got = await tryPort(wanted);
  if (got !== null) return got;
  if (!fallback) throw new DemoError(`PORT ${wanted} is already in use; stop the other process or choose another PORT`);
  say(`Port ${wanted} is taken; using a free port instead.`);
  const any = await tryPort(0);
  if (any === null) throw new DemoError('No free TCP port was found.');
  return any;
}

async function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form), redirect: 'manual' });
}

/** Opens the app page as `userId` would (the portal's POST) and returns the page's signed session. */
async function pageSession(connectorUrl: string, b24: Bitrix24Emulator, userId: number): Promise<string> {
  const res = await postForm(`${connectorUrl}/app`, b24.frameAuth(userId));
  const html = await res.text();
  const m = /data-session="([^"]+)"/.exec(html);
  if (res.status !== 200 || !m) throw new DemoError(`The app page did not open in the portal (HTTP ${res.status}).`);
  return m[1]!;
}

async function api(connectorUrl: string, session: string, method: string, p: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${connectorUrl}${p}`, {
    method,
    headers: { 'X-Connector-Session': session, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new DemoError(`${method} ${p} failed (HTTP ${res.status}): ${JSON.stringify(json)}`);
  return json;
}

/**
 * "Connect Xero" as the admin's browser does it: the connector's start URL (binding cookie), the emulator's
 * auto-approval, the callback's confirmation page naming organisation and portal, and the confirmation.
 */
async function connectXero(connectorUrl: string, session: string): Promise<void> {
  const { startUrl } = (await api(connectorUrl, session, 'POST', '/api/xero/connect')) as { startUrl: string };
  try {
    await consentAndConfirm(connectorUrl, startUrl);
  } catch (err) {
    throw new DemoError(`The connector did not accept Xero's answer: ${(err as Error).message}`);
  }
}

/** Demo data beyond the emulators' seeds: NZ documents that sync, with 15 % GST and without VAT. */
function seedSyncingDocuments(b24: Bitrix24Emulator): void {
  const admin = b24.actAs(1);
  const products = b24.products();
  const company = admin.createCompany({
    title: 'Ridgeway University',
    currencyId: 'NZD',
    fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: 'accounts@ridgeway.example' }],
  });
  const contact = admin.createContact({ name: 'Hemi', lastName: 'Walker', companyId: company.id, fm: [{ typeId: 'EMAIL', valueType: 'WORK', value: 'hemi@ridgeway.example' }] });
  const productId = (name: string) => Number(products.find((p) => p.name === name)?.id);
  const invoice = admin.createSmartInvoice({ title: 'Campus Wi-Fi rollout', companyId: company.id, contactId: contact.id, contactIds: [contact.id], currencyId: 'NZD' });
  admin.setProductRows(SMART_INVOICE, Number(invoice.id), [
    { productId: productId('Consulting hour'), productName: 'Consulting hour', price: 138, quantity: 12, taxRate: 15, taxIncluded: 'Y' },
    { productId: productId('Implementation package'), productName: 'Implementation package', price: 2875, quantity: 1, taxRate: 15, taxIncluded: 'Y' },
  ]);
  const noVat = admin.createSmartInvoice({ title: 'Guest lecture', companyId: company.id, currencyId: 'NZD' });
  admin.setProductRows(SMART_INVOICE, Number(noVat.id), [{ productName: 'Guest lecture', price: 450, quantity: 1 }]);
  const quote = admin.createQuote({ title: 'Staff training, term 1', companyId: company.id, currencyId: 'NZD' });
  admin.setProductRows(QUOTE, Number(quote.id), [
    { productId: productId('Training day'), productName: 'Training day', price: 800, quantity: 3, taxRate: 15, taxIncluded: 'N' },
  ]);
  admin.createClassicInvoice({
    ORDER_TOPIC: 'Support, February', UF_COMPANY_ID: String(company.id), CURRENCY: 'NZD',
    PRODUCT_ROWS: [{ PRODUCT_ID: productId('Support subscription (month)'), PRODUCT_NAME: 'Support subscription (month)', PRICE: 99, QUANTITY: 1, VAT_RATE: 0.15, VAT_INCLUDED: 'N' }],
  });
}

interface Running {
  runtime?: Runtime;
  b24?: Bitrix24Emulator;
  xero?: XeroEmulator;
}

async function stopAll(r: Running): Promise<void> {
  await r.runtime?.stop();
  await r.b24?.close();
  await r.xero?.close();
}

async function startDemo(r: Running): Promise<void> {
  const env = process.env;
  if (env.B24_CLIENT_ID && env.XERO_CLIENT_ID) {
    say('B24_CLIENT_ID and XERO_CLIENT_ID are set: starting the connector against the configured Bitrix24 and Xero.');
    r.runtime = await start({ env });
    say(`Connector: ${r.runtime.url} (public URL ${r.runtime.config.publicUrl})`);
    say('Open the app from the Applications menu of your Bitrix24 portal. Press Ctrl+C to stop.');
    return;
  }

  const dataDirSet = !!env.DATA_DIR;
  const dataDir = env.DATA_DIR ?? path.join('data', 'demo');
  // The emulators live in memory: a connector database from an earlier demo run would point at portals that are gone.
  if (!dataDirSet) rmSync(dataDir, { recursive: true, force: true });

  r.xero = await startXeroEmulator({ seedDemo: true, specCheck: false });
  r.b24 = await startBitrix24Emulator({ seedDemo: true });
  const { xero, b24 } = r;
  const tenant = xero.tenants()[0]!;

  const port = await freePort(env.PORT === undefined ? 3000 : Number.parseInt(env.PORT, 10), env.PORT === undefined || env.PORT === '0');
  const url = `http://127.0.0.1:${port}`;
  const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install`, scopes: SCOPES });
  r.runtime = await start({
    env: {
      ...env,
      PORT: String(port),
      PUBLIC_URL: url,
      DATA_DIR: dataDir,
      LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
      B24_CLIENT_ID: app.clientId,
      B24_CLIENT_SECRET: app.clientSecret,
      B24_OAUTH_URL: b24.baseUrl,
      // The emulated portal listens on plain http on loopback; production never sets this.
      ALLOW_INSECURE_LOOPBACK: '1',
      XERO_CLIENT_ID: xero.clientId,
      XERO_CLIENT_SECRET: xero.clientSecret,
      XERO_GRANT_TYPE: 'authorization_code',
      XERO_WEBHOOK_KEY: xero.webhookKey,
      XERO_API_URL: xero.baseUrl,
      XERO_IDENTITY_URL: xero.baseUrl,
      XERO_LOGIN_URL: xero.baseUrl,
    },
  });
  xero.configureWebhook({ url: `${url}/xero/webhooks` });

  // Install as Bitrix24 does: the installer POST, then BX24.installFinish().
  const installed = await b24.install({ userId: 1 });
  if (installed.status !== 200) throw new DemoError(`The connector refused the installation (HTTP ${installed.status}).`);
  b24.finishInstall();

  const session = await pageSession(url, b24, 1);
  await connectXero(url, session);

  seedSyncingDocuments(b24);
  await b24.flushEvents();
  const memberId = b24.memberId;
  const store = r.runtime.store;
  const history = seedDemoHistory(store, memberId, b24.items(SMART_INVOICE).map((i) => Number(i.id)));

  say('');
  say('Bitrix24 ⇄ Xero demo');
  say(`  Company: a Bitrix24 portal with customers, products and invoices; Xero organisation "${tenant.tenantName}", connected.`);
  say('  Sync settings: none set by hand; the tax rates and the sales account were matched from the organisation (see the settings).');
  // Let the connector push them (it gathers events for a moment, then sends them as one batch).
  for (let i = 0; i < 100; i++) {
    const q = store.jobs.countByState(memberId);
    if (q.pending + q.running === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const queue = store.jobs.countByState(memberId);
  const inXero = xero.invoices(tenant.tenantId).filter((i) => String(i.Reference ?? '').length > 0).length;
  const quotesInXero = xero.quotes(tenant.tenantId).filter((q) => String(q.Reference ?? '').length > 0).length;
  say(`  After connecting, two invoices (15 % GST and no VAT), an estimate and a classic invoice for Ridgeway University (NZD) were created;`);
  say(`  ${inXero} invoice(s) reached Xero as drafts, and ${quotesInXero} estimate(s) as a draft quote;`);
  say(`  ${queue.pending + queue.running} job(s) still waiting, ${queue.needs_attention} needing attention.`);
  say(`  The dashboard's charts and log start with ${history} entries of demo history over the last 30 days.`);
  say('');
  say(`Portal: ${b24.baseUrl}/portal?user=1`);
  say(`Portal (non-admin): ${b24.baseUrl}/portal?user=2`);
  say(`Xero: ${xero.baseUrl}`);
  say(`Connector: ${url}`);
  say('');
  say('Open the Portal URL in a browser (John Admin); the non-admin URL shows what Mary User sees. Invoice and');
  say('estimate cards with the Xero tab are linked at the top of the portal page. Press Ctrl+C to stop.');
  say('Demo ready.');
}

async function main(): Promise<void> {
  const running: Running = {};
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping the demo…`);
    const force = setTimeout(() => {
      process.stderr.write('The demo took longer than 10 s to stop; exiting anyway.\n');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    force.unref();
    stopAll(running).then(
      () => {
        say('Demo stopped.');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`Stopping the demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  try {
    await startDemo(running);
  } catch (err) {
    const known = err instanceof ConfigError || err instanceof StoreError || err instanceof DemoError;
    process.stderr.write(`The demo could not start.\n${known ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll(running).catch(() => undefined);
    process.exit(1);
  }
}

void main();
