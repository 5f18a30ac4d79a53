// The connector as its own process (as in production) installed in the Bitrix24 emulator and connected to the Xero
// emulator through its pages, for the crash campaign and the soak: start, SIGKILL, restart, read its store.
import { startBitrix24Emulator, type Bitrix24Emulator } from '../emulators/bitrix24/index.js';
import { startXeroEmulator, type XeroEmulator } from '../emulators/xero/index.js';
import { NZ_TAX_MAP } from '../helpers/env.js';
import { consentAndConfirm } from '../helpers/xero-consent.js';
import { freePort, spawnConnector, type RunningConnector } from '../helpers/process.js';
import { openStore, type Store } from '../../app/store/index.js';

const SECRET = 'process-bed-secret-0123456789-abcdefghijkl';
export const WEBHOOK_KEY = 'process-bed-webhook-key-0123456789-abcdef';

export interface ProcessBed {
  b24: Bitrix24Emulator;
  xero: XeroEmulator;
  tenantId: string;
  url: string;
  running: RunningConnector;
  /** SIGKILL now, then start again. */
  killAndRestart(): Promise<void>;
  /** Reads the connector's store (its own SQLite file) from this process. */
  /** Opens the store beside the running connector, runs `fn` on it, closes it. */
  withStore<T>(fn: (s: Store) => Promise<T> | T): Promise<T>;
  /** Calls one of the connector's page APIs as the portal admin (John Admin's page session). */
  api(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** True when /health shows no job pending or running. */
  idle(): Promise<boolean>;
  close(): Promise<void>;
}

export async function startProcessBed(dataDir: string, extraEnv: Record<string, string> = {}): Promise<ProcessBed> {
  const b24 = await startBitrix24Emulator();
  const xero = await startXeroEmulator({ webhookKey: WEBHOOK_KEY, specCheck: false });
  const tenantId = xero.addOrganisation({ name: 'Process Bed Ltd' });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = b24.registerApp({ handlerUrl: `${url}/app`, installUrl: `${url}/install` });
  const env = {
    PORT: String(port), PUBLIC_URL: url, DATA_DIR: dataDir, APP_SECRET: SECRET,
    B24_CLIENT_ID: app.clientId, B24_CLIENT_SECRET: app.clientSecret, B24_OAUTH_URL: b24.baseUrl,
    XERO_CLIENT_ID: xero.clientId, XERO_CLIENT_SECRET: xero.clientSecret, XERO_API_URL: xero.baseUrl,
    XERO_IDENTITY_URL: xero.baseUrl, XERO_LOGIN_URL: xero.baseUrl, XERO_WEBHOOK_KEY: WEBHOOK_KEY, LOG_LEVEL: 'info',
    POLL_INTERVAL_SECONDS: '30', ...extraEnv,
  };
  const bed: ProcessBed = {
    b24, xero, tenantId, url,
    running: await spawnConnector(env, 90_000),
    async killAndRestart() {
      bed.running.child.kill('SIGKILL');
      await bed.running.exited;
      bed.running = await spawnConnector(env, 90_000);
    },
    async withStore(fn) {
      const s = await openStore(dataDir, SECRET);
      try { return await fn(s); } finally { await s.close(); }
    },
    api(path, init = {}) {
      return fetch(`${url}${path}`, {
        method: init.method ?? 'POST',
        headers: { 'content-type': 'application/json', 'X-Connector-Session': session },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
    },
    async idle() {
      const h = (await (await fetch(`${url}/health`)).json()) as { queue: { pending: number; running: number } };
      return h.queue.pending + h.queue.running === 0;
    },
    async close() {
      bed.running.child.kill('SIGTERM');
      await bed.running.exited;
      await b24.close();
      await xero.close();
    },
  };
  let session = '';
  const installed = await b24.install({ userId: 1 });
  if (installed.status !== 200) throw new Error(`install failed: ${installed.status}`);
  b24.finishInstall();
  // The admin connects Xero and sets the accounts through the app page, as in the browser.
  const page = await fetch(`${url}/app`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(b24.frameAuth(1)) });
  session = /data-session="([^"]+)"/.exec(await page.text())![1]!;
  const { startUrl } = (await (await fetch(`${url}/api/xero/connect`, { method: 'POST', headers: { 'X-Connector-Session': session } })).json()) as { startUrl: string };
  await consentAndConfirm(url, startUrl);
  const saved = await fetch(`${url}/api/settings`, { method: 'PUT', headers: { 'content-type': 'application/json', 'X-Connector-Session': session }, body: JSON.stringify({ defaultSalesAccount: '200', taxRateMap: NZ_TAX_MAP }) });
  if (saved.status !== 200) throw new Error(`settings failed: ${saved.status}`);
  return bed;
}
