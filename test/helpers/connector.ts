import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig, type Config } from '../../app/config.js';
import { createServer } from '../../app/server.js';
import type { Services } from '../../app/services.js';
import type { XeroLimits } from '../../app/xero/gateway.js';
import { openConfiguredStore, type Store } from '../../app/store/index.js';
import { createDatabase } from './postgres.js';
import { captureLogger } from './log-capture.js';
import { TEST_SECRET } from './store.js';
import { tempDir } from './tmp.js';

export interface TestConnector {
  url: string;
  config: Config;
  store: Store;
  services: Services;
  /** Every log line written by the connector during the test. */
  logLines: string[];
  close(): Promise<void>;
}

/**
 * Starts the connector in-process on a free port, with PUBLIC_URL set to that port (so Bitrix24 and Xero
 * emulators can call it back). `xero`/`b24` point it at the emulators.
 */
export async function startConnector(opts: {
  xero?: { baseUrl: string; clientId: string; clientSecret: string; webhookKey?: string };
  b24?: { baseUrl: string; clientId: string; clientSecret: string };
  env?: Record<string, string>;
  /** More environment, computed once the connector's URL is known (e.g. registering the app in Bitrix24). */
  envFor?: (url: string) => Record<string, string>;
  dataDir?: string;
  xeroLimits?: Partial<XeroLimits>;
} = {}): Promise<TestConnector> {
  const http: Server = createHttpServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const dataDir = opts.dataDir ?? tempDir();
  const config = parseConfig({
    DATA_DIR: dataDir,
    PUBLIC_URL: url,
    LOG_LEVEL: 'debug',
    // The emulators listen on plain http on loopback.
    ALLOW_INSECURE_LOOPBACK: '1',
    ...(opts.xero
      ? {
          XERO_CLIENT_ID: opts.xero.clientId,
          XERO_CLIENT_SECRET: opts.xero.clientSecret,
          XERO_API_URL: opts.xero.baseUrl,
          XERO_IDENTITY_URL: opts.xero.baseUrl,
          XERO_LOGIN_URL: opts.xero.baseUrl,
          ...(opts.xero.webhookKey ? { XERO_WEBHOOK_KEY: opts.xero.webhookKey } : {}),
        }
      : {}),
    ...(opts.b24 ? { B24_CLIENT_ID: opts.b24.clientId, B24_CLIENT_SECRET: opts.b24.clientSecret, B24_OAUTH_URL: opts.b24.baseUrl } : {}),
    ...opts.env,
    ...opts.envFor?.(url),
  });
  // TEST_STORE=postgres runs the connector of every in-process test on a fresh PostgreSQL database of its own; a
  // connector started again on the same DATA_DIR (a restart) finds the same database.
  const pgDatabase = process.env.TEST_STORE === 'postgres' && !config.databaseUrl ? await databaseFor(dataDir) : undefined;
  const store = await openConfiguredStore({ dataDir, databaseUrl: config.databaseUrl ?? pgDatabase?.url }, TEST_SECRET);
  const { logger, lines } = captureLogger('debug');
  const server = createServer({ config, store, logger, appSecret: TEST_SECRET, xeroLimits: opts.xeroLimits });
  http.on('request', server.app);
  return {
    url,
    config,
    store,
    services: server.services,
    logLines: lines,
    async close() {
      await server.services.outbox.stop(2000);
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await store.close();
    },
  };
}

const databases = new Map<string, Promise<{ url: string; drop(): Promise<void> }>>();

/** The PostgreSQL database standing for `dataDir` under TEST_STORE=postgres; all are dropped when the file ends. */
function databaseFor(dataDir: string): Promise<{ url: string; drop(): Promise<void> }> {
  let db = databases.get(dataDir);
  if (!db) {
    if (databases.size === 0) {
      let dropped = false;
      process.on('beforeExit', () => {
        if (dropped) return;
        dropped = true;
        void Promise.all([...databases.values()].map(async (d) => (await d).drop().catch(() => undefined)));
      });
    }
    databases.set(dataDir, (db = createDatabase()));
  }
  return db;
}
